"""Load the shared shop seed into the monolith's database (truncate, then bulk load).

`python -m monolith.data.seed [--schema] [--restock MIN]` runs it on DATABASE_URL
(plumbing.seedcli).
"""

from functools import partial
from pathlib import Path

from plumbing.seedcli import main
from shopdata.seed import load_catalogue, load_customers, load_stock, restock
from shopdata.seed import reseed as load

TABLES = ("mailbox", "print_spool", "invoices", "idempotency_keys", "charge_attempts",
          "payments", "order_lines", "orders", "stock", "customers", "products", "categories")


def reseed(dsn: str) -> None:
    """Empty every table and load the deterministic seed, in one transaction."""
    load(dsn, TABLES, [load_catalogue, partial(load_stock, with_reserved=False), load_customers])


if __name__ == "__main__":
    raise SystemExit(main(name="monolith", schema=Path(__file__).with_name("schema.sql"),
                          reseed=reseed, restock=restock))
