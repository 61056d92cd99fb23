"""The public API composed from the services' internal APIs.

Each function returns the public contract's shape or raises ApiError, so the API
views and the pages' backend share it. A failing critical service is a 503; a
failing inventory only degrades a product's stock to "unknown".
"""

import datetime
import logging

from flask import g

from microservices.common.client import Reply, UpstreamUnavailable
from plumbing.errors import STATUS_BY_CODE, ApiError
from shop.invoices import InvoiceData, invoice_number, render_html, render_text
from shop.money import Totals
from shop.orders import PricedLine

from .upstreams import upstreams

log = logging.getLogger("gateway.composition")

# How long the product page waits for stock before showing it as unknown.
STOCK_WAIT_SECONDS = 1.0
# The answers of a checkout that are the client's to hear, as orders gives them.
CHECKOUT_ANSWERS = (201, 402, 409, 422, 503)


def _unavailable(exc: UpstreamUnavailable) -> ApiError:
    log.warning("upstream unavailable: %s", exc)
    return ApiError("service_unavailable", f"the {exc.target} service is unavailable; "
                    "retry shortly")


def _answer(reply: Reply, *ok: int) -> dict:
    """The reply's body when its status is expected; its error passed on otherwise."""
    if reply.status in ok:
        return reply.body
    code = reply.body.get("error")
    if code in STATUS_BY_CODE and code != "unauthorized":
        raise ApiError(code, reply.body.get("message", code), reply.body.get("details"))
    # A 401 from a service means the gateway's own credentials failed: not the client's fault.
    log.error("unexpected answer %s: %s", reply.status, reply.body)
    raise ApiError("service_unavailable", "an internal call failed; retry shortly")


def _call(service: str, method: str, template: str, *args, **kw) -> Reply:
    """A service's reply, or 503 when it cannot be reached."""
    try:
        return getattr(upstreams()[service], method)(template, *args, **kw)
    except UpstreamUnavailable as exc:
        raise _unavailable(exc) from None


def _get(service: str, template: str, *ok: int, **kw) -> dict:
    return _answer(_call(service, "get", template, **kw), *(ok or (200,)))


def login(email: str, password: str) -> dict:
    """The accounts service checks the credentials and issues the token."""
    try:
        reply = upstreams()["accounts"].post("/internal/login",
                                             {"email": email, "password": password})
    except UpstreamUnavailable as exc:
        raise _unavailable(exc) from None
    return _answer(reply, 200)


def categories() -> dict:
    """Every category with its product count."""
    return _get("catalog", "/internal/categories")


def search(q: str | None, category: str | None, page: int, per_page: int) -> dict:
    """One page of products (the catalog answers the public shape)."""
    query = {"q": q, "category": category, "page": page, "per_page": per_page}
    return _get("catalog", "/internal/products", query=query)


def product(product_id: int) -> dict:
    """A product from catalog with its stock from inventory, fetched in parallel.

    Stock is best effort: if inventory is slow or down the product is still served,
    with `available: null` (a degraded answer the contract defines).
    """
    ups = upstreams()
    # The parallel call runs outside the request: it is given the request id (cheaper
    # than a copy of the whole request context, which routes the request again).
    stock_call = ups.executor.submit(ups["inventory"].get, "/internal/stock/{product_id}",
                                     request_id=g.get("request_id"), product_id=product_id)
    try:
        item = _get("catalog", "/internal/products/{product_id}", product_id=product_id)
    except ApiError:
        stock_call.cancel()
        raise
    available = None
    try:
        reply = stock_call.result(timeout=STOCK_WAIT_SECONDS)
        if reply.status == 200:
            available = reply.body["available"]
    except (UpstreamUnavailable, TimeoutError) as exc:
        log.warning("stock of product %s unknown: %s", product_id, exc)
    stock = ({"available": None, "status": "unknown"} if available is None else
             {"available": available, "status": "in_stock" if available > 0 else "out_of_stock"})
    return item | {"stock": stock}


def set_stock(product_id: int, body) -> dict:
    """Set a product's available stock in inventory."""
    try:
        reply = upstreams()["inventory"].put("/internal/stock/{product_id}", body,
                                             product_id=product_id)
    except UpstreamUnavailable as exc:
        raise _unavailable(exc) from None
    return _answer(reply, 200)


def checkout(customer_id: int, key: str, body) -> Reply:
    """Place an order through the orders service's saga; its answer is the client's.

    If orders cannot be reached the order was never placed (503). If the call was sent
    but its answer is lost, the outcome is unknown: 409 in_progress tells the client to
    replay the same key, which then gets the final answer."""
    try:
        reply = upstreams()["orders"].post("/internal/orders",
                                           {"idempotency_key": key, "order": body},
                                           on_behalf_of=customer_id)
    except UpstreamUnavailable as exc:
        log.warning("checkout for customer %s: %s", customer_id, exc)
        if exc.sent:
            raise ApiError("in_progress", "the outcome of this order is not known yet; "
                           "retry with the same Idempotency-Key shortly") from None
        raise _unavailable(exc) from None
    if reply.status in CHECKOUT_ANSWERS:
        return reply
    return Reply(200, _answer(reply))  # raises: no other answer is the client's


def orders(customer_id: int, page: int, per_page: int) -> dict:
    """One page of the customer's orders, newest first."""
    return _get("orders", "/internal/orders", on_behalf_of=customer_id,
                query={"page": page, "per_page": per_page})


def order(customer_id: int, order_id: int) -> dict:
    """One of the customer's orders (404 for anyone else's), with its invoice's delivery
    status from the invoices service, asked in parallel (left as orders has it if that
    cannot be asked)."""
    ups = upstreams()
    status_call = ups.executor.submit(ups["invoices"].get, "/internal/invoices/{order_id}",
                                      on_behalf_of=customer_id,
                                      request_id=g.get("request_id"), order_id=order_id)
    try:
        found = _get("orders", "/internal/orders/{order_id}", on_behalf_of=customer_id,
                     order_id=order_id)
    except ApiError:
        status_call.cancel()
        raise
    try:
        reply = status_call.result()
    except UpstreamUnavailable as exc:
        log.warning("invoice status of order %s unknown: %s", order_id, exc)
        return found
    if reply.status == 200:
        found["invoice_status"] = reply.body["status"]
    return found


def invoice(customer_id: int, order_id: int) -> dict:
    """The customer's invoice for an order (404 for anyone else's: the invoices service
    answers only the token's customer). Until the order's PAID event has reached the
    invoices service it is rendered here, pending, from the order."""
    reply = _call("invoices", "get", "/internal/invoices/{order_id}",
                  on_behalf_of=customer_id, order_id=order_id)
    if reply.status != 404:
        return _answer(reply, 200)
    found = _get("orders", "/internal/orders/{order_id}", on_behalf_of=customer_id,
                 order_id=order_id)
    return pending_invoice(found, _get("accounts", "/internal/customers/{customer_id}",
                                       customer_id=customer_id))


def pending_invoice(found: dict, customer: dict) -> dict:
    """The invoice of an order not yet delivered, rendered with the shared invoice code."""
    data = InvoiceData(
        order_id=found["id"], created_at=datetime.datetime.fromisoformat(found["created_at"]),
        customer_name=customer["name"], customer_email=customer["email"],
        lines=tuple(PricedLine(**line) for line in found["items"]),
        totals=Totals(found["subtotal_cents"], found["vat_cents"], found["total_cents"]),
        card_last4=found["card_last4"])
    return {"order_id": data.order_id, "number": invoice_number(data.order_id, data.created_at),
            "status": "pending", "delivered_at": None, "emailed_at": None,
            "text": render_text(data), "html": render_html(data)}


def email_invoice(customer_id: int, order_id: int) -> dict:
    """E-mail the customer a copy of the invoice (404 for anyone else's order)."""
    reply = _call("invoices", "post", "/internal/invoices/{order_id}/email", {},
                  on_behalf_of=customer_id, order_id=order_id)
    if reply.status != 404:
        return _answer(reply, 202)
    # No invoice yet: 404 if the order is not the customer's, else it is on its way.
    _get("orders", "/internal/orders/{order_id}", on_behalf_of=customer_id, order_id=order_id)
    raise ApiError("service_unavailable", "the invoice is still being prepared; retry "
                   "shortly")


def emails(customer_id: int, page: int, per_page: int) -> dict:
    """The e-mails the shop sent the customer, newest first."""
    return _get("notifications", "/internal/messages", on_behalf_of=customer_id,
                query={"page": page, "per_page": per_page})


def audit() -> dict:
    """The raw figures behind the invariants, gathered from the services that own them
    and matched across them (PAID orders against captured payments, held stock against
    undecided orders)."""
    ups = upstreams()
    wanted = {"stock": ("inventory", "/internal/stock"),
              "held": ("inventory", "/internal/reservations"),
              "orders": ("orders", "/internal/audit"),
              "payments": ("payments", "/internal/audit"),
              "invoices": ("invoices", "/internal/audit"),
              "mailbox": ("notifications", "/internal/audit")}
    calls = {what: ups.executor.submit(ups[service].get, path, request_id=g.get("request_id"))
             for what, (service, path) in wanted.items()}
    try:
        answers = {name: _answer(call.result(), 200) for name, call in calls.items()}
    except UpstreamUnavailable as exc:
        raise _unavailable(exc) from None
    return audit_figures(answers["stock"]["items"], answers["held"]["items"],
                         answers["orders"], answers["payments"], answers["invoices"],
                         answers["mailbox"])


def audit_figures(stock: list, held: list, orders_audit: dict, payments_audit: dict,
                  invoices_audit: dict, mailbox_audit: dict) -> dict:
    """The public AuditFigures from each service's own figures."""
    paid = {o["order_id"]: o["total_cents"] for o in orders_audit["paid"]}
    captured: dict[int, list[int]] = {}
    for p in payments_audit["items"]:
        if p["status"] == "captured":
            captured.setdefault(p["order_id"], []).append(p["amount_cents"])
    not_matched = sum(1 for order_id, total in paid.items()
                      if captured.get(order_id) != [total])
    pending = set(orders_audit["pending_ids"])
    return {
        "architecture": "microservices",
        "generated_at": datetime.datetime.now(datetime.UTC).isoformat(),
        "stock": stock,
        "orders": orders_audit["orders"],
        "payments": {
            "captured": sum(len(a) for a in captured.values()),
            "captured_total_cents": sum(sum(a) for a in captured.values()),
            "without_order": sum(len(a) for i, a in captured.items() if i not in paid),
            "paid_orders_not_matched": not_matched,
        },
        "processor": payments_audit["processor"],
        "reservations": {
            "held": len(held),
            "held_units": sum(r["units"] for r in held),
            "held_for_final_orders": sum(1 for r in held if r["order_id"] not in pending),
        },
        "idempotency": orders_audit["idempotency"],
        "invoices": invoice_figures(paid, invoices_audit, mailbox_audit),
        "undecided": undecided_figures(orders_audit["undecided"]),
    }


def undecided_figures(undecided: dict) -> dict:
    """The orders recovery has not decided yet, as the public UndecidedCheckout list."""
    return {"count": undecided["count"], "bound_seconds": undecided["bound_seconds"],
            "items": [{"kind": "order", "id": str(o["order_id"]),
                       "age_seconds": o["age_seconds"], "attempts": o["attempts"],
                       "last_error": o["last_error"]} for o in undecided["items"]]}


def invoice_figures(paid: dict[int, int], invoices_audit: dict, mailbox_audit: dict) -> dict:
    """Delivery figures: the invoices service's statuses, PAID orders it has no invoice
    for (yet), and orders whose invoice was really delivered more than once - printed
    (the spool) plus e-mailed as the delivery (the mailbox)."""
    deliveries: dict[int, int] = {}
    for row in invoices_audit["spooled"] + mailbox_audit["invoice_deliveries"]:
        deliveries[row["order_id"]] = deliveries.get(row["order_id"], 0) + row["count"]
    invoiced = set(invoices_audit["order_ids"])
    return invoices_audit["invoices"] | {
        "paid_orders_without_invoice": sum(1 for order_id in paid if order_id not in invoiced),
        "duplicate_deliveries": sum(1 for n in deliveries.values() if n > 1),
    }
