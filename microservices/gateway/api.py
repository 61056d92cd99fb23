"""The gateway's public API views: parse, call one composition function, answer."""

from flask import Blueprint, current_app, url_for

from plumbing.http import (
    current_customer,
    idempotency_key,
    json_body,
    login_body,
    page_args,
    require_admin,
    str_arg,
)

from . import composition

bp = Blueprint("api", __name__, url_prefix="/api")
admin_bp = Blueprint("admin", __name__, url_prefix="/api/admin")


@bp.post("/auth/login")
def login():
    return composition.login(*login_body())


@bp.get("/categories")
def categories():
    return composition.categories()


@bp.get("/products")
def products():
    page, per_page = page_args()
    return composition.search(str_arg("q", 100), str_arg("category", 40), page, per_page)


@bp.get("/products/<int:product_id>")
def product(product_id: int):
    return composition.product(product_id)


def _customer() -> int:
    """The customer of the request's bearer token, verified here; 401 otherwise."""
    return current_customer(current_app.extensions["archlab"]["customer_key"])


@bp.post("/orders")
def create_order():
    customer_id = _customer()
    reply = composition.checkout(customer_id, idempotency_key(), json_body())
    headers = {name: reply.headers[name] for name in ("Idempotent-Replayed", "Retry-After")
               if name in reply.headers}
    if reply.status == 201:
        headers["Location"] = url_for("api.order", order_id=reply.body["id"])
    return reply.body, reply.status, headers


@bp.get("/orders")
def list_orders():
    customer_id = _customer()
    page, per_page = page_args()
    return composition.orders(customer_id, page, per_page)


@bp.get("/orders/<int:order_id>")
def order(order_id: int):
    return composition.order(_customer(), order_id)


@bp.get("/orders/<int:order_id>/invoice")
def invoice(order_id: int):
    return composition.invoice(_customer(), order_id)


@bp.post("/orders/<int:order_id>/invoice/email")
def email_invoice(order_id: int):
    return composition.email_invoice(_customer(), order_id), 202


@bp.get("/account/emails")
def emails():
    customer_id = _customer()
    page, per_page = page_args()
    return composition.emails(customer_id, page, per_page)


@admin_bp.before_request
def _admin_only():
    require_admin(current_app.config["ADMIN_TOKEN"],
                  current_app.extensions["archlab"]["customer_key"])


@admin_bp.get("/audit")
def audit():
    return composition.audit()


@admin_bp.put("/products/<int:product_id>/stock")
def set_stock(product_id: int):
    return composition.set_stock(product_id, json_body())
