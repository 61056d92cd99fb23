"""The saga's steps: one call each to the service that owns the step, idempotent by
order id at that service, answering the state the step left behind.

Both drivers of a saga use these: the request that places the order (saga.py) and the
recovery loop that finishes what a request left (recovery.py). A step raises
UpstreamUnavailable when its owner cannot be reached or its answer is not understood;
what that means (not taken, or unknown) is the driver's to decide.
"""

import logging

from microservices.common.client import Reply, UpstreamUnavailable
from microservices.common.upstreams import Upstreams

log = logging.getLogger("orders.steps")


def _state(reply: Reply, target: str, *ok: int) -> dict:
    """The answer's body when its status is expected; otherwise the step failed in a way
    the saga cannot interpret - treated like an unreachable owner, never as a result."""
    if reply.status in ok:
        return reply.body
    log.error("%s answered %s: %s", target, reply.status, reply.body)
    raise UpstreamUnavailable(target, f"unexpected answer HTTP {reply.status}")


def reserve(ups: Upstreams, order_id: int, items: list[dict]) -> dict:
    """Hold the items' stock for the order: the Reservation ("reserved" or "out_of_stock")."""
    reply = ups["inventory"].post("/internal/reservations/{order_id}", {"items": items},
                                  order_id=order_id)
    return _state(reply, "inventory", 200)


def commit(ups: Upstreams, order_id: int) -> dict:
    """Turn the order's held stock into sold stock: the Reservation ("committed")."""
    reply = ups["inventory"].post("/internal/reservations/{order_id}/commit", {},
                                  order_id=order_id)
    return _state(reply, "inventory", 200)


def release(ups: Upstreams, order_id: int) -> dict:
    """Give the order's held stock back, or leave a tombstone so a late reserve holds
    nothing: the Reservation ("released", or "out_of_stock" if nothing was ever held)."""
    reply = ups["inventory"].post("/internal/reservations/{order_id}/release", {},
                                  order_id=order_id)
    return _state(reply, "inventory", 200)


def charge(ups: Upstreams, order_id: int, customer_id: int, amount_cents: int,
           card: dict) -> Reply:
    """Charge the order's total: 200 (captured, declined, or void/refunded when the
    payment was cancelled), 202 (charging: the processor's answer is unknown), or 503
    with the payments service's error (nothing was charged)."""
    reply = ups["payments"].post("/internal/payments/{order_id}/charge",
                                 {"amount_cents": amount_cents, "card": card},
                                 on_behalf_of=customer_id, order_id=order_id)
    _state(reply, "payments", 200, 202, 503)
    return reply


def payment(ups: Upstreams, order_id: int) -> dict | None:
    """The order's payment as the payments service knows it after asking the processor,
    or None if no charge was ever recorded for it."""
    reply = ups["payments"].get("/internal/payments/{order_id}", order_id=order_id)
    if reply.status == 404:
        return None
    return _state(reply, "payments", 200)


def cancel(ups: Upstreams, order_id: int) -> dict:
    """Make sure the order is never charged: refund a capture, or leave a tombstone at
    the payments service and the processor so a late charge captures nothing. The
    Payment afterwards ("void", "refunded" or "declined")."""
    reply = ups["payments"].post("/internal/payments/{order_id}/cancel", {},
                                 order_id=order_id)
    return _state(reply, "payments", 200)
