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

log = logging.getLogger("gateway.compose")

# How long the product page waits for stock before showing it as unknown.
STOCK_WAIT_SECONDS = 1.0

# No orders service runs in this stack yet: there are no orders, payments, keys or
# invoices to count, so these figures are truly zero (they come from the orders
# service once it joins).
NO_ORDERS = {
    "orders": {"PENDING": 0, "PAID": 0, "FAILED": 0, "paid_total_cents": 0, "paid_units": 0},
    "payments": {"captured": 0, "captured_total_cents": 0, "without_order": 0,
                 "paid_orders_not_matched": 0},
    "idempotency": {"keys": 0, "keys_with_order": 0, "orders_without_key": 0},
    "invoices": {"pending": 0, "printed": 0, "emailed": 0, "paid_orders_without_invoice": 0},
}


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


def audit() -> dict:
    """The raw figures behind the invariants, gathered from the services that own them."""
    stock = _get("inventory", "/internal/stock")["items"]
    return {"architecture": "microservices",
            "generated_at": datetime.datetime.now(datetime.UTC).isoformat(),
            "stock": stock, **NO_ORDERS}
