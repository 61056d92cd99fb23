"""The payments service's application factory.

Besides the common service settings, the card processor's: `CARD_PROCESSOR_URL` and
`CARD_PROCESSOR_TIMEOUT_SECONDS`, from the environment (cardprocessor.client's
processor_from_env) unless the config passed to create_app names a URL (tests do).
"""

import os
import threading

from flask import Flask

from cardprocessor.client import CardProcessor, processor_from_env
from microservices.common.app import create_service_app

from . import api

NAME = "payments"
# Services whose service tokens may call this one: orders charges and cancels during its
# saga, the gateway reads the audit.
ALLOWED_CALLERS = frozenset({"orders", "gateway"})


class ProcessorHolder:
    """One card processor client per process, made on first use: gunicorn imports the app
    and then forks its workers, and pooled sockets must not be shared across a fork."""

    def __init__(self, config: dict):
        self._url = config.get("CARD_PROCESSOR_URL")
        self._timeout = float(config.get("CARD_PROCESSOR_TIMEOUT_SECONDS", 3.0))
        # One connection per serving thread.
        self._maxsize = config["THREADS"]
        self._client: CardProcessor | None = None
        self._pid: int | None = None
        self._lock = threading.Lock()

    def get(self) -> CardProcessor:
        """The client of the current process."""
        client = self._client
        if client is not None and self._pid == os.getpid():
            return client
        with self._lock:
            if self._client is None or self._pid != os.getpid():
                if self._url:
                    self._client = CardProcessor(self._url, timeout=self._timeout,
                                                 maxsize=self._maxsize)
                else:
                    self._client = processor_from_env(self._maxsize)
                self._pid = os.getpid()
            return self._client


def create_app(config: dict | None = None) -> Flask:
    """Build the payments service's Flask app."""
    app = create_service_app(NAME, {"ALLOWED_CALLERS": ALLOWED_CALLERS, "NEEDS_DATABASE": True,
                                    **(config or {})})
    app.extensions[api.PROCESSOR_EXTENSION] = ProcessorHolder(app.config)
    app.register_blueprint(api.bp)
    return app
