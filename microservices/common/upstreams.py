"""A service's clients of the services it calls, one set per process (created after fork).

Each calling service names its targets with an `Upstream` (where to find it, how long to
wait for it); every target is reached through `<NAME>_URL` with the local platform's
default port (README: the command line).
"""

import os
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from flask import current_app

from .client import ServiceClient


@dataclass(frozen=True)
class Upstream:
    """One target service: its `<NAME>_URL` variable, local default port, read timeout,
    and the 5xx answers the caller relays rather than treats as unavailability."""

    variable: str
    default_port: int
    read_timeout: float = 5.0
    relayed_5xx: frozenset[int] = frozenset()

    def url(self) -> str:
        """The target's base URL from the environment, else the local default."""
        return os.environ.get(self.variable, f"http://127.0.0.1:{self.default_port}")


class Upstreams:
    """A ServiceClient per target and a small executor for parallel calls."""

    def __init__(self, caller: str, targets: dict[str, Upstream], key: bytes, threads: int,
                 fanout: int | None = None):
        self.pid = os.getpid()
        # Every serving thread and every fan-out thread may call one target at once.
        callers = threads + (threads if fanout is None else fanout)
        self.clients = {
            name: ServiceClient(caller, name, target.url(), key, threads=callers,
                                read_timeout=target.read_timeout,
                                relayed_5xx=target.relayed_5xx)
            for name, target in targets.items()}
        # Calls made in parallel for one request (e.g. product + stock) run here.
        # A service the plan gives no fan-out threads (fanout 0) still gets a one-thread
        # executor: it starts its thread only on a first parallel call, which it never makes.
        self.executor = ThreadPoolExecutor(max_workers=max(1, threads if fanout is None
                                                           else fanout),
                                           thread_name_prefix=f"{caller}-fanout")

    def __getitem__(self, name: str) -> ServiceClient:
        return self.clients[name]

    def close(self) -> None:
        """Close every pooled connection and the executor."""
        for client in self.clients.values():
            client.close()
        self.executor.shutdown(wait=False)


_lock = threading.Lock()


def app_upstreams(targets: dict[str, Upstream]) -> Upstreams:
    """The current app's upstreams in this process (pools are never shared across a fork)."""
    ext = current_app.extensions["archlab"]
    current = ext.get("upstreams")
    if current is None or current.pid != os.getpid():
        with _lock:
            current = ext.get("upstreams")
            if current is None or current.pid != os.getpid():
                current = Upstreams(ext["service"], targets, ext["service_key"],
                                    current_app.config["THREADS"],
                                    current_app.config["FANOUT_THREADS"])
                ext["upstreams"] = current
    return current
