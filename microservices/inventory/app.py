"""The inventory service's application factory."""

from flask import Flask

from microservices.common.app import create_service_app

from . import api

NAME = "inventory"
# Services whose service tokens may call this one: the gateway reads stock and held
# reservations (the audit); orders drives the checkout saga's reservations.
ALLOWED_CALLERS = frozenset({"gateway", "orders"})


def create_app(config: dict | None = None) -> Flask:
    """Build the inventory service's Flask app."""
    app = create_service_app(NAME, {"ALLOWED_CALLERS": ALLOWED_CALLERS, "NEEDS_DATABASE": True,
                                    **(config or {})})
    app.register_blueprint(api.bp)
    return app
