"""Checkout: one ACID transaction - stock, order, payment, idempotency key, invoice.

The whole purchase either happens or does not. What the microservices need a saga
for, the monolith gets from a single database transaction; that difference is one
of the things the lab measures.
"""

import datetime
import hashlib
import json
from dataclasses import dataclass

from shop.cards import Outcome, authorize, parse_card
from shop.errors import (
    DomainError,
    NotFound,
    OutOfStock,
    PaymentDeclined,
    PaymentUnavailable,
    ValidationError,
)
from shop.orders import parse_items, price_order

from .orders import placed_order_view


class InProgress(Exception):
    """Another request with the same idempotency key is still running."""


class KeyMismatch(Exception):
    """The idempotency key was used before with a different request."""


@dataclass(frozen=True)
class CheckoutResult:
    """A final answer: HTTP status, JSON body, and whether it is a replay."""

    status: int
    body: dict
    replayed: bool = False


def fingerprint(body) -> str:
    """A stable hash of a request body, to tell a replay from a key reused for another one."""
    return hashlib.sha256(json.dumps(body, sort_keys=True, separators=(",", ":"))
                          .encode()).hexdigest()


def _error_body(exc: DomainError) -> dict:
    body = {"error": exc.code, "message": exc.message}
    if exc.details:
        body["details"] = exc.details
    return body


def checkout(uow, customer_id: int, key: str, body, *, today: datetime.date) -> CheckoutResult:
    """Buy the body's items with its card, exactly once per (customer, key)."""
    request_hash = fingerprint(body)
    with uow:
        if not uow.idempotency.try_lock(customer_id, key):
            raise InProgress(key)
        saved = uow.idempotency.get(customer_id, key)
        if saved is not None:
            if saved.request_hash != request_hash:
                raise KeyMismatch(key)
            return CheckoutResult(saved.status_code, saved.response, replayed=True)
        if not isinstance(body, dict) or set(body) - {"items", "card"}:
            raise ValidationError("the body must be an object with exactly 'items' and 'card'",
                                  {"field": "body"})
        lines = parse_items(body.get("items"))
        card = parse_card(body.get("card"), today)

        found = uow.products.lock_for_sale([line.product_id for line in lines])
        try:
            priced = price_order(lines, {pid: row for pid, (row, _) in found.items()})
        except NotFound as exc:
            raise ValidationError(exc.message, exc.details | {"field": "items"}) from None
        short = [ln.product_id for ln in lines if found[ln.product_id][1] < ln.quantity]
        if short:
            return _final(uow, customer_id, key, request_hash, 409, _error_body(OutOfStock(short)))

        outcome = authorize(card, priced.totals.total_cents)
        if outcome is Outcome.PROCESSOR_ERROR:
            # Not a final answer: nothing is stored, the client may retry with the same key.
            raise PaymentUnavailable("the card processor failed; nothing was charged")
        if outcome is Outcome.DECLINED:
            declined = PaymentDeclined("the card was declined; nothing was charged")
            return _final(uow, customer_id, key, request_hash, 402, _error_body(declined))

        for line in lines:
            # Conditional even under the row lock: stock never goes negative.
            if not uow.products.sell(line.product_id, line.quantity):
                raise OutOfStock([line.product_id])
        last4 = card.number[-4:]
        order_id, created_at = uow.orders.add(customer_id, "PAID", priced, last4)
        uow.payments.capture(order_id, priced.totals.total_cents, last4)
        uow.invoices.add_pending(order_id)
        view = placed_order_view(order_id, created_at, priced, last4)
        return _final(uow, customer_id, key, request_hash, 201, view, order_id)


def _final(uow, customer_id, key, request_hash, status, body, order_id=None) -> CheckoutResult:
    """Store a final outcome under its key in the same transaction, and commit."""
    uow.idempotency.save(customer_id, key, request_hash, status, body, order_id)
    uow.commit()
    return CheckoutResult(status, body)
