"""The monolith's background worker: delivers the invoices checkouts left to it
(INVOICE_DELIVERY=deferred) and retries deliveries left pending, and settles charge
attempts a checkout abandoned (refunds their capture at the card processor).

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
    delivery_from_config,
    due_invoices,
    mailer_from_config,
    printer_from_config,
)
from monolith.services.payments import SWEEP_EVERY_SECONDS, settle_abandoned_charges
from plumbing.db import Pool
from plumbing.worker import run_forever

log = logging.getLogger("monolith.worker")

POLL_SECONDS = SWEEP_EVERY_SECONDS
BATCH = 50


def run_once(pool: Pool, printer, mailer, stop: threading.Event | None = None) -> int:
    """Deliver every due invoice once, batch after batch while batches come back full
    (deferred delivery leaves one per checkout); returns how many were delivered."""
    delivered = 0
    while stop is None or not stop.is_set():
        due = due_invoices(UnitOfWork(pool, read_only=True), BATCH)
        outcomes = [deliver(UnitOfWork(pool), printer, mailer, order_id) for order_id in due]
        delivered += sum(outcome in ("printed", "emailed") for outcome in outcomes)
        # A failed delivery is rescheduled, so the next batch holds new invoices - unless
        # every one was skipped (held by another process): then they stay due, and asking
        # again at once would only find them again.
        if len(due) < BATCH or all(outcome == "skipped" for outcome in outcomes):
            return delivered
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
    printer = printer_from_config(os.environ.get("INVOICE_PRINTER", "spool"))
    # Always the working mailer: no stack setting switches it (see web/app.py).
    mailer = mailer_from_config("mailbox")
    # The worker delivers whatever is due either way; a mistyped setting must still stop
    # the stack's start, here as in the web process.
    delivery_from_config(os.environ.get("INVOICE_DELIVERY", "inline"))
    pool = Pool(os.environ["DATABASE_URL"], 1, application_name="monolith-worker")
    # One thread, one call at a time: one connection to the processor is enough.
    processor = processor_from_env(maxsize=1)

    def one_round(stop: threading.Event) -> None:
        n = run_once(pool, printer, mailer, stop)
        if n:
            log.info("delivered %d pending invoice(s)", n)
        settled = sweep_once(pool, processor, stop)
        if settled:
            log.info("settled abandoned charge attempts: %s", settled)

    run_forever("monolith-worker", one_round, POLL_SECONDS)
    pool.close()


if __name__ == "__main__":
    main()
