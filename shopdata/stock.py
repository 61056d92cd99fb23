"""Stock reads as each architecture stores stock: the monolith keeps it beside the
products in its one database, the inventory service alone in its own (with a `reserved`
figure for the checkout saga).

One copy of these reads serves the architectures and their floors (archlab/floors/apps),
so a floor runs exactly the SQL its architecture runs.
"""

from .catalog import PRODUCT_COLUMNS, ProductRow

# The inventory service's stock row: initial = available + reserved + sold.
INVENTORY_STOCK_COLUMNS = "product_id, initial, available, reserved, sold"


class StockQueries:
    """Stock reads over one psycopg2 cursor."""

    def __init__(self, cur):
        self.cur = cur

    def product_with_stock(self, product_id: int) -> tuple[ProductRow, int] | None:
        """A product and its available units, or None (products and stock in one
        database: the monolith's)."""
        self.cur.execute(
            f"SELECT {PRODUCT_COLUMNS}, s.available FROM products p"
            " JOIN stock s ON s.product_id = p.id WHERE p.id = %s", (product_id,))
        row = self.cur.fetchone()
        return (ProductRow(*row[:6]), row[6]) if row else None

    def inventory_row(self, product_id: int) -> tuple[int, int, int, int, int] | None:
        """One product's stock row in the inventory service's database
        (product_id, initial, available, reserved, sold), or None."""
        self.cur.execute(f"SELECT {INVENTORY_STOCK_COLUMNS} FROM stock WHERE product_id = %s",
                         (product_id,))
        return self.cur.fetchone()
