"""The invoices service's internal API: take an "order paid" event (create the invoice and
deliver it), read a customer's invoice, e-mail a copy on request, and the audit figures.

The event comes from the orders service's outbox relay, which posts it until it hears a
2xx: delivery is at least once, so an event for an order that has an invoice already is
answered 200 and changes nothing.
"""

import datetime
import logging
import re
import uuid

from flask import Blueprint, current_app, request

from microservices.common.app import cursor, pool, service_caller, transaction
from microservices.common.client import ServiceClient, UpstreamUnavailable
from microservices.common.upstreams import Upstream, app_upstreams
from plumbing.errors import ApiError
from plumbing.http import json_body, text_ok
from plumbing.testhooks import broken
from shop.invoices import render_html, render_text
from shop.numbers import whole_number

from .delivery import Deliverer, invoice_data, number_of, send_email
from .repository import InvoiceRepository, InvoiceRow, NewInvoice

log = logging.getLogger("invoices.api")

bp = Blueprint("invoices", __name__, url_prefix="/internal")

# The services this one calls. Short read timeouts: the relay waits 5 s for an event's
# answer, which may include a customer lookup and an e-mailed delivery.
TARGETS = {
    "accounts": Upstream("ACCOUNTS_URL", 8101, read_timeout=2.0),
    "notifications": Upstream("NOTIFICATIONS_URL", 8107, read_timeout=2.0),
}
CUSTOMER = "/internal/customers/{customer_id}"

# Where create_app keeps the INVOICE_PRINTER setting.
PRINTER_CONFIG = "INVOICE_PRINTER"

# The request that creates an invoice delivers it at once; the worker steps in only if it
# is still pending this much later (the request died, or the delivery failed), so the two
# do not routinely contend for a fresh invoice.
WORKER_GRACE_SECONDS = 5.0

MAX_ORDER_ID = 2**63 - 1
MAX_CUSTOMER_ID = 2**31 - 1
MAX_CENTS = 2**63 - 1
ORDER = f"<int(min=1, max={MAX_ORDER_ID}):order_id>"

_EVENT_FIELDS = ("customer_id", "order")
_ORDER_FIELDS = ("id", "status", "created_at", "items", "subtotal_cents", "vat_cents",
                 "total_cents", "currency", "card_last4", "invoice_status")
_LINE_FIELDS = ("product_id", "sku", "name", "quantity", "unit_price_cents",
                "line_total_cents")
_LAST4 = re.compile(r"[0-9]{4}")
_DELIVERY_STATUSES = ("pending", "printed", "emailed")


# --- reading the event ---------------------------------------------------------------

def _invalid(field: str, message: str) -> ApiError:
    return ApiError("validation_error", message, {"field": field})


def _object(value, fields: tuple[str, ...], where: str) -> dict:
    """`value` as a JSON object holding exactly `fields`; 422 naming the first culprit."""
    if not isinstance(value, dict):
        raise _invalid(where, f"{where} must be a JSON object")
    unknown = sorted(str(name) for name in value.keys() - set(fields))
    prefix = "" if where == "body" else f"{where}."
    if unknown:
        raise _invalid(prefix + unknown[0], f"unknown field(s) {', '.join(unknown)}")
    for name in fields:
        if name not in value:
            raise _invalid(prefix + name, f"{prefix}{name} is required")
    return value


def _integer(value, field: str, lo: int, hi: int) -> int:
    number = whole_number(value)
    if number is None or not lo <= number <= hi:
        raise _invalid(field, f"{field} must be an integer from {lo} to {hi}")
    return number


def _text(value, field: str) -> str:
    if not isinstance(value, str) or not text_ok(value):
        raise _invalid(field, f"{field} must be a string (without NUL characters)")
    return value


def _line(value, where: str) -> dict:
    line = _object(value, _LINE_FIELDS, where)
    return {"product_id": _integer(line["product_id"], f"{where}.product_id", 1, 2**31 - 1),
            "sku": _text(line["sku"], f"{where}.sku"),
            "name": _text(line["name"], f"{where}.name"),
            "quantity": _integer(line["quantity"], f"{where}.quantity", 1, 100),
            "unit_price_cents": _integer(line["unit_price_cents"], f"{where}.unit_price_cents",
                                         0, MAX_CENTS),
            "line_total_cents": _integer(line["line_total_cents"], f"{where}.line_total_cents",
                                         0, MAX_CENTS)}


def _placed_at(value) -> datetime.datetime:
    field = "order.created_at"
    if not isinstance(value, str):
        raise _invalid(field, f"{field} must be a date-time string")
    try:
        placed_at = datetime.datetime.fromisoformat(value)
    except ValueError:
        raise _invalid(field, f"{field} must be an ISO 8601 date-time") from None
    if placed_at.tzinfo is None:
        raise _invalid(field, f"{field} must carry a time zone offset")
    return placed_at


def parse_event(body) -> tuple[int, NewInvoice]:
    """(customer_id, the invoice to create without its customer's e-mail and name) of an
    InvoiceEvent body: the customer and the public Order of a PAID order; 422 otherwise."""
    event = _object(body, _EVENT_FIELDS, "body")
    customer_id = _integer(event["customer_id"], "customer_id", 1, MAX_CUSTOMER_ID)
    order = _object(event["order"], _ORDER_FIELDS, "order")
    order_id = _integer(order["id"], "order.id", 1, MAX_ORDER_ID)
    if order["status"] != "PAID":
        raise _invalid("order.status", "only a PAID order is invoiced")
    items = order["items"]
    if not isinstance(items, list) or not items:
        raise _invalid("order.items", "order.items must be a non-empty array")
    lines = [_line(item, f"order.items[{i}]") for i, item in enumerate(items)]
    if order["currency"] != "EUR":
        raise _invalid("order.currency", "order.currency must be EUR")
    card_last4 = order["card_last4"]
    if not isinstance(card_last4, str) or not _LAST4.fullmatch(card_last4):
        raise _invalid("order.card_last4", "order.card_last4 must be 4 digits")
    if order["invoice_status"] not in _DELIVERY_STATUSES:
        raise _invalid("order.invoice_status",
                       f"order.invoice_status must be one of {', '.join(_DELIVERY_STATUSES)}")
    return customer_id, NewInvoice(
        order_id=order_id, customer_id=customer_id, customer_email="", customer_name="",
        placed_at=_placed_at(order["created_at"]), lines=lines,
        subtotal_cents=_integer(order["subtotal_cents"], "order.subtotal_cents", 0, MAX_CENTS),
        vat_cents=_integer(order["vat_cents"], "order.vat_cents", 0, MAX_CENTS),
        total_cents=_integer(order["total_cents"], "order.total_cents", 0, MAX_CENTS),
        card_last4=card_last4)


# --- helpers -----------------------------------------------------------------------------

def _client(name: str) -> ServiceClient:
    return app_upstreams(TARGETS)[name]


def deliverer() -> Deliverer:
    """The delivery of this process: its pool, its notifications client, its printer."""
    return Deliverer(pool(), _client("notifications"), current_app.config[PRINTER_CONFIG])


def _customer_of_token() -> int:
    customer_id = service_caller().customer_id
    if customer_id is None:
        raise ApiError("unauthorized", "this call must be made for a customer")
    return customer_id


def _unavailable(exc: UpstreamUnavailable) -> ApiError:
    log.warning("upstream unavailable: %s", exc)
    return ApiError("service_unavailable", f"the {exc.target} service is unavailable; "
                    "retry shortly")


def _lookup_customer(customer_id: int) -> tuple[str, str]:
    """(e-mail, name) of the customer at the accounts service: 422 when there is no such
    customer, 503 when accounts cannot tell (the relay retries)."""
    try:
        reply = _client("accounts").get(CUSTOMER, customer_id=customer_id,
                                         on_behalf_of=customer_id)
    except UpstreamUnavailable as exc:
        raise _unavailable(exc) from None
    if reply.status == 404:
        raise _invalid("customer_id", f"customer {customer_id} does not exist")
    email, name = reply.body.get("email"), reply.body.get("name")
    if reply.status != 200 or not isinstance(email, str) or not isinstance(name, str):
        # A refusal (e.g. 401: this service not allowed there) is the stack's fault, not
        # the event's: 503, so the relay keeps the event and retries once it is mended.
        log.error("accounts answered %s for customer %s: %s", reply.status, customer_id,
                  reply.body)
        raise ApiError("service_unavailable", "the accounts service gave no customer; retry")
    return email, name


def _delivery(order_id: int, status: str | None) -> dict:
    if status is None:
        # Only a reseed removes invoices; the relay's retry finds a clean slate.
        raise ApiError("service_unavailable", f"the invoice of order {order_id} was removed "
                       "meanwhile (the database was reset); retry")
    return {"order_id": order_id, "status": status}


def _reprint(order_id: int) -> None:
    """The deliberately broken variant's second print of an invoice."""
    with transaction() as cur:
        invoices = InvoiceRepository(cur)
        row = invoices.get(order_id)
        if row is not None:
            invoices.spool(order_id, render_text(invoice_data(row)))


# --- the operations ----------------------------------------------------------------------

@bp.post("/invoices")
def receive_event():
    """An order was paid: create its invoice and deliver it once right away (201 with the
    delivery status after that attempt); 200 and nothing else for an order invoiced
    already (a redelivered event)."""
    customer_id, new = parse_event(json_body())
    with cursor() as cur:
        status = InvoiceRepository(cur).status(new.order_id)
    if status is not None:
        if broken("invoices.event_not_idempotent"):
            # Deliberately broken, for tests only: exists so a test can prove that the
            # duplicate-delivery audit can fail. A redelivered event prints again.
            _reprint(new.order_id)
        return _delivery(new.order_id, status)

    email, name = _lookup_customer(customer_id)
    new = new._replace(customer_email=email, customer_name=name)
    with cursor() as cur:
        invoices = InvoiceRepository(cur)
        created = invoices.insert(new, WORKER_GRACE_SECONDS)
        if not created:
            # A concurrent delivery of the same event won the insert: nothing to do here.
            return _delivery(new.order_id, invoices.status(new.order_id))

    try:
        status = deliverer().deliver(new.order_id)
    except Exception:  # committed already: the worker retries, the event is acknowledged
        log.exception("invoice %s: delivery failed; the worker will retry", new.order_id)
        status = "pending"  # the attempt rolled back: the invoice is as it was committed
    if status == "skipped":
        # The worker took it meanwhile (a slow request): answer what the row says now.
        with cursor() as cur:
            status = InvoiceRepository(cur).status(new.order_id)
    return _delivery(new.order_id, status), 201


def _own_invoice(order_id: int) -> InvoiceRow:
    customer_id = _customer_of_token()
    with cursor() as cur:
        row = InvoiceRepository(cur).get(order_id, customer_id)
    if row is None:
        raise ApiError("not_found", f"order {order_id} has no invoice")
    return row


def _timestamp(value: datetime.datetime | None) -> str | None:
    return None if value is None else value.astimezone(datetime.UTC).isoformat()


@bp.get(f"/invoices/{ORDER}")
def get_invoice(order_id: int):
    """The token's customer's invoice for the order, with its delivery status; 404 when
    the order has none, or it is another customer's."""
    row = _own_invoice(order_id)
    data = invoice_data(row)
    return {"order_id": row.order_id, "number": number_of(row), "status": row.status,
            "delivered_at": _timestamp(row.delivered_at),
            "emailed_at": _timestamp(row.emailed_at),
            "text": render_text(data), "html": render_html(data)}


def _no_body() -> None:
    """E-mailing takes no body; an empty JSON object is the same (a caller's generic POST)."""
    if not request.get_data(cache=True):
        return
    if json_body() != {}:
        raise _invalid("body", "e-mailing an invoice takes no body, or an empty JSON object")


@bp.post(f"/invoices/{ORDER}/email")
def email_invoice(order_id: int):
    """E-mail the token's customer a copy of the invoice (a fresh message each time; the
    delivery status stays as it is): 202; 404 when there is no invoice of theirs, 503
    when the notifications service cannot take it."""
    _no_body()
    row = _own_invoice(order_id)
    key = f"invoice-copy-{order_id}-{uuid.uuid4().hex}"
    try:
        send_email(_client("notifications"), row, key, "invoice_copy")
    except UpstreamUnavailable as exc:
        raise _unavailable(exc) from None
    with cursor() as cur:
        InvoiceRepository(cur).mark_copy_emailed(order_id)
    return {"order_id": order_id, "to": row.customer_email, "status": "accepted"}, 202


@bp.get("/audit")
def audit():
    """Invoices by delivery status, every invoiced order id, and the documents printed
    per order (more than one is a duplicate delivery)."""
    with transaction() as cur:
        return InvoiceRepository(cur).figures()
