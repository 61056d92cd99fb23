"""Request ids and the access log, the same in every web process of both architectures.

Each request gets an `X-Request-ID` (the caller's, if it is sane, else a new one) that
is echoed on the response and forwarded on inter-service calls, and each writes one
structured JSON line to stdout: service, method, route template, status, duration.
Both architectures pay this per-request cost alike, so it never tilts the comparison.

The request thread only hands the line's fields to a queue; one background thread per
process formats them as JSON and writes what has queued up within BATCH_SECONDS in one
write. A request then pays a queue put instead of the logging machinery, the JSON
encoding and a write and flush of its own, and the writer wakes a few times a second
under load rather than once per request (docs/profiling.md measured what that cost).
"""

import atexit
import functools
import json
import os
import queue
import re
import sys
import threading
import time
from datetime import UTC, datetime

from flask import Flask, g, request

REQUEST_ID_HEADER = "X-Request-ID"
_REQUEST_ID_ENVIRON = "HTTP_X_REQUEST_ID"
# An incoming request id is kept only if it is short printable ASCII (no space), so a
# client cannot inject text into the logs or the headers of the calls made on its behalf.
_REQUEST_ID_MAX = 200
_CONVERTER = re.compile(r"<(?:[^<>:]+:)?([^<>:]+)>")
# How long the writer gathers lines after the first before it writes them: a line reaches
# stdout at most this late.
BATCH_SECONDS = 0.05


def install(app: Flask, name: str) -> None:
    """Give every request of `app` (service `name`) an id and, unless ARCHLAB_ACCESS_LOG
    is "0", an access-log line (the switch lets an experiment measure what logging costs;
    it is a stack setting, archlab/config.py STACK_SETTINGS, so every run records it)."""
    _install_request_ids(app)
    if os.environ.get("ARCHLAB_ACCESS_LOG", "1") != "0":
        _install_access_log(app, name)


def sane_request_id(value: str) -> bool:
    """Whether an incoming request id may be kept: 1-200 printable ASCII characters,
    space excluded."""
    return (0 < len(value) <= _REQUEST_ID_MAX and value.isascii() and value.isprintable()
            and " " not in value)


def _install_request_ids(app: Flask) -> None:
    @app.before_request
    def _take_request_id():
        # From the WSGI environ: werkzeug's headers.get of a missing header builds and
        # catches a BadRequestKeyError, and most requests come without an id.
        incoming = request.environ.get(_REQUEST_ID_ENVIRON, "")
        # 32 random hex digits, as uuid4().hex but without building a UUID.
        g.request_id = incoming if sane_request_id(incoming) else os.urandom(16).hex()
        g.started = time.perf_counter()

    @app.after_request
    def _give_request_id(response):
        response.headers[REQUEST_ID_HEADER] = g.get("request_id", "-")
        return response


def access_line(at: float, service: str, method: str, route: str | None, status: int,
                duration_ms: float | None, request_id: str | None) -> str:
    """One access-log line (newline included) from the fields a request recorded."""
    return json.dumps({
        "ts": datetime.fromtimestamp(at, UTC).isoformat(timespec="milliseconds"),
        "service": service,
        "method": method,
        "route": route,
        "status": status,
        "duration_ms": duration_ms,
        "request_id": request_id,
    }, separators=(",", ":")) + "\n"


class AccessLog:
    """A process's access log: `record` queues a request's fields; a background thread
    (started on first use in each process, so never shared across a fork) waits for a
    line, gathers more for BATCH_SECONDS, then formats them all and writes them to
    whatever sys.stdout is at the time in one write and flush."""

    def __init__(self):
        self._queue: queue.SimpleQueue = queue.SimpleQueue()
        self._pid: int | None = None
        self._lock = threading.Lock()

    def record(self, *fields) -> None:
        """Queue one line's fields (access_line's arguments)."""
        if self._pid != os.getpid():
            self._start()
        self._queue.put(fields)

    def flush(self, timeout: float = 5.0) -> None:
        """Wait (up to `timeout` s) until every line recorded so far is written."""
        if self._pid != os.getpid():
            return
        done = threading.Event()
        self._queue.put(done)
        done.wait(timeout)

    def _start(self) -> None:
        with self._lock:
            if self._pid == os.getpid():
                return
            # A fresh queue: a forked child has no writer thread for the parent's.
            self._queue = queue.SimpleQueue()
            threading.Thread(target=self._write_forever, args=(self._queue,),
                             name="access-log", daemon=True).start()
            if self._pid is None:
                # Lines still queued when the process exits are written first.
                atexit.register(self.flush)
            self._pid = os.getpid()

    @staticmethod
    def _write_forever(lines: queue.SimpleQueue) -> None:
        while True:
            batch = [lines.get()]
            # A wake-up per request would cost more than the line itself: gather first
            # (a flush waits no longer than this).
            time.sleep(BATCH_SECONDS)
            while True:
                try:
                    batch.append(lines.get_nowait())
                except queue.Empty:
                    break
            text = "".join(access_line(*item) for item in batch
                           if not isinstance(item, threading.Event))
            if text:
                try:
                    sys.stdout.write(text)
                    sys.stdout.flush()
                except (OSError, ValueError):
                    pass  # stdout closed or gone: a log line is not worth a request
            for item in batch:
                if isinstance(item, threading.Event):
                    item.set()


ACCESS_LOG = AccessLog()


# The liveness route the platform's supervisor probes: its requests are the platform's,
# not the load's, and are not counted as requests served (nor as hops).
LIVENESS_ROUTE = "/healthz"


def is_access_line(line: bytes) -> bool:
    """Whether `line` is one access-log line as access_line writes it (a JSON object with
    service, route and status) of a request other than a liveness probe: what the lab
    counts as one request served."""
    if not line.startswith(b"{"):
        return False
    try:
        record = json.loads(line)
    except ValueError:
        return False
    return (isinstance(record, dict) and {"service", "route", "status"} <= record.keys()
            and record["route"] != LIVENESS_ROUTE)


def probe_ms(line: bytes) -> float | None:
    """The duration (ms) of a liveness probe's access-log line; None for any other line."""
    if b'"/healthz"' not in line:
        return None
    try:
        record = json.loads(line)
    except ValueError:
        return None
    if not isinstance(record, dict) or record.get("route") != LIVENESS_ROUTE:
        return None
    return float(record.get("duration_ms") or 0.0)


def probe_figures(lines) -> dict:
    """How many liveness probes the access-log `lines` hold, and their request time in
    ms (an upper bound on the CPU they cost: a probe's time is all it can spend)."""
    durations = [ms for ms in map(probe_ms, lines) if ms is not None]
    return {"requests": len(durations), "request_ms": round(sum(durations), 2)}


def flush_access_log(timeout: float = 5.0) -> None:
    """Wait until this process's access-log lines recorded so far are written (tests)."""
    ACCESS_LOG.flush(timeout)


def _install_access_log(app: Flask, name: str) -> None:
    @app.after_request
    def _log_request(response):
        started = g.get("started")
        rule = request.url_rule
        ACCESS_LOG.record(
            time.time(), name, request.method,
            # The route template, not the path, so lines group by endpoint.
            route_template(rule.rule) if rule is not None else None,
            response.status_code,
            round((time.perf_counter() - started) * 1000, 2) if started is not None else None,
            g.get("request_id"))
        return response


@functools.cache
def route_template(rule: str) -> str:
    """A Flask rule written as the contracts write paths: <int:product_id> -> {product_id}."""
    return _CONVERTER.sub(r"{\1}", rule)
