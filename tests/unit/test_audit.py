"""The audit's verdicts: each invariant holds on consistent figures and fails on figures
with the defect it exists to catch."""

import copy

import pytest

from archlab.audit import verdicts, violations


def figures() -> dict:
    """Consistent figures of a settled stack: 2 PAID orders (3 units), 1 FAILED."""
    return {
        "architecture": "microservices", "generated_at": "2026-11-27T00:00:00+00:00",
        "stock": [{"product_id": 1, "initial": 10, "available": 8, "reserved": 0, "sold": 2},
                  {"product_id": 2, "initial": 5, "available": 4, "reserved": 0, "sold": 1}],
        "orders": {"PENDING": 0, "PAID": 2, "FAILED": 1, "paid_total_cents": 300,
                   "paid_units": 3},
        "payments": {"captured": 2, "captured_total_cents": 300, "without_order": 0,
                     "paid_orders_not_matched": 0},
        "processor": {"captures": 2, "captured_total_cents": 300, "refunds": 1,
                      "captures_without_payment": 0, "payments_without_capture": 0},
        "reservations": {"held": 0, "held_units": 0, "held_for_final_orders": 0},
        "idempotency": {"keys": 3, "keys_with_order": 2, "orders_without_key": 0},
        "invoices": {"pending": 0, "printed": 2, "emailed": 0,
                     "paid_orders_without_invoice": 0, "duplicate_deliveries": 0},
        "undecided": {"count": 0, "bound_seconds": 38.5, "items": []},
    }


def undecided(age_seconds: float, attempts: int) -> dict:
    """One order recovery has not decided, `age_seconds` after its checkout began."""
    return {"count": 1, "bound_seconds": 38.5, "items": [
        {"kind": "order", "id": "17", "age_seconds": age_seconds, "attempts": attempts,
         "last_error": "payments unavailable: the card processor cannot be reached"}]}


def broken(path: str, value) -> dict:
    f = copy.deepcopy(figures())
    *parents, leaf = path.split(".")
    target = f
    for name in parents:
        target = target[int(name)] if name.isdigit() else target[name]
    target[leaf] = value
    return f


def test_consistent_figures_hold():
    assert [v.number for v in verdicts(figures())] == [1, 2, 3, 4, 5]
    assert violations(figures()) == []


@pytest.mark.parametrize("path,value,invariant", [
    ("stock.0.available", 9, 1),                    # a unit appeared from nowhere
    ("stock.1.sold", 2, 1),                         # sold but not by a PAID order
    ("stock.0.reserved", 1, 1),                     # reserved stock no reservation holds
    ("payments.paid_orders_not_matched", 1, 2),
    ("payments.without_order", 1, 2),
    ("processor.captures_without_payment", 1, 2),   # a capture nobody accounts for
    ("processor.payments_without_capture", 1, 2),
    ("processor.captures", 3, 2),                   # charged twice
    ("orders.PENDING", 1, 3),
    ("reservations.held", 1, 3),
    ("undecided.count", 1, 3),                      # a charge attempt left unsettled
    ("idempotency.orders_without_key", 1, 4),
    ("idempotency.keys_with_order", 3, 4),          # two orders for one key
    ("invoices.pending", 1, 5),
    ("invoices.paid_orders_without_invoice", 1, 5),
    ("invoices.duplicate_deliveries", 1, 5),        # printed twice, or printed and mailed
])
def test_each_defect_breaks_its_invariant(path, value, invariant):
    assert invariant in {v.number for v in violations(broken(path, value))}


def test_in_flight_figures_are_judged_only_on_what_holds_at_every_moment():
    in_flight = broken("orders.PENDING", 1)
    in_flight["processor"]["captures_without_payment"] = 1
    in_flight["invoices"]["pending"] = 2
    in_flight["invoices"]["paid_orders_without_invoice"] = 1
    assert violations(in_flight, settled=False) == []
    assert {v.number for v in violations(in_flight)} == {2, 3, 5}


def test_a_checkout_undecided_past_its_bound_breaks_invariant_3_even_in_flight():
    late = broken("undecided", undecided(60.0, 4))
    [verdict] = [v for v in violations(late, settled=False)]
    assert verdict.number == 3
    assert "1 checkouts undecided past the 38 s bound: order 17 (60 s, 4 attempts: " \
           "payments unavailable" in verdict.detail


def test_a_checkout_within_its_bound_or_not_tried_yet_is_only_in_flight():
    for item in (undecided(20.0, 1), undecided(60.0, 0)):
        assert violations(broken("undecided", item), settled=False) == []
        assert {v.number for v in violations(broken("undecided", item))} == {3}


def test_invoices_are_judged_only_where_they_are_delivered():
    f = broken("invoices.pending", 2)
    assert violations(f, invoices=False) == []
    assert [v.number for v in verdicts(f, invoices=False)] == [1, 2, 3, 4]
