"""The gateway's public API views: parse, call one composition function, answer."""

from flask import Blueprint, current_app

from plumbing.http import int_arg, json_body, login_body, require_admin, str_arg

from . import compose

bp = Blueprint("api", __name__, url_prefix="/api")
admin_bp = Blueprint("admin", __name__, url_prefix="/api/admin")


@bp.post("/auth/login")
def login():
    return compose.login(*login_body())


@bp.get("/categories")
def categories():
    return compose.categories()


@bp.get("/products")
def products():
    page = int_arg("page", 1, 1, 10_000)
    per_page = int_arg("per_page", 20, 1, 100)
    return compose.search(str_arg("q", 100), str_arg("category", 40), page, per_page)


@bp.get("/products/<int:product_id>")
def product(product_id: int):
    return compose.product(product_id)


@admin_bp.before_request
def _admin_only():
    require_admin(current_app.config["ADMIN_TOKEN"],
                  current_app.extensions["archlab"]["customer_key"])


@admin_bp.get("/audit")
def audit():
    return compose.audit()


@admin_bp.put("/products/<int:product_id>/stock")
def set_stock(product_id: int):
    return compose.set_stock(product_id, json_body())
