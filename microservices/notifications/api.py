"""The notifications service's internal API: "send" an e-mail, list a customer's mailbox,
and the figures the audit needs.

Nothing leaves the machine: sending stores the message in the shop's outgoing mailbox
(the messages table), which the customer's e-mail page lists. Sending is idempotent by
the sender's message key, so an invoice delivered again (a retried outbox event, a
timeout) is still one e-mail.
"""

import uuid

from flask import Blueprint

from microservices.common.app import cursor, service_caller, transaction
from plumbing.errors import ApiError
from plumbing.http import KEY_CHARS, KEY_MAX, json_body, page_args, text_ok
from plumbing.testhooks import broken
from shop.numbers import whole_number

from .repository import Message, MessageRepository, NewMessage

bp = Blueprint("notifications", __name__, url_prefix="/internal")

KINDS = ("invoice", "invoice_copy")
MAX_CUSTOMER_ID = 2**31 - 1
MAX_ORDER_ID = 2**63 - 1
TO_LENGTH = (3, 254)
SUBJECT_LENGTH = (1, 200)
BODY_LENGTH = (1, 100_000)
# The request's fields, in the order they are checked (details.field names the first bad).
_FIELDS = ("key", "customer_id", "order_id", "kind", "to", "subject", "body")
BROKEN_IDEMPOTENCY = "notifications.messages_not_idempotent"


def email_view(message: Message) -> dict:
    """The contract's Email (the public API's) for a row."""
    return {"id": message.id, "to": message.recipient, "subject": message.subject,
            "body": message.body, "sent_at": message.created_at.isoformat(),
            "order_id": message.order_id, "kind": message.kind}


def _invalid(field: str, message: str) -> ApiError:
    return ApiError("validation_error", message, {"field": field})


def _header_text(body: dict, name: str, length: tuple[int, int]) -> str:
    """A one-line text field (the address, the subject): no control characters, which in
    a real mail header would let a value start a header of its own."""
    value = body[name]
    lo, hi = length
    if not isinstance(value, str) or not lo <= len(value) <= hi:
        raise _invalid(name, f"{name} must be a string of {lo} to {hi} characters")
    if not text_ok(value) or any(ord(c) < 0x20 or ord(c) == 0x7F for c in value):
        raise _invalid(name, f"{name} holds characters that are not allowed")
    return value


def message_request(body) -> NewMessage:
    """The message of a MessageRequest body; 422 validation_error naming the first bad
    field otherwise."""
    if not isinstance(body, dict):
        raise _invalid("body", "the body must be a JSON object")
    unknown = sorted(str(name) for name in body.keys() - set(_FIELDS))
    if unknown:
        raise _invalid(unknown[0], f"unknown field(s) {', '.join(unknown)}")
    for name in _FIELDS:
        if name not in body:
            raise _invalid(name, f"{name} is required")

    key = body["key"]
    if not isinstance(key, str) or not 1 <= len(key) <= KEY_MAX or not set(key) <= KEY_CHARS:
        raise _invalid("key", f"key must be 1 to {KEY_MAX} printable ASCII characters "
                       "(no spaces)")
    customer_id = whole_number(body["customer_id"])
    if customer_id is None or not 1 <= customer_id <= MAX_CUSTOMER_ID:
        raise _invalid("customer_id", f"customer_id must be an integer from 1 to "
                       f"{MAX_CUSTOMER_ID}")
    order_id = None
    if body["order_id"] is not None:
        order_id = whole_number(body["order_id"])
        if order_id is None or not 1 <= order_id <= MAX_ORDER_ID:
            raise _invalid("order_id", f"order_id must be null or an integer from 1 to "
                           f"{MAX_ORDER_ID}")
    kind = body["kind"]
    if kind not in KINDS:  # a list or an object is simply not in the tuple
        raise _invalid("kind", f"kind must be one of {', '.join(KINDS)}")
    if kind == "invoice" and order_id is None:
        # The audit counts invoice deliveries per order: an invoice names its order.
        raise _invalid("order_id", "an invoice message needs its order_id")
    to = _header_text(body, "to", TO_LENGTH)
    if "@" not in to:
        raise _invalid("to", "to must be an e-mail address")
    subject = _header_text(body, "subject", SUBJECT_LENGTH)
    text = body["body"]
    lo, hi = BODY_LENGTH
    if not isinstance(text, str) or not lo <= len(text) <= hi:
        raise _invalid("body", f"body must be a string of {lo} to {hi} characters")
    if not text_ok(text):
        raise _invalid("body", "body holds characters that are not allowed")
    return NewMessage(key, customer_id, order_id, kind, to, subject, text)


@bp.post("/messages")
def send():
    """Send an e-mail once per key: 201 with the new Email, 200 with the Email stored
    first when the key was used already (nothing is stored, nothing compared)."""
    message = message_request(json_body())
    with cursor() as cur:
        messages = MessageRepository(cur)
        # A second round only when the key's row vanished between the two statements.
        for _ in range(2):
            created = messages.insert(message)
            if created is not None:
                return email_view(created), 201
            existing = messages.by_key(message.key)
            if existing is None:
                continue
            if broken(BROKEN_IDEMPOTENCY):
                # Exists only so a test can prove the duplicate-delivery audit can fail:
                # the redelivery is stored again, under a key the UNIQUE constraint admits.
                duplicate = messages.insert(
                    message._replace(key=f"{message.key}:dup:{uuid.uuid4().hex}"))
                if duplicate is not None:
                    return email_view(duplicate), 201
            return email_view(existing), 200
    # Only a reseed deletes messages; the sender's retry finds a clean slate.
    raise ApiError("service_unavailable", f"the message {message.key!r} was removed "
                   "meanwhile (the database was reset); retry")


@bp.get("/messages")
def list_messages():
    """One page of the token's customer's e-mails, newest first."""
    customer_id = service_caller().customer_id
    if customer_id is None:
        raise ApiError("unauthorized", "this call must be made for a customer")
    page, per_page = page_args()
    with cursor() as cur:
        rows, total = MessageRepository(cur).page_for_customer(customer_id, per_page,
                                                               (page - 1) * per_page)
    return {"items": [email_view(m) for m in rows], "page": page, "per_page": per_page,
            "total": total}


@bp.get("/audit")
def audit():
    """Invoice deliveries (kind 'invoice') per order, by order id, and all messages."""
    with transaction() as cur:
        # One snapshot for both figures: a message stored between them would otherwise
        # count in one and not the other.
        cur.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
        messages = MessageRepository(cur)
        deliveries = messages.invoice_deliveries()
        total = messages.count()
    return {"invoice_deliveries": [{"order_id": order_id, "count": count}
                                   for order_id, count in deliveries],
            "messages": total}
