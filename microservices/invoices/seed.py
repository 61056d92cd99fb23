"""Empty the invoices database: a run starts with no invoices (there is no seed to load).

`python -m microservices.invoices.seed [--schema]` runs it on DATABASE_URL
(plumbing.seedcli).
"""

from pathlib import Path

from plumbing.seedcli import main
from shopdata.seed import reseed as load


def reseed(dsn: str) -> None:
    """Empty the print spool and the invoices, in one transaction."""
    load(dsn, ("print_spool", "invoices"), [])


if __name__ == "__main__":
    raise SystemExit(main(name="invoices", schema=Path(__file__).with_name("schema.sql"),
                          reseed=reseed))
