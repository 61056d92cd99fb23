"""The notifications service's application factory."""

from flask import Flask

from microservices.common.app import create_service_app

from . import api

NAME = "notifications"
# Services whose service tokens may call this one: invoices e-mails invoices (when
# printing fails, and copies on request); the gateway lists a customer's e-mails and
# reads the audit.
ALLOWED_CALLERS = frozenset({"invoices", "gateway"})


def create_app(config: dict | None = None) -> Flask:
    """Build the notifications service's Flask app."""
    app = create_service_app(NAME, {"ALLOWED_CALLERS": ALLOWED_CALLERS, "NEEDS_DATABASE": True,
                                    **(config or {})})
    app.register_blueprint(api.bp)
    return app
