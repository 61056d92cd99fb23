"""The service application factory: what every service's Flask app has in common.

Configuration from the environment, one database pool per process (its own database
only), the contract's JSON errors, `X-Request-ID` propagation, one structured access-log
line per request, the probes, and the guard that lets only allowed services, with a valid
service token, reach `/internal/`.
"""

import logging
import os
from collections.abc import Iterator
from contextlib import contextmanager

from flask import Flask, current_app, g, request
from flask.sessions import SecureCookieSessionInterface

from plumbing import errors, observability
from plumbing.db import Pool, PoolHolder

from .security import (
    SERVICE_TOKEN_HEADER,
    ServiceCaller,
    VerifiedTokens,
    customer_token_key,
    service_token_key,
)

MAX_BODY_BYTES = 1024 * 1024
INTERNAL_PREFIX = "/internal/"


def config_from_env() -> dict:
    """A service's settings from the environment, with local defaults."""
    return {
        "DATABASE_URL": os.environ.get("DATABASE_URL", ""),
        "SECRET_KEY": os.environ.get("ARCHLAB_SECRET_KEY", ""),
        # Serving threads, fan-out threads (parallel calls to other services) and the
        # database connections of each worker's pool, from the sizing plan
        # (archlab/sizing.py): a pool has one per thread unless the connection cap shrank it.
        "THREADS": int(os.environ.get("WEB_THREADS", "8")),
        "FANOUT_THREADS": int(os.environ.get("FANOUT_THREADS")
                              or os.environ.get("WEB_THREADS", "8")),
        "POOL_SIZE": int(os.environ.get("DB_POOL_SIZE")
                         or os.environ.get("WEB_THREADS", "8")),
    }


class NoSessions(SecureCookieSessionInterface):
    """A service answers JSON to other programs and keeps no session: none is opened.
    Flask would otherwise, because the app has a SECRET_KEY, build a cookie serializer
    and look for a session cookie on every request (docs/profiling.md). A service that
    serves pages (the gateway) gets webui's PageSessions instead with its blueprint."""

    def open_session(self, app: Flask, request):
        return self.make_null_session(app)


def create_service_app(name: str, config: dict | None = None) -> Flask:
    """Build the Flask app of service `name`; blueprints are the caller's to register.

    Config keys besides the environment's: ALLOWED_CALLERS (services whose tokens open
    /internal/; none by default), NEEDS_DATABASE (refuse to start without DATABASE_URL)
    and HTML_ERROR_RENDERER (plumbing.errors' renderer for page routes, for a service
    that serves pages). A service without a database (the gateway) gets no pool, and its
    /readyz answers ok as long as the process serves.
    """
    # No static folder: a service serves JSON only (a blueprint may bring its own files).
    app = Flask(f"microservices.{name}", static_folder=None)
    app.config.update(config_from_env())
    app.config.update(config or {})
    app.config["MAX_CONTENT_LENGTH"] = MAX_BODY_BYTES
    app.json.sort_keys = False
    app.session_interface = NoSessions()
    if not app.config["SECRET_KEY"]:
        raise RuntimeError(f"the {name} service needs ARCHLAB_SECRET_KEY")
    dsn = app.config["DATABASE_URL"]
    if app.config.get("NEEDS_DATABASE") and not dsn:
        raise RuntimeError(f"the {name} service needs DATABASE_URL")

    secret = app.config["SECRET_KEY"]
    app.extensions["archlab"] = {
        "service": name,
        "pools": PoolHolder(dsn, app.config["POOL_SIZE"], name) if dsn else None,
        "service_key": service_token_key(secret),
        "customer_key": customer_token_key(secret),
        "allowed_callers": frozenset(app.config.get("ALLOWED_CALLERS", ())),
    }

    # A service serving pages (the gateway) answers their errors as HTML pages.
    errors.install(app, html_renderer=app.config.get("HTML_ERROR_RENDERER"))
    observability.install(app, name)
    _install_service_guard(app, name)
    _install_probes(app, name)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    return app


def pool() -> Pool:
    """The current service's database pool (of this process)."""
    holder = current_app.extensions["archlab"]["pools"]
    if holder is None:
        raise RuntimeError(f"the {current_app.extensions['archlab']['service']} service "
                           "has no database")
    return holder.get()


@contextmanager
def cursor(from_pool: Pool | None = None) -> Iterator:
    """A cursor on the service's own database (or `from_pool`'s), in autocommit: each
    statement is atomic, and a read costs no BEGIN/COMMIT."""
    with (from_pool or pool()).connection() as conn, conn.cursor() as cur:
        yield cur


@contextmanager
def transaction(from_pool: Pool | None = None) -> Iterator:
    """A cursor in one transaction on the service's own database (or `from_pool`'s):
    committed when the block ends, rolled back if it raises."""
    with (from_pool or pool()).connection() as conn:
        # The pool lends connections in autocommit and resets them on return.
        conn.autocommit = False
        with conn, conn.cursor() as cur:
            yield cur


def service_caller() -> ServiceCaller:
    """The verified caller of the current /internal/ request (its customer id included)."""
    return g.service_caller


def _install_service_guard(app: Flask, name: str) -> None:
    ext = app.extensions["archlab"]
    tokens = VerifiedTokens(ext["service_key"], name, ext["allowed_callers"])

    @app.before_request
    def _require_service_token():
        # Every internal path, unknown ones included: without a token nothing about
        # the service's routes is revealed.
        if request.path.startswith(INTERNAL_PREFIX):
            g.service_caller = tokens.verify(request.headers.get(SERVICE_TOKEN_HEADER))


def _install_probes(app: Flask, name: str) -> None:
    @app.get("/healthz")
    def healthz():
        """The process answers."""
        return {"status": "ok", "service": name}

    @app.get("/readyz")
    def readyz():
        """The process can reach its own database - never an upstream's health."""
        holder = app.extensions["archlab"]["pools"]
        if holder is None or holder.get().ping():
            return {"status": "ok", "service": name}
        return {"status": "unavailable", "service": name}, 503, {"Retry-After": "1"}
