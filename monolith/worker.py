"""The monolith's background worker: retries invoice deliveries left pending, and
settles charge attempts a checkout abandoned (refunds their capture at the card processor).

It runs as its own supervised process (web workers only serve requests), so a
paused or saturated web process never stops deliveries or refunds.
"""

import logging
import os
import threading

from cardprocessor.client import CardProcessor, processor_from_env
from monolith.data.uow import UnitOfWork
from monolith.services.invoicing import (
    deliver,
    due_invoices,
    mailer_from_config,
    printer_from_config,
)
from monolith.services.payments import settle_abandoned_charges
from plumbing.db import Pool
from plumbing.worker import run_forever

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


def sweep_once(pool: Pool, processor: CardProcessor,
               stop: threading.Event | None = None) -> dict[str, int]:
    """Settle abandoned charge attempts, batch after batch while batches come back full
    (after a processor outage there may be many); how many ended in each status."""
    total: dict[str, int] = {}
    while stop is None or not stop.is_set():
        settled = settle_abandoned_charges(UnitOfWork(pool), processor, BATCH)
        for status, n in settled.items():
            total[status] = total.get(status, 0) + n
        if sum(settled.values()) < BATCH:
            return total
    return total


def main() -> None:
    """Deliver due invoices and settle abandoned charges until SIGTERM or SIGINT."""
    pool = Pool(os.environ["DATABASE_URL"], 1, application_name="monolith-worker")
    printer = printer_from_config(os.environ.get("MONOLITH_PRINTER", "spool"))
    mailer = mailer_from_config(os.environ.get("MONOLITH_MAILER", "mailbox"))
    # One thread, one call at a time: one connection to the processor is enough.
    processor = processor_from_env(maxsize=1)

    def one_round(stop: threading.Event) -> None:
        n = run_once(pool, printer, mailer)
        if n:
            log.info("delivered %d pending invoice(s)", n)
        settled = sweep_once(pool, processor, stop)
        if settled:
            log.info("settled abandoned charge attempts: %s", settled)

    run_forever("monolith-worker", one_round, POLL_SECONDS)
    pool.close()


if __name__ == "__main__":
    main()
