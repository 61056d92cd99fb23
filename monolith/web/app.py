"""The monolith's application factory: config, one pool, blueprints, JSON errors."""

import logging
import os
import threading
from collections.abc import Callable

from flask import Flask, g

from cardprocessor.client import CardProcessor, processor_from_env
from monolith.data.uow import UnitOfWork
from monolith.services.invoicing import (
    delivery_from_config,
    mailer_from_config,
    printer_from_config,
)
from plumbing import errors, observability
from plumbing.db import PoolHolder
from webui.views import create_blueprint, render_error

from . import admin, api, probes
from .ui_backend import InProcessBackend

MAX_BODY_BYTES = 1024 * 1024


class ProcessorHolder:
    """One card processor client per process, made on first use: gunicorn imports the app
    and then forks, and a client's open connections must never be shared across a fork."""

    def __init__(self, make: Callable[[], CardProcessor]):
        self._make = make
        self._client: CardProcessor | None = None
        self._pid: int | None = None
        self._lock = threading.Lock()

    def get(self) -> CardProcessor:
        """The card processor client of the current process."""
        if self._pid != os.getpid():
            with self._lock:
                if self._pid != os.getpid():
                    self._client = self._make()
                    self._pid = os.getpid()
        return self._client


def config_from_env() -> dict:
    """The monolith's settings from the environment, with local defaults."""
    return {
        "DATABASE_URL": os.environ.get("DATABASE_URL", ""),
        "SECRET_KEY": os.environ.get("ARCHLAB_SECRET_KEY", ""),
        "ADMIN_TOKEN": os.environ.get("ARCHLAB_ADMIN_TOKEN", ""),
        # Serving threads, and the database connections of each worker's pool (the sizing
        # plan, archlab/sizing.py: one per thread unless the connection cap shrank it).
        "THREADS": int(os.environ.get("WEB_THREADS", "8")),
        "POOL_SIZE": int(os.environ.get("DB_POOL_SIZE") or os.environ.get("WEB_THREADS", "8")),
        "PRINTER": os.environ.get("INVOICE_PRINTER", "spool"),
        # Not from the environment: no stack setting switches the mailer (a test may pass
        # "offline" to create_app); a stray shell variable must not change a stack.
        "MAILER": "mailbox",
        "INVOICE_DELIVERY": os.environ.get("INVOICE_DELIVERY", "inline"),
    }


def create_app(config: dict | None = None) -> Flask:
    """Build the monolith's Flask app."""
    app = Flask(__name__)
    app.config.update(config_from_env())
    app.config.update(config or {})
    app.config["MAX_CONTENT_LENGTH"] = MAX_BODY_BYTES
    app.json.sort_keys = False
    for required in ("DATABASE_URL", "SECRET_KEY", "ADMIN_TOKEN"):
        if not app.config[required]:
            raise RuntimeError(f"the monolith needs {required} (see `archlab up monolith`)")
    # The pages keep the cart and the login in a session cookie signed with SECRET_KEY;
    # SameSite keeps other sites' forms from riding on it (on top of the CSRF token).
    app.config["SESSION_COOKIE_SAMESITE"] = "Lax"

    pools = PoolHolder(app.config["DATABASE_URL"], app.config["POOL_SIZE"], "monolith")
    app.extensions["archlab"] = {
        "pools": pools,
        # As many connections to the processor as serving threads.
        "processor": ProcessorHolder(
            lambda: processor_from_env(maxsize=app.config["THREADS"])),
        "printer": printer_from_config(app.config["PRINTER"]),
        "mailer": mailer_from_config(app.config["MAILER"]),
        "delivery": delivery_from_config(app.config["INVOICE_DELIVERY"]),
    }

    @app.before_request
    def _units_of_work():
        # Factories, not connections: a request takes a connection only while it needs one.
        pool = pools.get()
        g.uow = lambda: UnitOfWork(pool)
        g.reader = lambda: UnitOfWork(pool, read_only=True)
        g.pool = pool
        # A factory too: the client is made on first use, by a request that needs it.
        g.processor = app.extensions["archlab"]["processor"].get

    errors.install(app, html_renderer=render_error)
    observability.install(app, "monolith")
    app.register_blueprint(probes.bp)
    app.register_blueprint(api.bp)
    app.register_blueprint(admin.bp)
    app.register_blueprint(create_blueprint(InProcessBackend()))
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    return app
