"""Admin: the raw audit figures and setting a product's stock."""

import datetime

from cardprocessor.client import CardProcessor, ProcessorUnavailable
from shop.errors import NotFound, ServiceUnavailable, ValidationError
from shop.numbers import whole_number

from .payments import processor_figures, undecided_figures


def audit_figures(uow, processor: CardProcessor) -> dict:
    """The raw figures behind the invariants, the payments reconciled with the card
    processor's record; verdicts are computed by `archlab audit`."""
    with uow:
        stock = uow.products.stock_levels()
        figures = uow.audit.figures()
        references = uow.audit.payment_references()
        undecided = undecided_figures(uow, processor.timeout)
    # After the shop's own figures: see processor_figures for why this order.
    try:
        charges = processor.charges()
    except ProcessorUnavailable:
        raise ServiceUnavailable("the card processor is unavailable; retry shortly") from None
    return {
        "architecture": "monolith",
        "generated_at": datetime.datetime.now(datetime.UTC).isoformat(),
        # The monolith checks out in one transaction: nothing is ever reserved.
        "stock": [{"product_id": pid, "initial": initial, "available": available,
                   "reserved": 0, "sold": sold} for pid, initial, available, sold in stock],
        "orders": figures["orders"],
        "payments": figures["payments"],
        "processor": processor_figures(references, charges),
        # Nor is stock ever held for an undecided order.
        "reservations": {"held": 0, "held_units": 0, "held_for_final_orders": 0},
        "idempotency": figures["idempotency"],
        "invoices": figures["invoices"],
        "undecided": undecided,
    }


def set_stock(uow, product_id: int, body) -> dict:
    """Set a product's available units (restock or write-off)."""
    available = whole_number(body.get("available")) if isinstance(body, dict) else None
    if (not isinstance(body, dict) or set(body) != {"available"} or available is None
            or not 0 <= available <= 100_000_000):
        raise ValidationError("the body must be {\"available\": an integer 0..100000000}",
                              {"field": "available"})
    with uow:
        row = uow.products.set_stock(product_id, available)
        if row is None:
            raise NotFound(f"product {product_id} does not exist")
        uow.commit()
    initial, available, sold = row
    return {"product_id": product_id, "initial": initial, "available": available,
            "reserved": 0, "sold": sold}
