"""The monolith's background worker: retries invoice deliveries left pending.

It runs as its own supervised process (web workers only serve requests), so a
paused or saturated web process never stops deliveries.
"""

import logging
import os
import signal
import threading

from monolith.data.uow import UnitOfWork
from monolith.services.invoicing import (
    deliver,
    due_invoices,
    mailer_from_config,
    printer_from_config,
)
from plumbing.db import BROKEN, Pool, PoolTimeout

log = logging.getLogger("monolith.worker")

POLL_SECONDS = 1.0
BATCH = 50


def run_once(pool: Pool, printer, mailer) -> int:
    """Deliver every due invoice once; returns how many were delivered."""
    delivered = 0
    for order_id in due_invoices(UnitOfWork(pool, read_only=True), BATCH):
        if deliver(UnitOfWork(pool), printer, mailer, order_id) in ("printed", "emailed"):
            delivered += 1
    return delivered


def main() -> None:
    """Poll for due invoices until SIGTERM or SIGINT."""
    logging.basicConfig(level=logging.INFO,
                        format="%(asctime)s monolith-worker %(levelname)s %(message)s")
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    pool = Pool(os.environ["DATABASE_URL"], 1, application_name="monolith-worker")
    printer = printer_from_config(os.environ.get("MONOLITH_PRINTER", "spool"))
    mailer = mailer_from_config(os.environ.get("MONOLITH_MAILER", "mailbox"))
    log.info("started")
    while not stop.is_set():
        try:
            n = run_once(pool, printer, mailer)
            if n:
                log.info("delivered %d pending invoice(s)", n)
        except (PoolTimeout, *BROKEN) as exc:
            log.warning("database unavailable (%s); retrying", exc)
        stop.wait(POLL_SECONDS)
    pool.close()
    log.info("stopped")


if __name__ == "__main__":
    main()
