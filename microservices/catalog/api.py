"""The catalog's internal API: the same answers as the monolith's catalogue views."""

from flask import Blueprint

from microservices.common.app import cursor
from plumbing.errors import ApiError
from plumbing.http import json_body, page_args, str_arg
from shop.catalog import CATEGORIES
from shop.numbers import whole_number
from shopdata.catalog import CatalogQueries, product_summary

bp = Blueprint("catalog", __name__, url_prefix="/internal")

_CATEGORY_SLUGS = {slug for slug, _ in CATEGORIES}
# An order holds at most 50 lines (shop.orders.MAX_LINES); a little room above that.
MAX_LOOKUP_IDS = 100


@bp.get("/categories")
def categories():
    """Every category with its product count, in display order."""
    with cursor() as cur:
        rows = CatalogQueries(cur).categories()
    return {"items": [{"slug": s, "name": n, "product_count": c} for s, n, c in rows]}


@bp.get("/products")
def products():
    """One page of products matching `q` (every word) in `category`."""
    page, per_page = page_args()
    q = (str_arg("q", 100) or "").strip() or None
    category = (str_arg("category", 40) or "").strip() or None
    if category is not None and category not in _CATEGORY_SLUGS:
        # An unknown category is an empty result, not an error: links may be stale.
        return {"items": [], "page": page, "per_page": per_page, "total": 0}
    with cursor() as cur:
        rows, total = CatalogQueries(cur).search(q, category, per_page,
                                                    (page - 1) * per_page)
    return {"items": [product_summary(p) for p in rows], "page": page,
            "per_page": per_page, "total": total}


@bp.get("/products/<int:product_id>")
def product(product_id: int):
    """One product, without stock."""
    with cursor() as cur:
        p = CatalogQueries(cur).get(product_id)
    if p is None:
        raise ApiError("not_found", f"product {product_id} does not exist")
    return product_summary(p) | {"description": p.description}


@bp.post("/products/lookup")
def lookup():
    """The products with the given ids (for pricing an order); unknown ids are left out."""
    body = json_body()
    raw = body.get("ids") if isinstance(body, dict) and set(body) == {"ids"} else None
    ids = [whole_number(i) for i in raw] if isinstance(raw, list) else None
    if ids is None or not 1 <= len(ids) <= MAX_LOOKUP_IDS or any(
            i is None or not 1 <= i <= 2**31 - 1 for i in ids):
        raise ApiError("validation_error", "the body must be {\"ids\": [1 to 100 product ids]}",
                       {"field": "ids"})
    with cursor() as cur:
        rows = CatalogQueries(cur).by_ids(ids)
    return {"items": [product_summary(p) for p in rows]}
