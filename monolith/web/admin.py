"""Admin views behind the stack's admin token."""

from flask import Blueprint, current_app, g

from monolith.services import accounts, admin
from plumbing.http import json_body, require_admin
from shop.errors import InvalidToken

bp = Blueprint("admin", __name__, url_prefix="/api/admin")


def _is_customer_token(token: str) -> bool:
    try:
        accounts.customer_id_from_token(token, current_app.config["SECRET_KEY"])
        return True
    except InvalidToken:
        return False


@bp.before_request
def _admin_only():
    require_admin(current_app.config["ADMIN_TOKEN"], _is_customer_token)


@bp.get("/audit")
def audit():
    return admin.audit_figures(g.reader())


@bp.put("/products/<int:product_id>/stock")
def set_stock(product_id: int):
    return admin.set_stock(g.uow(), product_id, json_body())
