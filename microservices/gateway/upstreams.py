"""The gateway's clients of the services, one set per process (created after fork)."""

import os
import threading
from concurrent.futures import ThreadPoolExecutor

from flask import current_app

from microservices.common.client import ServiceClient

# Where each service is, by environment variable, with the local platform's defaults.
SERVICES = {"accounts": ("ACCOUNTS_URL", 8101), "catalog": ("CATALOG_URL", 8102),
            "inventory": ("INVENTORY_URL", 8103)}


def service_url(name: str) -> str:
    """The base URL of service `name` from `<NAME>_URL`."""
    variable, port = SERVICES[name]
    return os.environ.get(variable, f"http://127.0.0.1:{port}")


class Upstreams:
    """A ServiceClient per service and a small executor for parallel calls."""

    def __init__(self, key: bytes, threads: int):
        self.pid = os.getpid()
        self.clients = {name: ServiceClient("gateway", name, service_url(name), key,
                                            threads=threads) for name in SERVICES}
        # Calls made in parallel for one request (product + stock) run here.
        self.executor = ThreadPoolExecutor(max_workers=threads,
                                           thread_name_prefix="gateway-fanout")

    def __getitem__(self, name: str) -> ServiceClient:
        return self.clients[name]


_lock = threading.Lock()


def upstreams() -> Upstreams:
    """This process's upstreams (connection pools are never shared across a fork)."""
    ext = current_app.extensions["archlab"]
    current = ext.get("upstreams")
    if current is None or current.pid != os.getpid():
        with _lock:
            current = ext.get("upstreams")
            if current is None or current.pid != os.getpid():
                current = Upstreams(ext["service_key"], current_app.config["POOL_SIZE"])
                ext["upstreams"] = current
    return current
