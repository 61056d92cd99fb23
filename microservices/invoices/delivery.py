"""Invoice delivery, as the monolith delivers (monolith/services/invoicing.py): print it,
else e-mail it, else try again later with a growing delay.

One function delivers for the request that created the invoice and for the worker that
retries it. It holds the invoice's row lock (FOR UPDATE SKIP LOCKED) from the check that
it is still pending to the COMMIT that records the delivery, so two processes never
deliver the same invoice: the second finds it locked, or no longer pending, and skips.

Printing puts the document on the print spool in that same transaction, so a print is
recorded exactly when the delivery is. E-mail goes through the notifications service,
which is idempotent by the message key `invoice-<order id>`: if this process dies after
notifications stored the message and before the COMMIT, the retry sends the same key and
notifications stores nothing new, so the invoice is e-mailed exactly once.
"""

import datetime
import logging
import os

from microservices.common.app import transaction
from microservices.common.client import ServiceClient, UpstreamUnavailable
from plumbing.db import Pool
from plumbing.testhooks import crash_point
from shop.invoices import InvoiceData, invoice_number, render_text
from shop.money import Totals
from shop.orders import PricedLine

from .repository import InvoiceRepository, InvoiceRow

log = logging.getLogger("invoices.delivery")

# The monolith's backoff: 2 s after the first failure, doubling, at most a minute.
RETRY_BASE_SECONDS = 2.0
RETRY_MAX_SECONDS = 60.0

# The stack's INVOICE_PRINTER setting, which the monolith reads too: "spool" (printing
# works) or "offline" (every print fails, so the invoice is e-mailed).
PRINTER_VARIABLE = "INVOICE_PRINTER"
PRINTERS = ("spool", "offline")
OFFLINE = "offline"

MESSAGES = "/internal/messages"


def printer_setting(name: str) -> str:
    """A valid INVOICE_PRINTER value; anything else is a RuntimeError, so a mistyped
    setting stops the start-up (as it does the monolith's)."""
    if name not in PRINTERS:
        raise RuntimeError(f"{PRINTER_VARIABLE} must be one of {', '.join(PRINTERS)}, "
                           f"not {name!r}")
    return name


def printer_from_env() -> str:
    """The stack's printer setting (INVOICE_PRINTER, "spool" by default)."""
    return printer_setting(os.environ.get(PRINTER_VARIABLE, "spool"))


def placed_at_utc(row: InvoiceRow) -> datetime.datetime:
    """When the order was placed, in UTC (whatever the database session's time zone)."""
    return row.placed_at.astimezone(datetime.UTC)


def invoice_data(row: InvoiceRow) -> InvoiceData:
    """What shop.invoices renders, from an invoice row."""
    return InvoiceData(
        order_id=row.order_id, created_at=placed_at_utc(row), customer_name=row.customer_name,
        customer_email=row.customer_email,
        lines=tuple(PricedLine(**line) for line in row.lines),
        totals=Totals(row.subtotal_cents, row.vat_cents, row.total_cents),
        card_last4=row.card_last4)


def number_of(row: InvoiceRow) -> str:
    """The invoice's number, e.g. RS-2026-000123."""
    return invoice_number(row.order_id, placed_at_utc(row))


def send_email(notifications: ServiceClient, row: InvoiceRow, key: str, kind: str) -> dict:
    """Have the notifications service e-mail the invoice (kind "invoice" or
    "invoice_copy") under the message key `key`; its Message.

    Raises UpstreamUnavailable when notifications cannot be reached or answers anything
    but 201 (stored) or 200 (stored before under the key).
    """
    data = invoice_data(row)
    reply = notifications.post(
        MESSAGES, {"key": key, "customer_id": row.customer_id, "order_id": row.order_id,
                   "kind": kind, "to": row.customer_email,
                   "subject": f"Your Rackshop invoice {number_of(row)}",
                   "body": render_text(data)},
        on_behalf_of=row.customer_id)
    if reply.status not in (200, 201):
        # A refusal (401, 422) is a fault of this stack, not of the invoice: treated as
        # unavailability, so a delivery stays pending and is retried once it is mended.
        log.error("notifications answered %s for %s: %s", reply.status, key, reply.body)
        raise UpstreamUnavailable("notifications", f"unexpected answer HTTP {reply.status}")
    return reply.body


def delivery_key(order_id: int) -> str:
    """The message key of an invoice's e-mailed delivery: one per order, ever."""
    return f"invoice-{order_id}"


def retry_delay(attempts: int) -> float:
    """Seconds until the next attempt after `attempts` failed ones."""
    return min(RETRY_MAX_SECONDS, RETRY_BASE_SECONDS * 2 ** (attempts - 1))


class Deliverer:
    """Delivers pending invoices from one database pool, e-mailing through one client of
    the notifications service, with the printer of the stack's setting."""

    def __init__(self, pool: Pool, notifications: ServiceClient, printer: str):
        self.pool = pool
        self.notifications = notifications
        self.printer_online = printer_setting(printer) != OFFLINE

    def deliver(self, order_id: int) -> str:
        """Deliver one pending invoice: print, else e-mail, else schedule a retry.

        Returns 'printed', 'emailed', 'pending' (failed, will retry) or 'skipped'
        (delivered already, or another process is delivering it right now).
        """
        with transaction(self.pool) as cur:
            invoices = InvoiceRepository(cur)
            row = invoices.lock_pending(order_id)
            if row is None:
                return "skipped"
            if self.printer_online:
                invoices.spool(order_id, render_text(invoice_data(row)))
                invoices.mark_printed(order_id)
                crash_point("invoices.after_print")
                return "printed"
            log.info("invoice %s: the printer is offline, e-mailing it instead", order_id)
            try:
                send_email(self.notifications, row, delivery_key(order_id), "invoice")
            except UpstreamUnavailable as exc:
                log.warning("invoice %s: e-mail failed too (%s), will retry", order_id, exc)
                invoices.mark_failed(order_id, f"printer offline; e-mail failed: {exc}",
                                     retry_delay(row.attempts + 1))
                return "pending"
            invoices.mark_emailed(order_id)
            crash_point("invoices.after_print")
            return "emailed"
