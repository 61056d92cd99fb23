"""The public API's shapes of orders (contract/openapi.yaml: Order, OrderSummary)."""

from shop.money import CURRENCY

from .repository import OrderRow

# Orders does not know how an invoice was delivered (the invoices service does): its
# Order says pending, and the gateway fills in the invoices service's status when it
# serves an order.
INVOICE_STATUS = "pending"


def order_view(order: OrderRow, status: str | None = None) -> dict:
    """The API's Order for an order row (with `status` instead of the row's, when given:
    the answer stored in the same write that sets it)."""
    return {
        "id": order.id, "status": status or order.status,
        "created_at": order.created_at.isoformat(),
        "items": [dict(line) for line in order.lines],
        "subtotal_cents": order.subtotal_cents, "vat_cents": order.vat_cents,
        "total_cents": order.total_cents, "currency": CURRENCY,
        "card_last4": order.card_last4, "invoice_status": INVOICE_STATUS,
    }


def order_summary(row: tuple) -> dict:
    """The API's OrderSummary for (id, status, created_at, total_cents, item_count)."""
    order_id, status, created_at, total_cents, item_count = row
    return {"id": order_id, "status": status, "created_at": created_at.isoformat(),
            "total_cents": total_cents, "currency": CURRENCY, "item_count": item_count}
