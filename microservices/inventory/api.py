"""The inventory service's internal API: read and set stock, and every level for the audit."""

from flask import Blueprint

from microservices.common.app import cursor
from plumbing.errors import ApiError
from plumbing.http import json_body
from shop.numbers import whole_number

from .repository import StockRepository

bp = Blueprint("inventory", __name__, url_prefix="/internal")

MAX_AVAILABLE = 100_000_000


def stock_level(row) -> dict:
    """The public StockLevel for a stock row."""
    product_id, initial, available, reserved, sold = row
    return {"product_id": product_id, "initial": initial, "available": available,
            "reserved": reserved, "sold": sold}


@bp.get("/stock")
def levels():
    """Every product's stock figures, by product id (for the audit)."""
    with cursor() as cur:
        rows = StockRepository(cur).levels()
    return {"items": [stock_level(r) for r in rows]}


@bp.get("/stock/<int:product_id>")
def stock(product_id: int):
    """One product's stock figures."""
    with cursor() as cur:
        row = StockRepository(cur).get(product_id)
    if row is None:
        raise ApiError("not_found", f"product {product_id} does not exist")
    return stock_level(row)


@bp.put("/stock/<int:product_id>")
def set_stock(product_id: int):
    """Set a product's available units (restock or write-off)."""
    available = requested_available(json_body())
    # One UPDATE statement: atomic on its own, no transaction needed.
    with cursor() as cur:
        row = StockRepository(cur).set_available(product_id, available)
    if row is None:
        raise ApiError("not_found", f"product {product_id} does not exist")
    return stock_level(row)


def requested_available(body) -> int:
    """The units of a {"available": n} body, by the monolith's rules; 422 otherwise."""
    available = whole_number(body.get("available")) if isinstance(body, dict) else None
    if (not isinstance(body, dict) or set(body) != {"available"} or available is None
            or not 0 <= available <= MAX_AVAILABLE):
        raise ApiError("validation_error",
                       "the body must be {\"available\": an integer 0..100000000}",
                       {"field": "available"})
    return available
