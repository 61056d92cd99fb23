"""The gateway's application factory: no database of its own, the public API, the pages."""

import os

from flask import Flask

from microservices.common.app import create_service_app
from webui.views import create_blueprint, render_error

from . import api
from .ui_backend import HttpBackend


def create_app(config: dict | None = None) -> Flask:
    """Build the gateway's Flask app."""
    settings = {"ADMIN_TOKEN": os.environ.get("ARCHLAB_ADMIN_TOKEN", ""), "DATABASE_URL": "",
                "HTML_ERROR_RENDERER": render_error}
    settings.update(config or {})
    app = create_service_app("gateway", settings)
    if not app.config["ADMIN_TOKEN"]:
        raise RuntimeError("the gateway needs ARCHLAB_ADMIN_TOKEN (see `archlab up`)")
    # The pages keep the cart and the login in a session cookie signed with SECRET_KEY;
    # SameSite keeps other sites' forms from riding on it (on top of the CSRF token).
    app.config["SESSION_COOKIE_SAMESITE"] = "Lax"
    app.register_blueprint(api.bp)
    app.register_blueprint(api.admin_bp)
    app.register_blueprint(create_blueprint(HttpBackend()))
    return app
