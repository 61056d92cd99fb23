"""Checkout as a saga, driven by the request that places the order.

The monolith buys in one ACID transaction; here the order, the stock and the payment
live in three databases, so the orders service records the order first (PENDING) and
then calls each step's owner in turn, recording each step before it calls it:

    reserve (inventory) -> charge (payments) -> PAID -> commit the reservation
    out of stock                             -> FAILED (409), nothing held
    declined                                 -> release -> FAILED (402)
    nothing charged (processor error, or a step never sent)
                                             -> cancel, release -> the order is removed
                                                and its key freed (503: retry)

Every step is idempotent by order id at its owner. When a step's outcome is unknown (a
timeout, a dropped connection) nothing is guessed: the client hears 409 in_progress and
the recovery loop (recovery.py) finishes the order after its deadline; the client's
replay with the same key then gets the final answer. A 402 or 409 is answered only
after the stock is back, a 503 only when the order provably did not take effect.
"""

import logging
import os
from dataclasses import dataclass
from datetime import date
from types import SimpleNamespace

from microservices.common.client import Reply, UpstreamUnavailable
from microservices.common.upstreams import Upstreams
from plumbing.errors import ApiError
from plumbing.testhooks import crash_point
from shop.cards import parse_card
from shop.errors import DomainError, NotFound, OutOfStock, PaymentDeclined, ValidationError
from shop.orders import PricedOrder, parse_items, price_order, request_fingerprint

from . import steps
from .repository import REQUEST, OrderRow, OrderStore
from .views import order_view

log = logging.getLogger("orders.saga")

# Past this many seconds after an order was placed, the recovery loop takes it over. It
# must exceed the longest the request can still be driving it (its calls' read timeouts
# add up to 21 s at worst: price lookup 3 s, reserve 3 s, charge 6 s, then cancel 6 s
# and release 3 s when nothing was charged; api.TARGETS), or both would drive the
# order at once (harmless - every step is idempotent - but wasteful); and a buyer whose
# request died should learn the outcome within half a minute.
DEFAULT_DEADLINE_SECONDS = 30.0

# Product ids are PostgreSQL integers.
MAX_PRODUCT_ID = 2**31 - 1
# The payments service's 503 codes: each means the charge did not happen.
NOTHING_CHARGED = ("payment_unavailable", "service_unavailable")
DECLINED = PaymentDeclined("the card was declined; nothing was charged")


@dataclass(frozen=True)
class Answer:
    """What the client hears: HTTP status, JSON body, and whether it is a replay."""

    status: int
    body: dict
    replayed: bool = False


def deadline_seconds() -> float:
    """The saga deadline (ORDERS_SAGA_DEADLINE_SECONDS, default 30)."""
    return float(os.environ.get("ORDERS_SAGA_DEADLINE_SECONDS", DEFAULT_DEADLINE_SECONDS))


def error_body(exc: DomainError) -> dict:
    """The contract's error body for a final failure stored under a key."""
    body = {"error": exc.code, "message": exc.message}
    if exc.details:
        body["details"] = exc.details
    return body


def in_progress() -> ApiError:
    """409 in_progress: the outcome is not known yet; the same key later gets it."""
    return ApiError("in_progress", "this order is still being processed; retry with the "
                    "same Idempotency-Key shortly")


def replay(order: OrderRow, request_hash: str) -> Answer:
    """The stored final answer for a key, if the request is the same and it is final."""
    if order.request_hash != request_hash:
        raise ApiError("idempotency_key_mismatch", "this Idempotency-Key was used for "
                       "a different request")
    if order.answer_status is None:
        raise in_progress()
    return Answer(order.answer_status, order.answer, replayed=True)


class CheckoutSaga:
    """One checkout request: validates, prices, records the order, drives its steps."""

    def __init__(self, store: OrderStore, ups: Upstreams, deadline: float):
        self.store = store
        self.ups = ups
        self.deadline = deadline

    def checkout(self, customer_id: int, key: str, body, today: date) -> Answer:
        """Buy the body's items with its card, exactly once per (customer, key)."""
        request_hash = request_fingerprint(body)
        existing = self.store.by_key(customer_id, key)
        if existing is not None:
            return replay(existing, request_hash)
        if not isinstance(body, dict) or set(body) - {"items", "card"}:
            raise ValidationError("the body must be an object with exactly 'items' and 'card'",
                                  {"field": "body"})
        lines = parse_items(body.get("items"))
        card = parse_card(body.get("card"), today)
        priced = self._price(lines)
        order = self.store.create(customer_id, key, request_hash, priced,
                                  card.number[-4:], self.deadline)
        if order is None:
            # Another request with this key got there first.
            existing = self.store.by_key(customer_id, key)
            if existing is None:
                raise in_progress()
            return replay(existing, request_hash)
        card_body = {"number": card.number, "exp_month": card.exp_month,
                     "exp_year": card.exp_year, "cvc": card.cvc, "holder": card.holder}
        return self._drive(order, priced, card_body)

    def _price(self, lines) -> PricedOrder:
        """Price the lines at the catalog's current prices."""
        # An id past the catalog's range cannot be a product: left out, it is unknown.
        ids = [ln.product_id for ln in lines if ln.product_id <= MAX_PRODUCT_ID]
        try:
            reply = self.ups["catalog"].post("/internal/products/lookup", {"ids": ids}) \
                if ids else Reply(200, {"items": []})
        except UpstreamUnavailable as exc:
            log.warning("catalog unavailable: %s", exc)
            raise ApiError("service_unavailable", "the catalog service is unavailable; "
                           "nothing was bought, retry shortly") from None
        if reply.status != 200:
            log.error("catalog lookup answered %s: %s", reply.status, reply.body)
            raise ApiError("service_unavailable", "pricing failed; nothing was bought")
        products = {p["id"]: SimpleNamespace(**p) for p in reply.body["items"]}
        try:
            return price_order(lines, products)
        except NotFound as exc:
            raise ValidationError(exc.message, exc.details | {"field": "items"}) from None

    def _drive(self, order: OrderRow, priced: PricedOrder, card: dict) -> Answer:
        items = [{"product_id": ln.product_id, "quantity": ln.quantity} for ln in priced.lines]
        try:
            held = steps.reserve(self.ups, order.id, items)
        except UpstreamUnavailable as exc:
            log.warning("order %s: reserve failed (%s)", order.id, exc)
            return self._abandon(order.id, held=exc.sent, charged=False,
                                 code="service_unavailable",
                                 message="the inventory service is unavailable; nothing "
                                         "was bought, retry shortly")
        if held["status"] == "out_of_stock":
            answer = error_body(OutOfStock(held["short_product_ids"]))
            return self._finish_failed(order.id, 409, answer)
        if held["status"] != "reserved":
            raise in_progress()  # released: recovery took this order over
        crash_point("orders.after_reserve")

        if not self.store.set_step(order.id, "charge", REQUEST):
            raise in_progress()
        try:
            paid = steps.charge(self.ups, order.id, order.customer_id,
                                priced.totals.total_cents, card)
        except UpstreamUnavailable as exc:
            log.warning("order %s: charge failed (%s)", order.id, exc)
            if exc.sent:
                raise in_progress() from None  # the charge's outcome is unknown
            return self._abandon(order.id, held=True, charged=False,
                                 code="service_unavailable",
                                 message="the payments service is unavailable; nothing "
                                         "was charged, retry shortly")
        return self._after_charge(order, paid)

    def _after_charge(self, order: OrderRow, paid: Reply) -> Answer:
        if paid.status == 503:
            # A definite "nothing was charged" (e.g. the processor failed).
            code = paid.body.get("error")
            return self._abandon(order.id, held=True, charged=True,
                                 code=code if code in NOTHING_CHARGED else "payment_unavailable",
                                 message=paid.body.get("message", "nothing was charged"))
        status = paid.body.get("status")
        if paid.status == 200 and status == "captured":
            crash_point("orders.after_charge")
            view = order_view(order, status="PAID")  # the row read when it was placed
            if not self.store.mark_paid(order.id, view, REQUEST):
                raise in_progress()
            commit_reservation(self.store, self.ups, order.id)
            return Answer(201, view)
        if paid.status == 200 and status == "declined":
            if not self.store.set_step(order.id, "release", REQUEST):
                raise in_progress()
            try:
                steps.release(self.ups, order.id)
            except UpstreamUnavailable as exc:
                log.warning("order %s: release after decline failed (%s)", order.id, exc)
                raise in_progress() from None
            return self._finish_failed(order.id, 402, error_body(DECLINED))
        # 202 charging: the processor's answer is unknown; void/refunded: recovery took
        # the order over and cancelled it. Either way recovery has the last word.
        raise in_progress()

    def _finish_failed(self, order_id: int, status: int, answer: dict) -> Answer:
        if not self.store.mark_failed(order_id, status, answer, REQUEST):
            raise in_progress()
        return Answer(status, answer)

    def _abandon(self, order_id: int, *, held: bool, charged: bool, code: str,
                 message: str) -> Answer:
        """Undo what may have been done and remove the order, then answer 503; or, if the
        undoing fails, leave it to recovery (409 in_progress). `held`: a reservation may
        exist; `charged`: a charge may have reached the payments service."""
        if not self.store.set_step(order_id, "release", REQUEST):
            raise in_progress()
        try:
            if charged:
                steps.cancel(self.ups, order_id)
            if held:
                steps.release(self.ups, order_id)
        except UpstreamUnavailable as exc:
            log.warning("order %s: undoing failed (%s); recovery will finish it", order_id, exc)
            raise in_progress() from None
        if not self.store.remove(order_id, REQUEST):
            raise in_progress()
        raise ApiError(code, message)


def commit_reservation(store: OrderStore, ups: Upstreams, order_id: int) -> bool:
    """Commit a PAID order's reservation; on failure the worker re-drives it later."""
    try:
        held = steps.commit(ups, order_id)
    except UpstreamUnavailable as exc:
        log.warning("order %s: commit failed (%s); the worker will retry", order_id, exc)
        return False
    if held["status"] != "committed":
        log.error("order %s is PAID but its reservation is %s", order_id, held["status"])
        return False
    store.mark_committed(order_id)
    return True
