"""Empty the invoices database: a run starts with no invoices (there is no seed to load)."""

from shopdata.seed import reseed as load


def reseed(dsn: str) -> None:
    """Empty the print spool and the invoices, in one transaction."""
    load(dsn, ("print_spool", "invoices"), [])
