"""Empty the orders database (the shop's data reset: orders start from none).

`python -m microservices.orders.seed [--schema]` runs it on DATABASE_URL
(plumbing.seedcli).
"""

from pathlib import Path

from plumbing.seedcli import main
from shopdata.seed import reseed as load


def reseed(dsn: str) -> None:
    """Empty the orders, their lines and the outbox, in one transaction.

    Order ids are NOT restarted: inventory and payments keep tombstones by order id,
    and a recovery still finishing an order from before the reset may leave one more;
    an id used again would find it and be refused.
    """
    load(dsn, ("outbox", "order_lines", "orders"), [], restart_ids=False)


if __name__ == "__main__":
    raise SystemExit(main(name="orders", schema=Path(__file__).with_name("schema.sql"),
                          reseed=reseed))
