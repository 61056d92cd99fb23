"""The card processor's HTTP API: charge, refund, look up and list charges."""

import datetime
from collections.abc import Iterator
from contextlib import contextmanager
from time import sleep

from flask import Blueprint, current_app, g, jsonify, request
from werkzeug.routing import BaseConverter

from plumbing.db import Pool
from plumbing.errors import ApiError
from plumbing.http import parsed_json
from plumbing.testhooks import fault_point
from shop.cards import LATE_ANSWER_CARD, Outcome, authorize, parse_card
from shop.numbers import whole_number

from .repository import ChargeRepository, Row

bp = Blueprint("cardprocessor", __name__, url_prefix="/v1")

REFERENCE_MAX = 100
# Far above any order, and well inside bigint: a huge number is a 422, not a SQL error.
MAX_AMOUNT_CENTS = 10**12
_PRINTABLE_ASCII = frozenset(chr(c) for c in range(0x20, 0x7F))
_CHARGE_FIELDS = frozenset({"reference", "amount_cents", "card"})
STATUS_BY_OUTCOME = {Outcome.APPROVED: "captured", Outcome.DECLINED: "declined"}
# The endpoints that pay the processor's latency (the reads are the merchant's audit aid).
_DELAYED_ENDPOINTS = frozenset({"cardprocessor.charge", "cardprocessor.refund"})


class ReferenceConverter(BaseConverter):
    """A charge reference in a path. The client percent-encodes it and the server has
    decoded it by the time it is routed, so it may hold slashes (and `//`): the match
    spans path segments, and validity is the view's to judge."""

    regex = r".+"
    part_isolating = False


def valid_reference(value) -> bool:
    """True for 1..100 printable ASCII characters (space included)."""
    return (isinstance(value, str) and 1 <= len(value) <= REFERENCE_MAX
            and set(value) <= _PRINTABLE_ASCII)


def _invalid(message: str, field: str) -> ApiError:
    return ApiError("validation_error", message, {"field": field})


def processor_error(status: int, code: str, message: str):
    """An error answer with one of the processor's own codes, which are not the shop
    contract's (plumbing.errors knows only those)."""
    resp = jsonify({"error": code, "message": message})
    resp.status_code = status
    if status == 503:
        resp.headers["Retry-After"] = "1"
    return resp


def record(row: Row) -> dict:
    """The JSON answer for a charge row."""
    reference, status, amount_cents, card_last4, created_at = row
    return {"reference": reference, "status": status, "amount_cents": amount_cents,
            "card_last4": card_last4, "created_at": created_at.isoformat()}


def _pool() -> Pool:
    return current_app.extensions["cardprocessor"]["pools"].get()


@contextmanager
def transaction() -> Iterator[ChargeRepository]:
    """The charges in one transaction, committed when the block ends without error (the
    pool rolls back otherwise)."""
    with _pool().connection() as conn:
        conn.autocommit = False
        with conn.cursor() as cur:
            yield ChargeRepository(cur)
        conn.commit()


@contextmanager
def reading() -> Iterator[ChargeRepository]:
    """The charges in autocommit: each read is one statement."""
    with _pool().connection() as conn, conn.cursor() as cur:
        yield ChargeRepository(cur)


def charge_request() -> tuple[str, int, object]:
    """(reference, amount_cents, raw card) of a charge body; 422 when malformed, 415 when
    it is not JSON at all."""
    if not request.is_json:
        raise ApiError("unsupported_media_type", "the body must be application/json")
    body = parsed_json()
    if not isinstance(body, dict):
        raise _invalid("the body must be a JSON object", "body")
    unknown = sorted(str(name) for name in body.keys() - _CHARGE_FIELDS)
    if unknown:
        raise _invalid(f"unknown field(s) {', '.join(unknown)}", unknown[0])
    reference = body.get("reference")
    if not valid_reference(reference):
        raise _invalid(f"reference must be 1 to {REFERENCE_MAX} printable ASCII characters",
                       "reference")
    amount_cents = whole_number(body.get("amount_cents"))
    if amount_cents is None or not 1 <= amount_cents <= MAX_AMOUNT_CENTS:
        raise _invalid(f"amount_cents must be an integer from 1 to {MAX_AMOUNT_CENTS}",
                       "amount_cents")
    if "card" not in body:
        raise _invalid("card is required", "card")
    return reference, amount_cents, body["card"]


@bp.post("/charges")
def charge():
    """Charge a card once per reference: a replay answers the first record."""
    reference, amount_cents, raw_card = charge_request()
    # parse_card's ValidationError is answered 422 by plumbing.errors.
    card = parse_card(raw_card, datetime.date.today())
    outcome = authorize(card, amount_cents)
    fault_point("cardprocessor.charge:before")
    if outcome is Outcome.PROCESSOR_ERROR:
        return processor_error(503, "processor_error",
                               "the card processor failed; nothing was charged")
    # One transaction: the INSERT's row lock keeps a concurrent reseed (TRUNCATE) from
    # removing a conflicting row before the SELECT that reads it.
    with transaction() as charges:
        row = charges.insert(reference, STATUS_BY_OUTCOME[outcome], amount_cents,
                             card.number[-4:])
        created = row is not None
        if not created:
            row = charges.get(reference)
    fault_point("cardprocessor.charge:after")
    _, status, recorded_cents, _, _ = row
    # A tombstone is answered whatever the amount: the merchant cancelled this reference.
    if not created and status != "voided" and recorded_cents != amount_cents:
        return processor_error(422, "reference_reused",
                               f"reference {reference!r} was charged {recorded_cents} cents, "
                               f"not {amount_cents}")
    if created and card.number == LATE_ANSWER_CARD:
        # Captured and committed; only this first answer comes after the merchant's timeout.
        g.answer_delay = current_app.config["LATE_SECONDS"]
    return record(row)


@bp.post("/charges/<reference:reference>/refund", merge_slashes=False)
def refund(reference: str):
    """Refund a captured charge; void a reference never charged (a tombstone), so that a
    charge request still in flight with it captures nothing."""
    if not valid_reference(reference):
        raise _invalid(f"reference must be 1 to {REFERENCE_MAX} printable ASCII characters",
                       "reference")
    with transaction() as charges:
        row = charges.lock(reference)
        if row is None:
            row = charges.insert(reference, "voided", 0, "")
            if row is None:
                # A charge of this reference committed meanwhile: refund that.
                row = charges.lock(reference)
        if row[1] == "captured":
            row = charges.set_status(reference, "refunded")
    return record(row)


@bp.get("/charges/<reference:reference>", merge_slashes=False)
def lookup(reference: str):
    """One charge by reference."""
    fault_point("cardprocessor.lookup:before")
    row = None
    # A reference no charge could have is simply not found.
    if valid_reference(reference):
        with reading() as charges:
            row = charges.get(reference)
    if row is None:
        raise ApiError("not_found", "no charge has this reference")
    return record(row)


@bp.get("/charges")
def charges_list():
    """Every charge, oldest first: what an audit reconciles against."""
    with reading() as charges:
        rows = charges.all()
    return {"items": [record(r) for r in rows]}


@bp.after_request
def _processing_latency(response):
    """Hold a charge's or refund's answer for the processor's latency (the late card's
    first answer for the late delay). It runs after the view, so the record is committed
    and its connection back in the pool while the answer waits."""
    if request.endpoint in _DELAYED_ENDPOINTS:
        delay = g.get("answer_delay", current_app.config["LATENCY_MS"] / 1000)
        if delay > 0:
            sleep(delay)
    return response
