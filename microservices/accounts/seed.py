"""Load the shared shop seed into the accounts database (truncate, then bulk load).

`python -m microservices.accounts.seed [--schema]` runs it on DATABASE_URL
(plumbing.seedcli).
"""

from pathlib import Path

from plumbing.seedcli import main
from shopdata.seed import load_customers
from shopdata.seed import reseed as load


def reseed(dsn: str) -> None:
    """Empty the customers table and load the deterministic seed, in one transaction."""
    load(dsn, ("customers",), [load_customers])


if __name__ == "__main__":
    raise SystemExit(main(name="accounts", schema=Path(__file__).with_name("schema.sql"),
                          reseed=reseed))
