"""Admin views behind the stack's admin token."""

from flask import Blueprint, current_app, g

from monolith.services import admin
from plumbing.http import json_body, require_admin

bp = Blueprint("admin", __name__, url_prefix="/api/admin")


@bp.before_request
def _admin_only():
    require_admin(current_app.config["ADMIN_TOKEN"], current_app.config["SECRET_KEY"])


@bp.get("/audit")
def audit():
    return admin.audit_figures(g.reader(), g.processor())


@bp.put("/products/<int:product_id>/stock")
def set_stock(product_id: int):
    return admin.set_stock(g.uow(), product_id, json_body())
