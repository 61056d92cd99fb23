"""Catalogue: search, categories, one product with its stock."""

from shop.catalog import CATEGORIES
from shop.errors import NotFound
from shopdata.catalog import product_summary

_CATEGORY_SLUGS = {slug for slug, _ in CATEGORIES}


def stock_view(available: int | None) -> dict:
    """The API's Stock: units, and a status that stays meaningful when units are unknown."""
    if available is None:
        return {"available": None, "status": "unknown"}
    return {"available": available, "status": "in_stock" if available > 0 else "out_of_stock"}


def list_categories(uow) -> dict:
    """Every category with its product count."""
    with uow:
        rows = uow.products.categories()
    return {"items": [{"slug": s, "name": n, "product_count": c} for s, n, c in rows]}


def search_products(uow, q: str | None, category: str | None, page: int, per_page: int) -> dict:
    """One page of products matching `q` (every word) in `category`."""
    q = (q or "").strip() or None
    category = (category or "").strip() or None
    if category is not None and category not in _CATEGORY_SLUGS:
        # An unknown category is an empty result, not an error: links may be stale.
        return {"items": [], "page": page, "per_page": per_page, "total": 0}
    with uow:
        rows, total = uow.products.search(q, category, per_page, (page - 1) * per_page)
    return {"items": [product_summary(p) for p in rows], "page": page,
            "per_page": per_page, "total": total}


def get_product(uow, product_id: int) -> dict:
    """A product with its available stock."""
    with uow:
        found = uow.products.get_with_stock(product_id)
    if found is None:
        raise NotFound(f"product {product_id} does not exist")
    p, available = found
    return product_summary(p) | {"description": p.description, "stock": stock_view(available)}
