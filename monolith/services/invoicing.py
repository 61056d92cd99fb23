"""Invoices: render, deliver (print, else e-mail, else retry later), read, e-mail.

Delivery is best effort after the checkout commits: a broken printer never fails
a purchase. It happens inside the checkout request right after the COMMIT ('inline'),
or is left to the worker ('deferred'): the INVOICE_DELIVERY setting, so the lab can
measure what the inline delivery costs a checkout. The printer and the mailer sit
behind small interfaces so faults can be injected; the lab's stand-ins write to the
print spool and the mailbox tables.
"""

import logging
from typing import Protocol

from shop.errors import NotFound, ServiceUnavailable
from shop.invoices import InvoiceData, invoice_number, render_html, render_text
from shop.money import Totals
from shop.orders import PricedLine

log = logging.getLogger("monolith.invoicing")

RETRY_BASE_SECONDS = 2.0
RETRY_MAX_SECONDS = 60.0

PRINTERS = ("spool", "offline")
MAILERS = ("mailbox", "offline")
DELIVERIES = ("inline", "deferred")
# When the worker may take an invoice the checkout registered. Inline, the web process
# delivers it right after the COMMIT, and the worker only steps in if it is still
# pending this much later (the request died, or both devices failed); deferred, the
# worker is the one to deliver it, at once.
DUE_IN_SECONDS = {"inline": 5.0, "deferred": 0.0}

# The mailbox's kinds: the delivery (printing failed), and a copy the customer asked for.
DELIVERY_EMAIL, COPY_EMAIL = "invoice", "invoice_copy"


class DeliveryFailed(Exception):
    """A printer or mailer could not take the document."""


class Printer(Protocol):
    def print_document(self, uow, order_id: int, document: str) -> None: ...


class Mailer(Protocol):
    def send(self, uow, order_id: int, kind: str, recipient: str, subject: str,
             body: str) -> None: ...


class SpoolPrinter:
    """Prints by putting the document on the print spool (in the same transaction)."""

    def print_document(self, uow, order_id: int, document: str) -> None:
        """Spool the document."""
        uow.invoices.spool(order_id, document)


class MailboxMailer:
    """Mails by putting the message in the outgoing mailbox (in the same transaction)."""

    def send(self, uow, order_id: int, kind: str, recipient: str, subject: str,
             body: str) -> None:
        """Queue the message."""
        uow.invoices.mail(order_id, kind, recipient, subject, body)


class OfflineDevice:
    """A printer or mailer that is down: every call fails."""

    def __init__(self, name: str):
        self.name = name

    def print_document(self, uow, order_id: int, document: str) -> None:
        """Fail: the printer is offline."""
        raise DeliveryFailed(f"{self.name} is offline")

    def send(self, uow, order_id: int, kind: str, recipient: str, subject: str,
             body: str) -> None:
        """Fail: the mailer is offline."""
        raise DeliveryFailed(f"{self.name} is offline")


def printer_from_config(name: str) -> Printer:
    """The INVOICE_PRINTER setting: 'spool' (working) or 'offline' (every print fails);
    anything else is a RuntimeError, so a mistyped setting stops the start-up."""
    if name not in PRINTERS:
        raise RuntimeError(f"INVOICE_PRINTER must be one of {', '.join(PRINTERS)}, "
                           f"not {name!r}")
    return OfflineDevice("printer") if name == "offline" else SpoolPrinter()


def mailer_from_config(name: str) -> Mailer:
    """'mailbox' (working) or 'offline' (every mail fails); anything else is a
    RuntimeError, as for the printer."""
    if name not in MAILERS:
        raise RuntimeError(f"the mailer must be one of {', '.join(MAILERS)}, not {name!r}")
    return OfflineDevice("mailer") if name == "offline" else MailboxMailer()


def delivery_from_config(name: str) -> str:
    """The INVOICE_DELIVERY setting: 'inline' (in the checkout request, after its COMMIT)
    or 'deferred' (by the worker); anything else is a RuntimeError."""
    if name not in DELIVERIES:
        raise RuntimeError(f"INVOICE_DELIVERY must be one of {', '.join(DELIVERIES)}, "
                           f"not {name!r}")
    return name


def _invoice_data(order, customer) -> InvoiceData:
    _, email, name = customer
    lines = tuple(PricedLine(**line) for line in order.lines)
    return InvoiceData(order_id=order.id, created_at=order.created_at, customer_name=name,
                       customer_email=email, lines=lines,
                       totals=Totals(order.subtotal_cents, order.vat_cents, order.total_cents),
                       card_last4=order.card_last4)


def _load(uow, order_id: int, customer_id: int | None):
    order = uow.orders.get(order_id, customer_id)
    if order is None:
        raise NotFound(f"order {order_id} does not exist")
    return order, _invoice_data(order, uow.customers.get(order.customer_id))


def get_invoice(uow, customer_id: int, order_id: int) -> dict:
    """The customer's invoice for an order, with its delivery status."""
    with uow:
        order, data = _load(uow, order_id, customer_id)
    delivered, emailed = order.invoice_delivered_at, order.invoice_emailed_at
    return {"order_id": order.id, "number": invoice_number(order.id, order.created_at),
            "status": order.invoice_status,
            "delivered_at": delivered.isoformat() if delivered else None,
            "emailed_at": emailed.isoformat() if emailed else None,
            "text": render_text(data), "html": render_html(data)}


def email_invoice(uow, mailer: Mailer, customer_id: int, order_id: int) -> dict:
    """E-mail a copy of the invoice to the customer on request; its delivery status
    stays as it is (a copy is not a delivery)."""
    with uow:
        order, data = _load(uow, order_id, customer_id)
        try:
            _mail(uow, mailer, data, COPY_EMAIL)
        except DeliveryFailed:
            raise ServiceUnavailable("the mailer is unavailable; retry shortly") from None
        uow.commit()
    return {"order_id": order.id, "to": data.customer_email, "status": "accepted"}


def _mail(uow, mailer: Mailer, data: InvoiceData, kind: str) -> None:
    number = invoice_number(data.order_id, data.created_at)
    mailer.send(uow, data.order_id, kind, data.customer_email,
                f"Your Rackshop invoice {number}", render_text(data))
    uow.invoices.mark_emailed(data.order_id)


def deliver(uow, printer: Printer, mailer: Mailer, order_id: int) -> str:
    """Deliver one pending invoice: print, else e-mail, else schedule a retry.

    Returns 'printed', 'emailed', 'pending' (failed, will retry) or 'skipped' (already
    delivered, or another process is delivering it right now).
    """
    with uow:
        if not uow.invoices.lock_pending(order_id):
            return "skipped"
        _, data = _load(uow, order_id, None)
        status = _try_devices(uow, printer, mailer, data)
        if status == "pending":
            attempts = uow.invoices.attempts(order_id) + 1
            delay = min(RETRY_MAX_SECONDS, RETRY_BASE_SECONDS * 2 ** (attempts - 1))
            uow.invoices.mark_failed(order_id, "printer and mailer both failed", delay)
        else:
            uow.invoices.mark_delivered(order_id, status)
        uow.commit()
    return status


def _try_devices(uow, printer: Printer, mailer: Mailer, data: InvoiceData) -> str:
    try:
        printer.print_document(uow, data.order_id, render_text(data))
        return "printed"
    except DeliveryFailed as exc:
        log.info("invoice %s: print failed (%s), e-mailing instead", data.order_id, exc)
    try:
        _mail(uow, mailer, data, DELIVERY_EMAIL)
        return "emailed"
    except DeliveryFailed as exc:
        log.warning("invoice %s: e-mail failed too (%s), will retry", data.order_id, exc)
    return "pending"


def due_invoices(uow, limit: int) -> list[int]:
    """Ids of pending invoices whose retry time has come."""
    with uow:
        return uow.invoices.due(limit)
