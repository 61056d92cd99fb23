"""The invoices service's application factory.

Besides the common service settings, the stack's INVOICE_PRINTER ("spool", the default,
or "offline"), from the environment unless the config passed to create_app names it
(tests do), and the upstreams' ACCOUNTS_URL and NOTIFICATIONS_URL.
"""

from flask import Flask

from microservices.common.app import create_service_app

from . import api
from .delivery import printer_from_env, printer_setting

NAME = "invoices"
# Services whose service tokens may call this one: orders' outbox relay posts the "order
# paid" events, the gateway reads invoices, has copies e-mailed and reads the audit.
ALLOWED_CALLERS = frozenset({"orders", "gateway"})


def create_app(config: dict | None = None) -> Flask:
    """Build the invoices service's Flask app."""
    app = create_service_app(NAME, {"ALLOWED_CALLERS": ALLOWED_CALLERS, "NEEDS_DATABASE": True,
                                    **(config or {})})
    # Checked here, so a mistyped setting stops the start-up rather than a delivery.
    printer = app.config.get(api.PRINTER_CONFIG)
    app.config[api.PRINTER_CONFIG] = printer_setting(printer) if printer else printer_from_env()
    app.register_blueprint(api.bp)
    return app
