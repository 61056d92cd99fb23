"""The inventory service's internal API: read and set stock, every level for the audit,
and the checkout saga's reservations (reserve, commit, release), idempotent by order id."""

from flask import Blueprint

from microservices.common.app import cursor, pool
from plumbing.errors import ApiError
from plumbing.http import json_body
from plumbing.testhooks import fault_point
from shop.numbers import whole_number
from shop.orders import OrderLine, parse_items

from .repository import Reservation, Reservations, StockRepository

bp = Blueprint("inventory", __name__, url_prefix="/internal")

MAX_AVAILABLE = 100_000_000
# product_id is an integer column, order_id a bigint one.
MAX_PRODUCT_ID = 2**31 - 1
MAX_ORDER_ID = 2**63 - 1


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


# --- reservations ------------------------------------------------------------------------

def reservation_body(reservation: Reservation) -> dict:
    """The public Reservation."""
    return {"order_id": reservation.order_id, "status": reservation.status,
            "items": [{"product_id": line.product_id, "quantity": line.quantity}
                      for line in reservation.lines],
            "short_product_ids": list(reservation.short_product_ids)}


def requested_lines(body) -> list[OrderLine]:
    """The lines of a ReservationRequest body ({"items": [...]}), by product id, by the
    checkout's rules for order lines; 422 with details.field otherwise."""
    if not isinstance(body, dict):
        raise ApiError("validation_error", "the body must be a JSON object", {"field": "body"})
    extra = sorted(str(name) for name in body.keys() - {"items"})
    if extra:
        raise ApiError("validation_error", f"unknown field '{extra[0]}'", {"field": extra[0]})
    lines = parse_items(body.get("items"))
    for index, raw in enumerate(body["items"]):
        if whole_number(raw["product_id"]) > MAX_PRODUCT_ID:
            raise ApiError("validation_error",
                           f"items[{index}].product_id must be at most {MAX_PRODUCT_ID}",
                           {"field": f"items[{index}].product_id"})
    return lines


def _not_found(order_id: int) -> ApiError:
    return ApiError("not_found", f"order {order_id} has no reservation")


def _check_order_id(order_id: int) -> None:
    # Checked here rather than by the route's converter (int(min=, max=)): werkzeug would
    # answer a POST to an out-of-range id 405, having matched the GET rule beside it.
    if not 1 <= order_id <= MAX_ORDER_ID:
        raise _not_found(order_id)


@bp.get("/reservations")
def held_reservations():
    """Every reservation still holding stock (its order undecided), by order id (for the
    audit)."""
    held = Reservations(pool()).held()
    return {"items": [{"order_id": order_id, "units": units} for order_id, units in held]}


@bp.get("/reservations/<int:order_id>")
def reservation(order_id: int):
    """One order's reservation."""
    _check_order_id(order_id)
    found = Reservations(pool()).get(order_id)
    if found is None:
        raise _not_found(order_id)
    return reservation_body(found)


@bp.post("/reservations/<int:order_id>")
def reserve(order_id: int):
    """Hold stock for the order's lines, all or none: 'reserved', or 'out_of_stock' naming
    the short products. A replay answers the reservation as it is."""
    _check_order_id(order_id)
    lines = requested_lines(json_body())
    fault_point("inventory.reserve:before")
    held = Reservations(pool()).reserve(order_id, lines)
    fault_point("inventory.reserve:after")
    return reservation_body(held)


@bp.post("/reservations/<int:order_id>/commit")
def commit(order_id: int):
    """Turn the order's held stock into sold stock (a body, if any, is ignored)."""
    _check_order_id(order_id)
    fault_point("inventory.commit:before")
    found = Reservations(pool()).commit(order_id)
    if found is None:
        raise _not_found(order_id)
    fault_point("inventory.commit:after")
    return reservation_body(found)


@bp.post("/reservations/<int:order_id>/release")
def release(order_id: int):
    """Give the order's held stock back, or leave a tombstone so that a reserve still in
    flight holds nothing (a body, if any, is ignored)."""
    _check_order_id(order_id)
    return reservation_body(Reservations(pool()).release(order_id))
