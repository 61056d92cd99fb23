"""Admin: the raw audit figures and setting a product's stock."""

import datetime

from shop.errors import NotFound, ValidationError
from shop.numbers import whole_number


def audit_figures(uow) -> dict:
    """The raw figures behind the invariants; verdicts are computed by `archlab audit`."""
    with uow:
        stock = uow.products.stock_levels()
        figures = uow.audit.figures()
    return {
        "architecture": "monolith",
        "generated_at": datetime.datetime.now(datetime.UTC).isoformat(),
        # The monolith checks out in one transaction: nothing is ever reserved.
        "stock": [{"product_id": pid, "initial": initial, "available": available,
                   "reserved": 0, "sold": sold} for pid, initial, available, sold in stock],
        **figures,
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
