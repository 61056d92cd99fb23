"""The orders service's worker process: the saga's recovery loop and the outbox relay.

It runs as its own supervised process (web workers only serve requests), so a paused or
saturated web process never stops recovery, and it claims rows with FOR UPDATE SKIP
LOCKED, so several workers never finish the same order.
"""

import logging
import os
import threading

from microservices.common.security import service_token_key
from microservices.common.upstreams import Upstreams
from plumbing.db import Pool
from plumbing.worker import run_forever

from .api import TARGETS
from .recovery import POLL_SECONDS, run_once
from .relay import Wakeup, relay_once
from .repository import OrderStore

log = logging.getLogger("orders.worker")

BATCH = 20


def main() -> None:
    """Recover overdue orders and relay outbox events until SIGTERM or SIGINT."""
    store = OrderStore(Pool(os.environ["DATABASE_URL"], 2, application_name="orders-worker"))
    ups = Upstreams("orders", TARGETS, service_token_key(os.environ["ARCHLAB_SECRET_KEY"]),
                    threads=2)

    def one_round(stop: threading.Event) -> None:
        outcomes = run_once(store, ups, BATCH)
        if outcomes:
            log.info("recovery round: %s", outcomes)
        relayed = relay_once(store, ups, BATCH)
        if relayed:
            log.info("relayed %d event(s)", relayed)

    wakeup = Wakeup(os.environ["DATABASE_URL"])
    run_forever("orders-worker", one_round, POLL_SECONDS, wait=wakeup.wait)
    wakeup.close()
    ups.close()
    store.pool.close()


if __name__ == "__main__":
    main()
