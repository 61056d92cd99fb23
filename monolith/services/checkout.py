"""Checkout: one ACID transaction - stock, order, payment, idempotency key, invoice.

The whole purchase either happens or does not. What the microservices need a saga
for, the monolith gets from a single database transaction; that difference is one
of the things the lab measures. The card is charged at the external card processor
inside that transaction, while the stock rows stay locked: the monolith's natural
cost. A charge attempt row, committed before the charge goes out, makes sure a
capture whose transaction never commits is found and refunded (services/payments).
"""

import datetime
import logging
from dataclasses import dataclass

from cardprocessor.client import CardProcessor, Charge, ChargeFailed, ProcessorUnavailable
from plumbing.testhooks import crash_point
from shop.cards import Card, parse_card
from shop.errors import (
    DomainError,
    InProgress,
    KeyMismatch,
    NotFound,
    OutOfStock,
    PaymentDeclined,
    PaymentUnavailable,
    ValidationError,
)
from shop.orders import OrderLine, parse_items, price_order, request_fingerprint

from . import invoicing
from .orders import placed_order_view
from .payments import new_reference

log = logging.getLogger("monolith.checkout")


@dataclass(frozen=True)
class CheckoutResult:
    """A final answer: HTTP status, JSON body, and whether it is a replay."""

    status: int
    body: dict
    replayed: bool = False


def _error_body(exc: DomainError) -> dict:
    body = {"error": exc.code, "message": exc.message}
    if exc.details:
        body["details"] = exc.details
    return body


def _parse(body, today: datetime.date) -> tuple[list[OrderLine], Card]:
    if not isinstance(body, dict) or set(body) - {"items", "card"}:
        raise ValidationError("the body must be an object with exactly 'items' and 'card'",
                              {"field": "body"})
    return parse_items(body.get("items")), parse_card(body.get("card"), today)


def purchase(uow, processor: CardProcessor, printer: invoicing.Printer,
             mailer: invoicing.Mailer, customer_id: int, key: str, body, *,
             today: datetime.date, delivery: str = "inline") -> CheckoutResult:
    """Check out, then have the invoice delivered - for the API and the pages alike.

    `delivery` 'inline' delivers it in this request, right after the COMMIT (best
    effort); 'deferred' only registers it, due at once, for the worker to deliver.
    """
    result = checkout(uow, processor, customer_id, key, body, today=today,
                      invoice_due_in=invoicing.DUE_IN_SECONDS[delivery])
    if delivery == "inline" and result.status == 201 and not result.replayed:
        order_id = result.body["id"]
        try:
            invoicing.deliver(uow, printer, mailer, order_id)
        except Exception:  # the purchase already committed: never fail it over an invoice
            log.exception("invoice delivery for order %s failed; the worker will retry",
                          order_id)
    return result


def checkout(uow, processor: CardProcessor, customer_id: int, key: str, body, *,
             today: datetime.date,
             invoice_due_in: float = invoicing.DUE_IN_SECONDS["inline"]) -> CheckoutResult:
    """Buy the body's items with its card, exactly once per (customer, key); the order's
    invoice is registered pending, due for the worker in `invoice_due_in` seconds."""
    request_hash = request_fingerprint(body)
    try:
        lines, card = _parse(body, today)
    except ValidationError as exc:
        # Raised only after the key check: a stored answer is replayed even for a body
        # that no longer validates (its card has expired since).
        lines, card, invalid = [], None, exc
    else:
        invalid = None
    # Only a valid body can reach the charge, so only it gets a charge attempt.
    reference = new_reference() if invalid is None else None
    with uow:
        if reference is not None:
            # The attempt must be durable before its charge can exist, so it is committed
            # on its own, ahead of the transaction, on the same connection: one statement,
            # and its lock follows at once, with no second wait for a pool connection.
            with uow.autocommitted():
                uow.charges.start(reference, customer_id)
            if uow.charges.lock(reference) != "started":
                # The worker took it for abandoned meanwhile (and voided it at the
                # processor); this request will not charge.
                raise PaymentUnavailable("the payment could not be started; nothing was "
                                         "charged")
        if not uow.idempotency.try_lock(customer_id, key):
            _close_unused(uow, reference)
            raise InProgress()
        saved = uow.idempotency.get(customer_id, key)
        if saved is not None:
            _close_unused(uow, reference)
            if saved.request_hash != request_hash:
                raise KeyMismatch()
            return CheckoutResult(saved.status_code, saved.response, replayed=True)
        if invalid is not None:
            raise invalid

        found = uow.products.lock_for_sale([line.product_id for line in lines])
        try:
            priced = price_order(lines, {pid: row for pid, (row, _) in found.items()})
        except NotFound as exc:
            _close_unused(uow, reference)
            raise ValidationError(exc.message, exc.details | {"field": "items"}) from None
        short = [ln.product_id for ln in lines if found[ln.product_id][1] < ln.quantity]
        if short:
            uow.charges.finish(reference, "void")
            return _final(uow, customer_id, key, request_hash, 409, _error_body(OutOfStock(short)))

        total = priced.totals.total_cents
        charge = _charge(processor, reference, total, card)
        if charge.status == "declined":
            uow.charges.finish(reference, "declined")
            declined = PaymentDeclined("the card was declined; nothing was charged")
            return _final(uow, customer_id, key, request_hash, 402, _error_body(declined))
        # Captured: from here on, only the COMMIT below keeps the money; if the process
        # dies first, the attempt stays 'started' and the worker refunds the capture.
        crash_point("monolith.after_charge")

        for line in lines:
            # Conditional even under the row lock: stock never goes negative.
            if not uow.products.sell(line.product_id, line.quantity):
                raise OutOfStock([line.product_id])
        last4 = card.number[-4:]
        order_id, created_at = uow.orders.add(customer_id, "PAID", priced, last4)
        uow.payments.capture(order_id, total, last4, reference)
        uow.charges.finish(reference, "captured", order_id)
        uow.invoices.add_pending(order_id, invoice_due_in)
        view = placed_order_view(order_id, created_at, priced, last4)
        return _final(uow, customer_id, key, request_hash, 201, view, order_id)


def _charge(processor: CardProcessor, reference: str, amount_cents: int, card: Card) -> Charge:
    """Charge the card at the processor: a capture of exactly the amount, or a decline.

    Anything else is PaymentUnavailable, which rolls the checkout back: nothing is sold
    and nothing stored under the key, so a retry with the same key may go through. The
    attempt stays 'started', and the worker settles its reference at the processor.
    """
    try:
        charge = processor.charge(reference, amount_cents, card)
    except ChargeFailed:
        # Definitive, yet the attempt is left to the worker all the same: its tombstone
        # costs two calls off the request path and rules out a later capture for good.
        raise PaymentUnavailable("the card processor failed; nothing was charged") from None
    except ProcessorUnavailable:
        # The outcome is unknown (a timeout): the card may have been charged. The order
        # provably did not take effect in the shop - this transaction rolls back, so no
        # order, no sale, no stored key - and the worker refunds the capture if there was
        # one. So 503 is the honest answer, and a retry buys at most once.
        raise PaymentUnavailable("the card processor did not answer; no order was placed "
                                 "and any charge will be refunded") from None
    if charge.status == "declined" or (charge.status == "captured"
                                       and charge.amount_cents == amount_cents):
        return charge
    if charge.status == "voided":
        # The worker left a tombstone under this reference: the charge captured nothing.
        raise PaymentUnavailable("the card processor did not charge the card; nothing was "
                                 "charged")
    raise PaymentUnavailable("the card processor's answer did not match the charge; no "
                             "order was placed and any charge will be refunded")


def _close_unused(uow, reference: str | None) -> None:
    """Close an attempt whose charge was never sent, and commit: no request with its
    reference exists or ever will, so it needs no tombstone."""
    if reference is not None:
        uow.charges.finish(reference, "void")
        uow.commit()


def _final(uow, customer_id, key, request_hash, status, body, order_id=None) -> CheckoutResult:
    """Store a final outcome under its key in the same transaction, and commit."""
    uow.idempotency.save(customer_id, key, request_hash, status, body, order_id)
    uow.commit()
    return CheckoutResult(status, body)
