"""The invoices service's worker process: retries the deliveries still pending.

It runs as its own supervised process (web workers only serve requests), so a paused or
saturated web process never stops deliveries. It takes due invoices one by one through
the same delivery the requests use, which locks each with FOR UPDATE SKIP LOCKED: two
workers, or a worker and a request, never deliver the same invoice.
"""

import logging
import os
import threading

from microservices.common.security import service_token_key
from microservices.common.upstreams import Upstreams
from plumbing.db import BROKEN, Pool, PoolTimeout
from plumbing.worker import beat, run_forever

from .api import TARGETS
from .delivery import Deliverer, printer_from_env
from .repository import InvoiceRepository

log = logging.getLogger("invoices.worker")

POLL_SECONDS = 0.5
BATCH = 50
# The worker calls notifications only (the customer is stored with each invoice).
WORKER_TARGETS = {"notifications": TARGETS["notifications"]}


def run_once(deliverer: Deliverer, limit: int = BATCH,
             stop: threading.Event | None = None) -> dict[str, int]:
    """Deliver up to `limit` due pending invoices once each; how many ended in each
    status ('printed', 'emailed', 'pending', 'skipped', 'failed')."""
    with deliverer.pool.connection() as conn, conn.cursor() as cur:
        due = InvoiceRepository(cur).due(limit)
    outcomes: dict[str, int] = {}
    for order_id in due:
        if stop is not None and stop.is_set():
            break
        beat()  # each delivery may wait out the printer's or the mailer's timeout
        try:
            status = deliverer.deliver(order_id)
        except (PoolTimeout, *BROKEN):
            raise  # the database is down: run_forever waits a round
        except Exception:  # one invoice's fault must not stop the others' deliveries
            log.exception("invoice %s: delivery failed", order_id)
            status = "failed"
        outcomes[status] = outcomes.get(status, 0) + 1
    return outcomes


def main() -> None:
    """Deliver due pending invoices until SIGTERM or SIGINT."""
    pool = Pool(os.environ["DATABASE_URL"], 1, application_name="invoices-worker")
    ups = Upstreams("invoices", WORKER_TARGETS,
                    service_token_key(os.environ["ARCHLAB_SECRET_KEY"]), threads=1)
    deliverer = Deliverer(pool, ups["notifications"], printer_from_env())

    def one_round(stop: threading.Event) -> None:
        outcomes = run_once(deliverer, BATCH, stop)
        if outcomes:
            log.info("delivery round: %s", outcomes)

    run_forever("invoices-worker", one_round, POLL_SECONDS)
    ups.close()
    pool.close()


if __name__ == "__main__":
    main()
