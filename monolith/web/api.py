"""The public API's views: parse the request, call one service, answer.

Domain errors become contract errors in plumbing.errors; nothing here knows SQL.
"""


from flask import Blueprint, current_app, g, url_for

from monolith.services import accounts, catalog, emails, invoicing, orders
from plumbing import http
from plumbing.http import idempotency_key, json_body, login_body, page_args, str_arg

from .purchase import purchase

bp = Blueprint("api", __name__, url_prefix="/api")


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
    page, per_page = page_args()
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


@bp.get("/orders")
def list_orders():
    customer_id = current_customer()
    page, per_page = page_args()
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


@bp.get("/account/emails")
def list_emails():
    """The e-mails the shop sent the customer, newest first."""
    customer_id = current_customer()
    page, per_page = page_args()
    return emails.list_emails(g.reader(), customer_id, page, per_page)
