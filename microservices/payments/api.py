"""The payments service's internal API: charge an order's card, read (and resolve) its
payment, cancel it, and reconcile every payment with the card processor for the audit.

Every operation is idempotent by order id. The payment row is written before the card
processor is called, and the processor is idempotent by the merchant reference
(rackshop-order-<order id>), so a charge driven again - after a timeout, a crash, by the
orders service's recovery - is the same charge there, never a second one.
"""

import datetime
import logging
import re

from flask import Blueprint, current_app, request

from cardprocessor.client import (
    CardProcessor,
    Charge,
    ChargeFailed,
    ProcessorUnavailable,
)
from cardprocessor.reconcile import reconcile
from microservices.common.app import cursor, transaction
from plumbing.errors import ApiError
from plumbing.http import json_body
from plumbing.testhooks import crash_point, fault_point
from shop.cards import Card, parse_card
from shop.numbers import whole_number

from .repository import UNSETTLED, Payment, PaymentRepository

log = logging.getLogger("payments.api")

bp = Blueprint("payments", __name__, url_prefix="/internal")

# Where create_app keeps the per-process card processor client (app.ProcessorHolder).
PROCESSOR_EXTENSION = "payments.processor"

REFERENCE_PREFIX = "rackshop-order-"
# The processor's own ceiling: a larger amount would be refused there as a caller's bug.
MAX_AMOUNT_CENTS = 10**12
MAX_ORDER_ID = 2**63 - 1
ORDER = f"<int(min=1, max={MAX_ORDER_ID}):order_id>"
_OUR_REFERENCE = re.compile(re.escape(REFERENCE_PREFIX) + r"[1-9][0-9]*")
_CHARGE_FIELDS = frozenset({"amount_cents", "card"})

# The payment's status for the processor's record of its charge.
STATUS_AT_PROCESSOR = {"captured": "captured", "declined": "declined", "voided": "void",
                       "refunded": "refunded"}
# Statuses no processor answer changes any more: a cancel leaves them without asking.
# Not 'void': a tombstone whose cancel could not reach the processor is confirmed there by
# the retried cancel (a refund of a voided reference changes nothing at the processor).
CLOSED = ("declined", "refunded")


def processor() -> CardProcessor:
    """The card processor client of this process."""
    return current_app.extensions[PROCESSOR_EXTENSION].get()


def reference_for(order_id: int) -> str:
    """The merchant reference of an order's one charge."""
    return f"{REFERENCE_PREFIX}{order_id}"


def payment_view(payment: Payment) -> dict:
    """The contract's Payment for a row."""
    return {"order_id": payment.order_id, "status": payment.status,
            "amount_cents": payment.amount_cents, "card_last4": payment.card_last4}


def charge_request(body, today: datetime.date) -> tuple[int, Card]:
    """(amount_cents, card) of a ChargeRequest body; 422 validation_error otherwise."""
    if not isinstance(body, dict):
        raise ApiError("validation_error", "the body must be a JSON object", {"field": "body"})
    unknown = sorted(str(name) for name in body.keys() - _CHARGE_FIELDS)
    if unknown:
        raise ApiError("validation_error", f"unknown field(s) {', '.join(unknown)}",
                       {"field": unknown[0]})
    amount_cents = whole_number(body.get("amount_cents"))
    if amount_cents is None or not 1 <= amount_cents <= MAX_AMOUNT_CENTS:
        raise ApiError("validation_error",
                       f"amount_cents must be an integer from 1 to {MAX_AMOUNT_CENTS}",
                       {"field": "amount_cents"})
    if "card" not in body:
        raise ApiError("validation_error", "card is required", {"field": "card"})
    # parse_card's ValidationError is answered 422 with details.field "card.<name>".
    return amount_cents, parse_card(body["card"], today)


def _vanished(order_id: int) -> ApiError:
    # Only a reseed removes payment rows; the caller's retry finds a clean slate.
    return ApiError("service_unavailable", f"the payment of order {order_id} was removed "
                    "meanwhile (the database was reset); retry")


@bp.post(f"/payments/{ORDER}/charge")
def charge(order_id: int):
    """Charge the order's card once: 200 with the Payment (captured, declined, or void /
    refunded when it was cancelled), 202 while the processor's answer is unknown, 503
    payment_unavailable when the processor charged nothing."""
    amount_cents, card = charge_request(json_body(), datetime.date.today())
    reference = reference_for(order_id)
    fault_point("payments.charge:before")
    # Recorded before the processor is called: a charge whose answer is lost is on record
    # and can be looked up, refunded or voided by reference later.
    with cursor() as cur:
        payments = PaymentRepository(cur)
        payment = payments.insert(order_id, reference, amount_cents, card.number[-4:],
                                  "charging")
        if payment is None:
            payment = payments.get(order_id)
            if payment is None:
                raise _vanished(order_id)
            if payment.status not in UNSETTLED:
                return payment_view(payment)  # an idempotent replay: nothing is called
            if payment.amount_cents != amount_cents:
                # The processor would refuse the reference for another amount anyway.
                raise ApiError("validation_error",
                               f"order {order_id}'s payment is for {payment.amount_cents} "
                               f"cents, not {amount_cents}", {"field": "amount_cents"})
            # Driven again with the same reference: the processor answers its first record.
            payments.restart(order_id)

    failed = False
    charged: Charge | None = None
    try:
        charged = processor().charge(reference, amount_cents, card)
    except ChargeFailed as exc:
        log.warning("order %s: %s", order_id, exc)
        failed = True
    except ProcessorUnavailable as exc:
        # OutcomeUnknown (or anything the client could not classify): the card may have
        # been charged, so the payment stays 'charging' until a lookup settles it.
        log.warning("order %s: charge outcome unknown: %s", order_id, exc)
    crash_point("payments.after_processor")

    if failed:
        with cursor() as cur:
            PaymentRepository(cur).settle(order_id, "failed")
        raise ApiError("payment_unavailable", "the card processor failed; nothing was charged")
    if charged is None:
        with cursor() as cur:
            payments = PaymentRepository(cur)
            # A concurrent attempt may have recorded 'failed' meanwhile; this one's charge
            # may have gone through, so the outcome is open again.
            payments.restart(order_id)
            payment = payments.get(order_id)
        if payment is None:
            raise _vanished(order_id)
        if payment.status in UNSETTLED:
            return payment_view(payment._replace(status="charging")), 202
        return payment_view(payment)
    recorded = record_outcome(order_id, charged)
    fault_point("payments.charge:after")
    return payment_view(recorded)


def record_outcome(order_id: int, charged: Charge) -> Payment:
    """Record the processor's record of the order's charge on a payment still unsettled.

    A capture that finds the payment cancelled meanwhile (the orders saga compensated
    while the charge was in flight) is refunded at once: a charge that lands after a
    cancel must never stay captured.
    """
    status = STATUS_AT_PROCESSOR[charged.status]
    with cursor() as cur:
        payments = PaymentRepository(cur)
        payment = payments.settle(order_id, status, charged.card_last4 or None)
        if payment is not None:
            return payment
        payment = payments.get(order_id)
    if payment is None:
        raise _vanished(order_id)
    if status != "captured" or payment.status == "captured":
        # Settled already, by a concurrent attempt or a cancel: the row stands.
        return payment
    try:
        after = processor().refund(payment.reference)
    except ProcessorUnavailable as exc:
        # The cancel's own refund normally got there first (this one is then a no-op);
        # the audit's captures_without_payment shows it if not.
        log.error("order %s: captured after it was cancelled, and the refund failed: %s",
                  order_id, exc)
        return payment
    with cursor() as cur:
        refunded = PaymentRepository(cur).set_status(
            order_id, STATUS_AT_PROCESSOR.get(after.status, payment.status),
            after.amount_cents or None, after.card_last4 or None)
    return refunded or payment


@bp.get(f"/payments/{ORDER}")
def get_payment(order_id: int):
    """The order's Payment; one whose charge outcome is open is first looked up at the
    processor. An outcome still open says why (`processor`): the processor has no record
    of the charge, or could not be asked - the saga's recovery cancels only the first."""
    with cursor() as cur:
        found = PaymentRepository(cur).get(order_id)
    if found is None:
        raise ApiError("not_found", f"order {order_id} has no payment")
    if found.status not in UNSETTLED:
        return payment_view(found)
    try:
        charged = processor().lookup(found.reference)
    except ProcessorUnavailable as exc:
        log.warning("order %s: payment not resolved: %s", order_id, exc)
        return payment_view(found) | {"processor": "unreachable",
                                      "processor_error": str(exc)[:300]}
    if charged is None:
        # The charge never reached the processor (or has not yet): nothing to record.
        return payment_view(found) | {"processor": "no_record"}
    return payment_view(record_outcome(order_id, charged))


def _no_body() -> None:
    """Cancel takes no body; an empty JSON object is the same (a caller's generic POST)."""
    if not request.get_data(cache=True):
        return
    if json_body() != {}:
        raise ApiError("validation_error", "cancel takes no body, or an empty JSON object",
                       {"field": "body"})


@bp.post(f"/payments/{ORDER}/cancel")
def cancel(order_id: int):
    """Make sure the order is never charged: refund a capture, void an open charge, or
    leave a tombstone (here and at the processor) so a later charge captures nothing.
    200 with the Payment afterwards; 503 when the processor cannot be reached."""
    _no_body()
    reference = reference_for(order_id)
    unreachable = None
    with transaction() as cur:
        payments = PaymentRepository(cur)
        payment = payments.insert(order_id, reference, 0, "", "void")
        created = payment is not None
        if not created:
            # Held until the processor has answered: a charge finishing meanwhile waits
            # here, then finds the payment settled and refunds its own capture.
            payment = payments.lock(order_id)
            if payment is None:
                raise _vanished(order_id)
            if payment.status in CLOSED:
                return payment_view(payment)
        try:
            after = processor().refund(reference)
            status = STATUS_AT_PROCESSOR.get(after.status)
            if status in (None, "captured"):
                raise ProcessorUnavailable(f"the processor holds {after.status!r} after a "
                                           "refund")
        except ProcessorUnavailable as exc:
            log.warning("order %s: cancel not confirmed by the processor: %s", order_id, exc)
            if not created:
                # Rolled back: nothing changed, and the caller retries.
                raise ApiError("service_unavailable", "the card processor cannot be reached; "
                               "the payment is unchanged, retry the cancel") from None
            # A new tombstone is kept: it already stops this service from charging. The
            # processor's tombstone is still owed, so the caller hears 503 and retries.
            unreachable = exc
        else:
            if created:
                # A reference the processor knew without a payment here (its charge came
                # from before a reset of this database): record what it holds.
                payment = payments.set_status(order_id, status, after.amount_cents,
                                              after.card_last4)
            else:
                payment = payments.set_status(order_id, status)
    if unreachable is not None:
        raise ApiError("service_unavailable", "the card processor cannot be reached; the "
                       "payment is void here, retry the cancel to void it there too")
    return payment_view(payment)


def processor_figures(payments: list[Payment], charges: list[Charge]) -> dict:
    """The payments reconciled with the processor's charges, by reference (the processor
    serves other merchants - the monolith - too: only this shop's references count)."""
    return reconcile([p.reference for p in payments if p.status == "captured"], charges,
                     lambda reference: _OUR_REFERENCE.fullmatch(reference) is not None)


@bp.get("/audit")
def audit():
    """Every payment, by order id, and the payments reconciled with the processor."""
    with cursor() as cur:
        payments = PaymentRepository(cur).all()
    try:
        charges = processor().charges()
    except ProcessorUnavailable as exc:
        log.warning("audit: %s", exc)
        raise ApiError("service_unavailable", "the card processor cannot be reached; "
                       "retry") from None
    return {"items": [{"order_id": p.order_id, "status": p.status,
                       "amount_cents": p.amount_cents} for p in payments],
            "processor": processor_figures(payments, charges)}
