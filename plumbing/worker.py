"""The loop every background worker process runs (the monolith's, the orders
service's): one round of work, a pause, again, until SIGTERM or SIGINT.

A worker is its own supervised process, never a web worker, so a paused or saturated
web process never stops it; a database that is briefly down costs a round, not the
process. It shows it is alive by touching its heartbeat file (ARCHLAB_HEARTBEAT_FILE,
given by the platform) every round, and a round with many items between them (`beat`):
the supervisor's liveness check restarts a worker whose heartbeat has gone stale, as
one that is paused or stuck.
"""

import logging
import os
import signal
import threading
from collections.abc import Callable

from .db import BROKEN, PoolTimeout

log = logging.getLogger("archlab.worker")

HEARTBEAT_VAR = "ARCHLAB_HEARTBEAT_FILE"


def beat() -> None:
    """Tell the supervisor this worker is alive: touch its heartbeat file, if it has one."""
    path = os.environ.get(HEARTBEAT_VAR)
    if path:
        with open(path, "a"):
            os.utime(path)


def run_forever(name: str, one_round: Callable[[threading.Event], None],
                poll_seconds: float, wait: Callable[[float], None] | None = None) -> None:
    """Call `one_round(stop)` every `poll_seconds` until SIGTERM or SIGINT sets `stop`.
    `wait(seconds)`, when given, pauses between rounds instead and may return sooner
    (e.g. woken by a database notification that there is work)."""
    logging.basicConfig(level=logging.INFO,
                        format=f"%(asctime)s {name} %(levelname)s %(message)s")
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    log.info("started")
    while not stop.is_set():
        beat()
        try:
            one_round(stop)
        except (PoolTimeout, *BROKEN) as exc:
            log.warning("database unavailable (%s); retrying", exc)
        if wait is None:
            stop.wait(poll_seconds)
        elif not stop.is_set():
            wait(poll_seconds)
    log.info("stopped")
