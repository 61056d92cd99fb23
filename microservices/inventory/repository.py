"""The inventory service's SQL: stock levels."""

_COLUMNS = "product_id, initial, available, reserved, sold"


class StockRepository:
    """Stock rows, over one cursor; each row is (product_id, initial, available, reserved,
    sold)."""

    def __init__(self, cur):
        self.cur = cur

    def get(self, product_id: int) -> tuple[int, int, int, int, int] | None:
        """One product's stock row, or None."""
        self.cur.execute(f"SELECT {_COLUMNS} FROM stock WHERE product_id = %s", (product_id,))
        return self.cur.fetchone()

    def set_available(self, product_id: int, available: int
                      ) -> tuple[int, int, int, int, int] | None:
        """Set available units; `initial` moves by the same amount (a restock or a
        write-off), so the invariant keeps holding. The row after, or None."""
        self.cur.execute(
            "UPDATE stock SET initial = initial + (%s - available), available = %s"
            f" WHERE product_id = %s RETURNING {_COLUMNS}",
            (available, available, product_id))
        return self.cur.fetchone()

    def levels(self) -> list[tuple[int, int, int, int, int]]:
        """Every product's stock row, by product id."""
        self.cur.execute(f"SELECT {_COLUMNS} FROM stock ORDER BY product_id")
        return self.cur.fetchall()
