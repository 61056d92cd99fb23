"""Order history: the customer's own orders, and the API's view of one order."""

from dataclasses import asdict

from shop.errors import NotFound
from shop.money import CURRENCY


def order_view(order) -> dict:
    """The API's Order for an order row."""
    return {
        "id": order.id, "status": order.status, "created_at": order.created_at.isoformat(),
        "items": [dict(line) for line in order.lines],
        "subtotal_cents": order.subtotal_cents, "vat_cents": order.vat_cents,
        "total_cents": order.total_cents, "currency": CURRENCY,
        "card_last4": order.card_last4, "invoice_status": order.invoice_status,
    }


def placed_order_view(order_id: int, created_at, priced, card_last4: str) -> dict:
    """The API's Order for an order just placed: paid, its invoice pending delivery."""
    t = priced.totals
    return {
        "id": order_id, "status": "PAID", "created_at": created_at.isoformat(),
        "items": [asdict(line) for line in priced.lines],
        "subtotal_cents": t.subtotal_cents, "vat_cents": t.vat_cents,
        "total_cents": t.total_cents, "currency": CURRENCY,
        "card_last4": card_last4, "invoice_status": "pending",
    }


def get_order(uow, customer_id: int, order_id: int) -> dict:
    """One of the customer's orders; another customer's is simply not found."""
    with uow:
        order = uow.orders.get(order_id, customer_id)
    if order is None:
        raise NotFound(f"order {order_id} does not exist")
    return order_view(order)


def list_orders(uow, customer_id: int, page: int, per_page: int) -> dict:
    """One page of the customer's orders, newest first."""
    with uow:
        rows, total = uow.orders.page_for_customer(customer_id, per_page, (page - 1) * per_page)
    items = [{"id": i, "status": s, "created_at": c.isoformat(), "total_cents": t,
              "currency": CURRENCY, "item_count": n} for i, s, c, t, n in rows]
    return {"items": items, "page": page, "per_page": per_page, "total": total}
