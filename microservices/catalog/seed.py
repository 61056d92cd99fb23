"""Load the shared shop seed into the catalog's database (truncate, then bulk load).

`python -m microservices.catalog.seed [--schema]` runs it on DATABASE_URL
(plumbing.seedcli).
"""

from pathlib import Path

from plumbing.seedcli import main
from shopdata.seed import load_catalogue
from shopdata.seed import reseed as load


def reseed(dsn: str) -> None:
    """Empty the catalog and load the deterministic seed, in one transaction."""
    load(dsn, ("products", "categories"), [load_catalogue])


if __name__ == "__main__":
    raise SystemExit(main(name="catalog", schema=Path(__file__).with_name("schema.sql"),
                          reseed=reseed))
