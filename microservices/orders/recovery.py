"""Recovery: finishing the orders that their requests left, without guessing.

An order still PENDING past its deadline was left by a request that died, timed out or
could not undo what it had done. Recovery never infers the outcome from the step the
order reached: it asks the owners. The payments service first (it resolves a charge
whose answer was lost by looking the charge up at the card processor):

- captured: the buyer paid, so the order is PAID and its reservation committed;
- still open because the processor cannot be asked right now: try again later, with
  the reason kept on the order (`last_error`) and the order counted undecided, with its
  age, in the audit figures until it is decided;
- anything else - the processor holds no record of the charge (it answered an error
  without recording one, or the charge never reached it), or nothing was ever charged:
  the payment is cancelled first - a refund, or a tombstone at payments
  and at the processor, so a charge still in flight can never become a payment without
  an order - and then the reservation is released (or tombstoned). A declined card
  ends FAILED with 402, a reservation that found no stock FAILED with 409; any other
  order provably did not take effect and is removed, freeing its key for a retry.

It runs in the orders service's worker process, never in a web worker.
"""

import logging

from microservices.common.client import UpstreamUnavailable
from microservices.common.upstreams import Upstreams
from plumbing.worker import beat
from shop.errors import OutOfStock

from . import steps
from .repository import RECOVERY, OrderRow, OrderStore
from .saga import DECLINED, commit_reservation, error_body
from .views import order_view

log = logging.getLogger("orders.recovery")

# A deadline pushed back after each failed attempt grows to at most this.
RETRY_CAP_SECONDS = 30.0
# How often the worker looks for overdue orders (and outbox events).
POLL_SECONDS = 0.5
# A PAID order's commit is left to the request that paid it for this long.
COMMIT_GRACE_SECONDS = 2.0


class Undecided(Exception):
    """The order cannot be decided now (its payment's processor cannot be asked)."""


def recover(store: OrderStore, ups: Upstreams, order: OrderRow) -> str:
    """Finish one overdue order that recovery has taken over; returns what became of it
    ("paid", "failed", "removed"). Raises Undecided or UpstreamUnavailable when it
    cannot be finished yet."""
    paid = steps.payment(ups, order.id)
    status = paid["status"] if paid else None
    if status == "captured":
        store.mark_paid(order.id, order_view(order, status="PAID"), RECOVERY)
        commit_reservation(store, ups, order.id)
        return "paid"
    if paid and paid.get("processor") == "unreachable":
        # Open, and the processor could not say whether it charged: cancelling now could
        # race a capture it is still making, so ask again later (never guess).
        raise Undecided("the card processor cannot be reached: "
                        + paid.get("processor_error", "no reason given"))
    # Open with no record at the processor (a charge that failed before it was recorded
    # there, or never arrived): past the deadline nothing will capture it any more once
    # the cancel below leaves the processor's tombstone, so it is cancelled.
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


def decision_bound_seconds(deadline_seconds: float) -> float:
    """How long after its checkout began an order is decided at the latest, once the
    owners it asks answer again: the saga deadline, the longest wait between two
    recovery attempts, and one poll of the worker."""
    return deadline_seconds + RETRY_CAP_SECONDS + POLL_SECONDS


def run_once(store: OrderStore, ups: Upstreams, batch: int) -> dict[str, int]:
    """One round: take over overdue orders and finish them, and commit the reservations
    of PAID orders whose request did not. Returns counts by outcome."""
    outcomes: dict[str, int] = {}
    for order in store.claim_overdue(batch, RETRY_CAP_SECONDS):
        beat()  # each order may wait out several calls' timeouts
        try:
            outcome = recover(store, ups, order)
        except (Undecided, UpstreamUnavailable) as exc:
            store.note_error(order.id, str(exc))
            outcome = "unresolved"
        log.info("order %s (step %s, attempt %s): %s", order.id, order.step, order.attempts + 1,
                 outcome)
        outcomes[outcome] = outcomes.get(outcome, 0) + 1
    for order_id in store.claim_uncommitted(COMMIT_GRACE_SECONDS, batch):
        beat()
        if commit_reservation(store, ups, order_id):
            outcomes["committed"] = outcomes.get("committed", 0) + 1
    return outcomes
