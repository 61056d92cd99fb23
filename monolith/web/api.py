"""The public API's views: parse the request, call one service, answer.

Domain errors become contract errors in plumbing.errors; nothing here knows SQL.
"""

import datetime
import logging

from flask import Blueprint, current_app, g, request, url_for

from monolith.services import accounts, catalog, checkout, invoicing, orders
from plumbing import http
from plumbing.errors import ApiError
from plumbing.http import int_arg, json_body, login_body, str_arg

bp = Blueprint("api", __name__, url_prefix="/api")
log = logging.getLogger("monolith.api")

KEY_CHARS = frozenset(chr(c) for c in range(0x21, 0x7F))


def current_customer() -> int:
    """The customer id of the request's bearer token; 401 otherwise."""
    return http.current_customer(current_app.config["SECRET_KEY"])


@bp.post("/auth/login")
def login():
    email, password = login_body()
    return accounts.login(g.reader(), email, password, current_app.config["SECRET_KEY"])


@bp.get("/categories")
def categories():
    return catalog.list_categories(g.reader())


@bp.get("/products")
def products():
    page = int_arg("page", 1, 1, 10_000)
    per_page = int_arg("per_page", 20, 1, 100)
    return catalog.search_products(g.reader(), str_arg("q", 100), str_arg("category", 40),
                                   page, per_page)


@bp.get("/products/<int:product_id>")
def product(product_id: int):
    return catalog.get_product(g.reader(), product_id)


@bp.post("/orders")
def create_order():
    customer_id = current_customer()
    result = purchase(customer_id, idempotency_key(), json_body())
    headers = {"Idempotent-Replayed": "true"} if result.replayed else {}
    if result.status == 201:
        headers["Location"] = url_for("api.order", order_id=result.body["id"])
    return result.body, result.status, headers


def purchase(customer_id: int, key: str, body) -> checkout.CheckoutResult:
    """Check out, then deliver the invoice (best effort) - for the API and the pages."""
    try:
        result = checkout.checkout(g.uow(), customer_id, key, body,
                                   today=datetime.date.today())
    except checkout.InProgress:
        raise ApiError("in_progress", "a request with this Idempotency-Key is still "
                       "running; retry shortly") from None
    except checkout.KeyMismatch:
        raise ApiError("idempotency_key_mismatch", "this Idempotency-Key was used for "
                       "a different request") from None
    if result.status == 201 and not result.replayed:
        deliver_invoice(result.body["id"])
    return result


def idempotency_key() -> str:
    """The request's Idempotency-Key header (1-200 printable ASCII characters)."""
    key = request.headers.get("Idempotency-Key")
    if key is None:
        raise ApiError("idempotency_key_required", "the Idempotency-Key header is required",
                       {"field": "Idempotency-Key"})
    if not 1 <= len(key) <= 200 or not set(key) <= KEY_CHARS:
        raise ApiError("validation_error", "the Idempotency-Key must be 1-200 printable "
                       "ASCII characters", {"field": "Idempotency-Key"})
    return key


def deliver_invoice(order_id: int) -> None:
    """Best effort right after the purchase; the worker retries whatever stays pending."""
    ext = current_app.extensions["archlab"]
    try:
        invoicing.deliver(g.uow(), ext["printer"], ext["mailer"], order_id)
    except Exception:  # the purchase already committed: never fail it over an invoice
        log.exception("invoice delivery for order %s failed; the worker will retry", order_id)


@bp.get("/orders")
def list_orders():
    customer_id = current_customer()
    page = int_arg("page", 1, 1, 10_000)
    per_page = int_arg("per_page", 20, 1, 100)
    return orders.list_orders(g.reader(), customer_id, page, per_page)


@bp.get("/orders/<int:order_id>")
def order(order_id: int):
    return orders.get_order(g.reader(), current_customer(), order_id)


@bp.get("/orders/<int:order_id>/invoice")
def invoice(order_id: int):
    return invoicing.get_invoice(g.reader(), current_customer(), order_id)


@bp.post("/orders/<int:order_id>/invoice/email")
def email_invoice(order_id: int):
    mailer = current_app.extensions["archlab"]["mailer"]
    return invoicing.email_invoice(g.uow(), mailer, current_customer(), order_id), 202
