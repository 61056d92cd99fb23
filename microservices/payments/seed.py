"""Empty the payments database: a run starts with no payments (there is no seed to load).

`python -m microservices.payments.seed [--schema]` runs it on DATABASE_URL
(plumbing.seedcli).
"""

from pathlib import Path

from plumbing.seedcli import main
from shopdata.seed import reseed as load


def reseed(dsn: str) -> None:
    """Empty the payments table, in one transaction."""
    load(dsn, ("payments",), [])


if __name__ == "__main__":
    raise SystemExit(main(name="payments", schema=Path(__file__).with_name("schema.sql"),
                          reseed=reseed))
