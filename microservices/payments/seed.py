"""Empty the payments database: a run starts with no payments (there is no seed to load)."""

from shopdata.seed import reseed as load


def reseed(dsn: str) -> None:
    """Empty the payments table, in one transaction."""
    load(dsn, ("payments",), [])
