"""Load the shared shop seed's stock into the inventory database (truncate, then bulk load).

`python -m microservices.inventory.seed [--schema] [--restock MIN]` runs it on DATABASE_URL
(plumbing.seedcli).
"""

from functools import partial
from pathlib import Path

from plumbing.seedcli import main
from shopdata.seed import load_stock, restock
from shopdata.seed import reseed as load

# One TRUNCATE of all three: reservation_lines references reservations, and PostgreSQL
# truncates a referenced table only together with the tables referencing it.
TABLES = ("reservation_lines", "reservations", "stock")


def reseed(dsn: str) -> None:
    """Empty the stock and reservation tables and load every product's initial stock, in
    one transaction: no reservation outlives the stock it held."""
    load(dsn, TABLES, [partial(load_stock, with_reserved=True)])


if __name__ == "__main__":
    raise SystemExit(main(name="inventory", schema=Path(__file__).with_name("schema.sql"),
                          reseed=reseed, restock=restock))
