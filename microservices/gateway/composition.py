"""The public API composed from the services' internal APIs.

Each function returns the public contract's shape or raises ApiError, so the API
views and the pages' backend share it. A failing critical service is a 503; a
failing inventory only degrades a product's stock to "unknown".
"""

import datetime
import logging

from flask import copy_current_request_context

from microservices.common.client import Reply, UpstreamUnavailable
from plumbing.errors import STATUS_BY_CODE, ApiError

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


def _get(service: str, template: str, *ok: int, **kw) -> dict:
    try:
        return _answer(upstreams()[service].get(template, **kw), *(ok or (200,)))
    except UpstreamUnavailable as exc:
        raise _unavailable(exc) from None


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
    # The copied request context carries the request id onto the parallel call.
    stock_call = ups.executor.submit(copy_current_request_context(ups["inventory"].get),
                                     "/internal/stock/{product_id}", product_id=product_id)
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
                                           customer_id=customer_id)
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
    return _get("orders", "/internal/orders", customer_id=customer_id,
                query={"page": page, "per_page": per_page})


def order(customer_id: int, order_id: int) -> dict:
    """One of the customer's orders (404 for anyone else's)."""
    return _get("orders", "/internal/orders/{order_id}", customer_id=customer_id,
                order_id=order_id)


def invoice(customer_id: int, order_id: int) -> dict:
    """The invoices service joins this stack later: the order is checked (404 for
    anyone else's), then 503."""
    order(customer_id, order_id)
    raise ApiError("service_unavailable", "invoices are not served by this shop yet")


def audit() -> dict:
    """The raw figures behind the invariants, gathered from the services that own them
    and matched across them (PAID orders against captured payments, held stock against
    undecided orders)."""
    ups = upstreams()
    wanted = {"stock": ("inventory", "/internal/stock"),
              "held": ("inventory", "/internal/reservations"),
              "orders": ("orders", "/internal/audit"),
              "payments": ("payments", "/internal/audit")}
    calls = {what: ups.executor.submit(copy_current_request_context(ups[service].get), path)
             for what, (service, path) in wanted.items()}
    try:
        answers = {name: _answer(call.result(), 200) for name, call in calls.items()}
    except UpstreamUnavailable as exc:
        raise _unavailable(exc) from None
    return audit_figures(answers["stock"]["items"], answers["held"]["items"],
                         answers["orders"], answers["payments"])


def audit_figures(stock: list, held: list, orders_audit: dict, payments_audit: dict) -> dict:
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
        # Invoices are delivered by the invoices service, which joins this stack later:
        # until then every PAID order's invoice is pending (as its Order says).
        "invoices": {"pending": orders_audit["orders"]["PAID"], "printed": 0, "emailed": 0,
                     "paid_orders_without_invoice": 0},
    }
