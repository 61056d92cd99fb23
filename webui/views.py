"""The shop's pages as one Flask blueprint, bound to whichever backend the app plugs in.

    app.register_blueprint(create_blueprint(SomeBackend()))
    errors.install(app, html_renderer=render_error)

No page knows which architecture serves it; everything goes through the backend.
"""

from flask import Blueprint, send_from_directory

from . import csrf, headers, rendering
from .backend import ShopBackend
from .rendering import render_error
from .routes import account, basket, catalogue, checkout, emails, orders
from .sessions import PageSessions

__all__ = ["create_blueprint", "render_error"]


def create_blueprint(backend: ShopBackend) -> Blueprint:
    """The pages' blueprint (no URL prefix; the API lives under /api) over `backend`."""
    bp = Blueprint("shop", __name__, template_folder="templates", static_folder="static",
                   static_url_path="/static/shop")
    bp.record_once(lambda state: setattr(state.app, "session_interface", PageSessions()))
    bp.before_request(csrf.protect)
    # App-wide: the API's answers and the error pages for unknown URLs carry them too.
    bp.after_app_request(headers.add_security_headers)
    # App-wide, because error pages for unknown URLs are rendered outside the blueprint.
    bp.app_context_processor(rendering.layout)
    for name in ("eur", "gross", "when", "category_label"):
        bp.add_app_template_filter(getattr(rendering, name), name)
    for feature in (catalogue, basket, account, checkout, orders, emails):
        feature.register(bp, backend)

    @bp.get("/favicon.ico")
    def favicon():
        # Browsers ask for /favicon.ico whatever a page links: answer with the same icon.
        return send_from_directory(bp.static_folder, "favicon.svg",
                                   mimetype="image/svg+xml", max_age=86400)

    return bp
