"""Load the shared shop seed's stock into the inventory database (truncate, then bulk load)."""

from functools import partial

from shopdata.seed import load_stock
from shopdata.seed import reseed as load


def reseed(dsn: str) -> None:
    """Empty the stock table and load every product's initial stock, in one transaction."""
    load(dsn, ("stock",), [partial(load_stock, with_reserved=True)])
