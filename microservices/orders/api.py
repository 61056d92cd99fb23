"""The orders service's internal API: checkout (the saga), the customer's orders, and
the figures the audit needs."""

import datetime

from flask import Blueprint

from microservices.common.app import pool, service_caller
from microservices.common.upstreams import Upstream, app_upstreams
from plumbing.errors import ApiError
from plumbing.http import KEY_CHARS, KEY_MAX, json_body, page_args

from .recovery import decision_bound_seconds
from .repository import OrderStore
from .saga import CheckoutSaga, deadline_seconds
from .views import order_summary, order_view

bp = Blueprint("orders", __name__, url_prefix="/internal")

# The owners of the saga's steps. Read timeouts bound how long a request can drive an
# order (see saga.DEFAULT_DEADLINE_SECONDS); a payment's includes the card processor's.
# Payments' 503 answers are definite ("nothing was charged") and read by the saga.
TARGETS = {
    "catalog": Upstream("CATALOG_URL", 8102, read_timeout=3.0),
    "inventory": Upstream("INVENTORY_URL", 8103, read_timeout=3.0),
    "payments": Upstream("PAYMENTS_URL", 8105, read_timeout=6.0,
                         relayed_5xx=frozenset({503})),
    # The outbox relay's consumer (the worker calls it, never a request).
    "invoices": Upstream("INVOICES_URL", 8106),
}


def _customer() -> int:
    customer_id = service_caller().customer_id
    if customer_id is None:
        raise ApiError("unauthorized", "this call must be made for a customer")
    return customer_id


def _store() -> OrderStore:
    return OrderStore(pool())


@bp.post("/orders")
def create_order():
    """Check out: {"idempotency_key", "order": the public CheckoutRequest}; answers as
    the public API does (201, 402, 409, 422, 503), Idempotent-Replayed on replays."""
    customer_id = _customer()
    body = json_body()
    key = body.get("idempotency_key") if isinstance(body, dict) else None
    if not isinstance(body, dict) or set(body) != {"idempotency_key", "order"} \
            or not isinstance(key, str) or not 1 <= len(key) <= KEY_MAX \
            or not set(key) <= KEY_CHARS:
        raise ApiError("validation_error", "the body must be {\"idempotency_key\": 1-200 "
                       "printable ASCII characters, \"order\": a checkout request}",
                       {"field": "idempotency_key"})
    saga = CheckoutSaga(_store(), app_upstreams(TARGETS), deadline_seconds())
    answer = saga.checkout(customer_id, key, body["order"], datetime.date.today())
    headers = {"Idempotent-Replayed": "true"} if answer.replayed else {}
    return answer.body, answer.status, headers


@bp.get("/orders")
def list_orders():
    """One page of the customer's orders, newest first."""
    customer_id = _customer()
    page, per_page = page_args()
    rows, total = _store().page_for_customer(customer_id, per_page, (page - 1) * per_page)
    return {"items": [order_summary(r) for r in rows], "page": page, "per_page": per_page,
            "total": total}


@bp.get("/orders/<int:order_id>")
def order(order_id: int):
    """One of the customer's orders; another customer's, or a failed attempt, is 404."""
    found = _store().get(order_id, _customer())
    if found is None or found.status == "FAILED":
        raise ApiError("not_found", f"order {order_id} does not exist")
    return order_view(found)


@bp.get("/audit")
def audit():
    """Order counts, keys, PAID orders' totals, the ids still PENDING, and the orders
    recovery has not decided yet with the bound it decides them within."""
    figures = _store().figures()
    figures["undecided"]["bound_seconds"] = decision_bound_seconds(deadline_seconds())
    return figures
