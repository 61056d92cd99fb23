"""Card payments at the external card processor: references, settling abandoned charge
attempts, and reconciling the shop's payments with the processor's record.

Every charge the checkout sends has a charge attempt row, committed before the charge
goes out. The checkout's transaction locks it and, when it commits, records its final
status with the order. An attempt still 'started' with no transaction holding it was
abandoned: its transaction rolled back (a timeout, a crash), so no order took effect,
and whatever the processor did with its charge must be undone here.
"""

import logging
import uuid

from cardprocessor.client import CardProcessor, Charge, ProcessorUnavailable
from cardprocessor.reconcile import reconcile
from plumbing.worker import beat

log = logging.getLogger("monolith.payments")

# Every charge of this shop carries it: a processor serving several shops (both
# architectures share one in the lab) holds other merchants' charges too.
REFERENCE_PREFIX = "rackshop-mono-"

# An attempt is only swept once this old. Correctness does not depend on it: a checkout
# still running holds its attempt's row lock, so the sweep skips it, and one that has
# ended never charges with that reference again. The grace keeps the sweep off the
# moment between an attempt's insert and its lock, and, being above the processor
# client's default timeout (3 s), lets a charge that timed out land first, so the sweep finds it
# captured and refunds it rather than racing it with a tombstone.
ABANDONED_AFTER_SECONDS = 5.0

# How often the worker sweeps.
SWEEP_EVERY_SECONDS = 1.0
# How long an attempt a worker claimed is its own: longer than settling it can take (a
# lookup and a refund at the processor's timeout), short enough that a paused worker's
# attempts are soon settled by another.
LEASE_SECONDS = 15.0
# The audit lists at most this many undecided attempts (it counts them all).
UNDECIDED_LISTED = 50

# The attempt's final status for what the processor holds after a refund request.
_AFTER_REFUND = {"refunded": "refunded", "voided": "void", "declined": "declined"}


def new_reference() -> str:
    """A fresh merchant reference for one charge attempt."""
    return REFERENCE_PREFIX + uuid.uuid4().hex


def settle_abandoned_charges(uow, processor: CardProcessor, limit: int) -> dict[str, int]:
    """Settle up to `limit` abandoned charge attempts at the processor: refund a capture,
    record a decline, and void a reference never charged with a tombstone, so a charge
    still in flight with it captures nothing. Returns how many ended in each status;
    attempts the processor could not be asked about stay for the next round.

    The attempts are leased in a short transaction and settled outside it, holding no
    row lock while the processor is called, so a paused worker holds nothing up for
    longer than its lease (another worker takes the attempts over then)."""
    with uow:
        references = uow.charges.claim_abandoned(ABANDONED_AFTER_SECONDS, limit,
                                                 LEASE_SECONDS)
        uow.commit()
    settled: dict[str, int] = {}
    for reference in references:
        beat()  # each attempt may wait out two calls' timeouts
        try:
            status = _settle(processor, reference)
        except ProcessorUnavailable as exc:
            log.warning("card processor unavailable (%s); abandoned charges wait", exc)
            _note(uow, reference, f"the card processor cannot be reached: {exc}")
            break
        if status is None:
            _note(uow, reference, "the card processor holds an unexpected status after a "
                                  "refund")
            continue
        with uow:
            if uow.charges.settle(reference, status):
                settled[status] = settled.get(status, 0) + 1
            uow.commit()
    return settled


def _note(uow, reference: str, error: str) -> None:
    with uow:
        uow.charges.note_error(reference, error)
        uow.commit()


def decision_bound_seconds(processor_timeout: float) -> float:
    """How long after its checkout began an abandoned attempt is settled at the latest,
    once the processor answers again: the sweep's grace, one sweep interval, and the
    sweep's two calls to the processor (a lookup and a refund) at its timeout."""
    return ABANDONED_AFTER_SECONDS + SWEEP_EVERY_SECONDS + 2 * processor_timeout


def undecided_figures(uow, processor_timeout: float) -> dict:
    """The charge attempts not settled after the sweep's grace, as the audit shows them
    (read inside the caller's unit of work)."""
    count, items = uow.audit.undecided(ABANDONED_AFTER_SECONDS, UNDECIDED_LISTED)
    return {"count": count, "bound_seconds": decision_bound_seconds(processor_timeout),
            "items": items}


def _settle(processor: CardProcessor, reference: str) -> str | None:
    """The attempt's final status once the processor's record is settled; None if the
    processor holds something unexpected (logged, retried next round)."""
    charge = processor.lookup(reference)
    if charge is not None and charge.status == "declined":
        return "declined"
    if charge is not None and charge.status == "refunded":
        return "refunded"
    # Captured: no order took the money, give it back. Voided or not found: refunding
    # leaves (or keeps) a tombstone, and answers 'refunded' instead if a charge in
    # flight captured meanwhile.
    after = processor.refund(reference).status
    if after not in _AFTER_REFUND:
        log.error("charge %s is %r at the processor after a refund; retrying later",
                  reference, after)
        return None
    return _AFTER_REFUND[after]


def processor_figures(payment_references: list[str], charges: list[Charge]) -> dict:
    """The shop's captured payments reconciled with the processor's charges, by reference
    (read the payments first: see cardprocessor.reconcile)."""
    return reconcile(payment_references, charges,
                     lambda reference: reference.startswith(REFERENCE_PREFIX))
