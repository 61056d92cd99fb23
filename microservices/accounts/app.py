"""The accounts service's application factory."""

from flask import Flask

from microservices.common.app import create_service_app

from . import api

NAME = "accounts"
# Services whose service tokens may call this one.
ALLOWED_CALLERS = frozenset({"gateway", "invoices"})


def create_app(config: dict | None = None) -> Flask:
    """Build the accounts service's Flask app."""
    app = create_service_app(NAME, {"ALLOWED_CALLERS": ALLOWED_CALLERS, "NEEDS_DATABASE": True,
                                    **(config or {})})
    app.register_blueprint(api.bp)
    return app
