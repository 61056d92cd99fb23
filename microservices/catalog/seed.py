"""Load the shared shop seed into the catalog's database (truncate, then bulk load)."""

from shopdata.seed import load_catalogue
from shopdata.seed import reseed as load


def reseed(dsn: str) -> None:
    """Empty the catalog and load the deterministic seed, in one transaction."""
    load(dsn, ("products", "categories"), [load_catalogue])
