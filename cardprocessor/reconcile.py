"""A merchant's reconciliation of its own payments with the processor's record.

Both shops audit themselves the same way, so the figures mean the same on both
architectures: which captures the processor holds that no payment of the shop
accounts for, and the reverse.
"""

from collections.abc import Callable, Iterable

from .client import Charge


def reconcile(captured_references: Iterable[str], charges: Iterable[Charge],
              ours: Callable[[str], bool]) -> dict:
    """The audit's processor figures: `captured_references` are the shop's captured
    payments, `charges` the processor's record, `ours` tells the shop's references from
    other merchants'.

    Read the shop's payments first and the processor second: a payment is recorded
    captured only after its capture, so every one read is captured at the processor by
    then, and payments_without_capture stays zero even under load, while
    captures_without_payment counts charges between capture and record (and abandoned
    ones until they are refunded).
    """
    mine = [c for c in charges if ours(c.reference)]
    captured = {c.reference: c.amount_cents for c in mine if c.status == "captured"}
    paid = set(captured_references)
    return {
        "captures": len(captured),
        "captured_total_cents": sum(captured.values()),
        "refunds": sum(c.status == "refunded" for c in mine),
        "captures_without_payment": len(captured.keys() - paid),
        "payments_without_capture": len(paid - captured.keys()),
    }
