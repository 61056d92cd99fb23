"""Load the shared shop seed into the accounts database (truncate, then bulk load)."""

from shopdata.seed import load_customers
from shopdata.seed import reseed as load


def reseed(dsn: str) -> None:
    """Empty the customers table and load the deterministic seed, in one transaction."""
    load(dsn, ("customers",), [load_customers])
