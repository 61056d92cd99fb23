"""The card processor's application factory.

Settings come from the environment; `create_app(config)` overrides them by key:

| key            | environment                   | default  | meaning                           |
|----------------|-------------------------------|----------|-----------------------------------|
| `DATABASE_URL` | `DATABASE_URL`                | required | the processor's own database      |
| `POOL_SIZE`    | `DB_POOL_SIZE`, `WEB_THREADS` | 8        | database connections per worker   |
| `LATENCY_MS`   | `CARD_PROCESSOR_LATENCY_MS`   | 30       | delay of every charge and refund  |
| `LATE_SECONDS` | `CARD_PROCESSOR_LATE_SECONDS` | 6.0      | delay of the late card's answer   |
"""

import logging
import os

from flask import Flask

from plumbing import errors, observability
from plumbing.db import PoolHolder

from . import api

NAME = "card-processor"
MAX_BODY_BYTES = 64 * 1024


def config_from_env() -> dict:
    """The processor's settings from the environment, with local defaults."""
    return {
        "DATABASE_URL": os.environ.get("DATABASE_URL", ""),
        # One connection per serving thread unless the sizing plan gives fewer.
        "POOL_SIZE": int(os.environ.get("DB_POOL_SIZE") or os.environ.get("WEB_THREADS", "8")),
        # The same for both architectures: it stands for the processor's network and
        # processing time, which neither build can change.
        "LATENCY_MS": float(os.environ.get("CARD_PROCESSOR_LATENCY_MS", "30")),
        "LATE_SECONDS": float(os.environ.get("CARD_PROCESSOR_LATE_SECONDS", "6.0")),
    }


def create_app(config: dict | None = None) -> Flask:
    """Build the card processor's Flask app (its pool opens per process, on first use)."""
    app = Flask("cardprocessor", static_folder=None)
    app.config.update(config_from_env())
    app.config.update(config or {})
    app.config["MAX_CONTENT_LENGTH"] = MAX_BODY_BYTES
    app.json.sort_keys = False
    dsn = app.config["DATABASE_URL"]
    if not dsn:
        raise RuntimeError("the card processor needs DATABASE_URL")
    app.extensions["cardprocessor"] = {"pools": PoolHolder(dsn, app.config["POOL_SIZE"], NAME)}

    errors.install(app)
    observability.install(app, NAME)
    _install_probes(app)
    # Before the blueprint's rules are added: they use it.
    app.url_map.converters["reference"] = api.ReferenceConverter
    app.register_blueprint(api.bp)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    return app


def _install_probes(app: Flask) -> None:
    holder = app.extensions["cardprocessor"]["pools"]

    @app.get("/healthz")
    def healthz():
        """The process answers."""
        return {"status": "ok", "service": NAME}

    @app.get("/readyz")
    def readyz():
        """The process can reach its database."""
        if holder.get().ping():
            return {"status": "ok", "service": NAME}
        return {"status": "unavailable", "service": NAME}, 503, {"Retry-After": "1"}
