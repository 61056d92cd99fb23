"""Catalogue queries: categories, search and one product (no stock: who owns stock differs)."""

from dataclasses import dataclass

from shop.money import CURRENCY


@dataclass(frozen=True)
class ProductRow:
    id: int
    sku: str
    name: str
    category: str
    description: str
    price_cents: int


def product_summary(p: ProductRow) -> dict:
    """The public API's ProductSummary for a product row."""
    return {"id": p.id, "sku": p.sku, "name": p.name, "category": p.category,
            "price_cents": p.price_cents, "currency": CURRENCY}


PRODUCT_COLUMNS = "p.id, p.sku, p.name, p.category, p.description, p.price_cents"


class CatalogQueries:
    """Categories and products over one psycopg2 cursor."""

    def __init__(self, cur):
        self.cur = cur

    def categories(self) -> list[tuple[str, str, int]]:
        """(slug, name, product count) in display order."""
        self.cur.execute(
            "SELECT c.slug, c.name, count(p.id) FROM categories c"
            " LEFT JOIN products p ON p.category = c.slug"
            " GROUP BY c.slug, c.name, c.position ORDER BY c.position")
        return self.cur.fetchall()

    def search(self, q: str | None, category: str | None, limit: int,
               offset: int) -> tuple[list[ProductRow], int]:
        """One page of products matching every word of `q` and the category, and the total:
        the best matches first when `q` is given (then by id, for a stable order), else by
        id."""
        source, where, params = "products p", [], []
        order = "p.id"
        if q:
            # The search vector weighs the category over the name over the description
            # (the schemas), so a search for "rack" lists racks before servers that go in
            # one; ts_rank's default weights are A 1.0, B 0.4, C 0.2, D 0.1.
            source += ", plainto_tsquery('english', %s) query"
            where.append("p.search @@ query")
            params.append(q)
            order = "ts_rank(p.search, query) DESC, p.id"
        if category:
            where.append("p.category = %s")
            params.append(category)
        clause = f"WHERE {' AND '.join(where)}" if where else ""
        # One round trip: the window count rides along with the page.
        self.cur.execute(
            f"SELECT {PRODUCT_COLUMNS}, count(*) OVER () FROM {source} {clause}"
            f" ORDER BY {order} LIMIT %s OFFSET %s", [*params, limit, offset])
        rows = self.cur.fetchall()
        if rows:
            return [ProductRow(*r[:6]) for r in rows], rows[0][6]
        if offset == 0:
            return [], 0
        self.cur.execute(f"SELECT count(*) FROM {source} {clause}", params)
        return [], self.cur.fetchone()[0]

    def get(self, product_id: int) -> ProductRow | None:
        """A product, or None."""
        self.cur.execute(f"SELECT {PRODUCT_COLUMNS} FROM products p WHERE p.id = %s",
                         (product_id,))
        row = self.cur.fetchone()
        return ProductRow(*row) if row else None

    def by_ids(self, product_ids: list[int]) -> list[ProductRow]:
        """The products with these ids that exist, by id."""
        self.cur.execute(f"SELECT {PRODUCT_COLUMNS} FROM products p WHERE p.id = ANY(%s)"
                         " ORDER BY p.id", (list(product_ids),))
        return [ProductRow(*r) for r in self.cur.fetchall()]
