"""Request ids and the access log, the same in every web process of both architectures.

Each request gets an `X-Request-ID` (the caller's, if it is sane, else a new one) that
is echoed on the response and forwarded on inter-service calls, and each writes one
structured JSON line to stdout: service, method, route template, status, duration.
Both architectures pay this per-request cost alike, so it never tilts the comparison.
"""

import json
import logging
import os
import re
import sys
import time
import uuid
from datetime import UTC, datetime

from flask import Flask, g, request

REQUEST_ID_HEADER = "X-Request-ID"
# An incoming request id is kept only if it is short printable ASCII, so a client cannot
# inject text into the logs or the headers of the calls made on its behalf.
_REQUEST_ID_CHARS = frozenset(chr(c) for c in range(0x21, 0x7F))
_REQUEST_ID_MAX = 200
_CONVERTER = re.compile(r"<(?:[^<>:]+:)?([^<>:]+)>")


def install(app: Flask, name: str) -> None:
    """Give every request of `app` (service `name`) an id and, unless ARCHLAB_ACCESS_LOG
    is "0", an access-log line (the switch lets an experiment measure what logging costs;
    it is a stack setting, archlab/config.py STACK_SETTINGS, so every run records it)."""
    _install_request_ids(app)
    if os.environ.get("ARCHLAB_ACCESS_LOG", "1") != "0":
        _install_access_log(app, name)


def _install_request_ids(app: Flask) -> None:
    @app.before_request
    def _take_request_id():
        incoming = request.headers.get(REQUEST_ID_HEADER, "")
        if 0 < len(incoming) <= _REQUEST_ID_MAX and set(incoming) <= _REQUEST_ID_CHARS:
            g.request_id = incoming
        else:
            g.request_id = uuid.uuid4().hex
        g.started = time.perf_counter()

    @app.after_request
    def _give_request_id(response):
        response.headers[REQUEST_ID_HEADER] = g.get("request_id", "-")
        return response


class _StdoutHandler(logging.Handler):
    """Writes each record as one line to whatever sys.stdout is at the time (a
    StreamHandler would keep the stream it was made with, which tools swap)."""

    def emit(self, record: logging.LogRecord) -> None:
        # One write per line, under the handler's lock, so threads never interleave.
        sys.stdout.write(self.format(record) + "\n")
        sys.stdout.flush()


def _access_logger() -> logging.Logger:
    """The JSON access log on stdout, set up once per process."""
    logger = logging.getLogger("archlab.access")
    if not logger.handlers:
        logger.addHandler(_StdoutHandler())
        logger.setLevel(logging.INFO)
        # Not into the root logger's human-readable lines as well.
        logger.propagate = False
    return logger


def _install_access_log(app: Flask, name: str) -> None:
    logger = _access_logger()

    @app.after_request
    def _log_request(response):
        started = g.get("started")
        rule = request.url_rule
        logger.info(json.dumps({
            "ts": datetime.now(UTC).isoformat(timespec="milliseconds"),
            "service": name,
            "method": request.method,
            # The route template, not the path, so lines group by endpoint.
            "route": route_template(rule.rule) if rule is not None else None,
            "status": response.status_code,
            "duration_ms": round((time.perf_counter() - started) * 1000, 2)
            if started is not None else None,
            "request_id": g.get("request_id"),
        }, separators=(",", ":")))
        return response


def route_template(rule: str) -> str:
    """A Flask rule written as the contracts write paths: <int:product_id> -> {product_id}."""
    return _CONVERTER.sub(r"{\1}", rule)


