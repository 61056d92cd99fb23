"""Recovery: finishing the orders that their requests left, without guessing.

An order still PENDING past its deadline was left by a request that died, timed out or
could not undo what it had done. Recovery never infers the outcome from the step the
order reached: it asks the owners. The payments service first (it resolves a charge
whose answer was lost by looking the charge up at the card processor):

- captured: the buyer paid, so the order is PAID and its reservation committed;
- still unknown (the processor cannot be asked right now): try again later;
- anything else: the payment is cancelled first - a refund, or a tombstone at payments
  and at the processor, so a charge still in flight can never become a payment without
  an order - and then the reservation is released (or tombstoned). A declined card
  ends FAILED with 402, a reservation that found no stock FAILED with 409; any other
  order provably did not take effect and is removed, freeing its key for a retry.

It runs in the orders service's worker process, never in a web worker.
"""

import logging

from microservices.common.client import UpstreamUnavailable
from microservices.common.upstreams import Upstreams
from shop.errors import OutOfStock

from . import steps
from .repository import RECOVERY, OrderRow, OrderStore
from .saga import DECLINED, commit_reservation, error_body
from .views import order_view

log = logging.getLogger("orders.recovery")

# A deadline pushed back after each failed attempt grows to at most this.
RETRY_CAP_SECONDS = 30.0
# A PAID order's commit is left to the request that paid it for this long.
COMMIT_GRACE_SECONDS = 2.0


def recover(store: OrderStore, ups: Upstreams, order: OrderRow) -> str:
    """Finish one overdue order that recovery has taken over; returns what became of it
    ("paid", "failed", "removed", "unresolved")."""
    paid = steps.payment(ups, order.id)
    status = paid["status"] if paid else None
    if status == "captured":
        store.mark_paid(order.id, order_view(order, status="PAID"), RECOVERY)
        commit_reservation(store, ups, order.id)
        return "paid"
    if status == "charging":
        return "unresolved"  # the processor could not be asked; ask again later
    if status != "declined":
        status = steps.cancel(ups, order.id)["status"]
    held = steps.release(ups, order.id)
    if status == "declined":
        store.mark_failed(order.id, 402, error_body(DECLINED), RECOVERY)
        return "failed"
    if held["status"] == "out_of_stock":
        store.mark_failed(order.id, 409, error_body(OutOfStock(held["short_product_ids"])),
                          RECOVERY)
        return "failed"
    store.remove(order.id, RECOVERY)
    return "removed"


def run_once(store: OrderStore, ups: Upstreams, batch: int) -> dict[str, int]:
    """One round: take over overdue orders and finish them, and commit the reservations
    of PAID orders whose request did not. Returns counts by outcome."""
    outcomes: dict[str, int] = {}
    for order in store.claim_overdue(batch, RETRY_CAP_SECONDS):
        try:
            outcome = recover(store, ups, order)
        except UpstreamUnavailable as exc:
            store.note_error(order.id, str(exc))
            outcome = "unresolved"
        log.info("order %s (step %s, attempt %s): %s", order.id, order.step, order.attempts + 1,
                 outcome)
        outcomes[outcome] = outcomes.get(outcome, 0) + 1
    for order_id in store.claim_uncommitted(COMMIT_GRACE_SECONDS, batch):
        if commit_reservation(store, ups, order_id):
            outcomes["committed"] = outcomes.get("committed", 0) + 1
    return outcomes
