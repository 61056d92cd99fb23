"""The card processor's client, used alike by the monolith and the payments service.

A charge can end three ways for the merchant, and the exceptions keep them apart:

- an answer: a `Charge` ("captured" or "declined"; "voided" when the merchant voided the
  reference first, so nothing was captured);
- `ChargeFailed`: definitely nothing charged - the processor said so (`processor_error`),
  or the request never left (connection refused, connect timeout, no pooled connection
  free in time);
- `OutcomeUnknown`: the request may have been processed - a read timeout, a connection
  dropped after sending, an unexpected 5xx or answer. Resolve it with `lookup` (or
  cancel it with `refund`, which voids a reference not charged yet); never by guessing.

Both are `ProcessorUnavailable`, which `refund`, `lookup` and `charges` raise. A 4xx
answer (other than 404 on `lookup`) is a bug in the caller: ValueError.

Built on urllib3 (one keep-alive pool, no retries: whether to retry a charge is the
merchant's decision). Create a client per process, after the fork (in the app factory,
which gunicorn runs in each worker): its pooled sockets must not be shared between
processes.
"""

import json
import os
from dataclasses import dataclass
from urllib.parse import quote

from flask import g, has_request_context
from urllib3 import HTTPConnectionPool, Timeout
from urllib3.exceptions import ConnectTimeoutError, EmptyPoolError, HTTPError, NewConnectionError
from urllib3.util import parse_url

from plumbing.observability import REQUEST_ID_HEADER
from plumbing.testhooks import fault_point
from shop.cards import Card

DEFAULT_URL = "http://127.0.0.1:8108"
STATUSES = frozenset({"captured", "declined", "refunded", "voided"})
REFERENCE_MAX = 100
_PRINTABLE_ASCII = frozenset(chr(c) for c in range(0x20, 0x7F))
# Transport errors raised before any byte of the request was sent (NewConnectionError,
# connection refused included, is a ConnectTimeoutError).
_NEVER_SENT = (ConnectTimeoutError, EmptyPoolError)


@dataclass(frozen=True)
class Charge:
    """The processor's record of one charge reference."""

    reference: str
    status: str          # "captured" | "declined" | "refunded" | "voided"
    amount_cents: int
    card_last4: str


class ProcessorUnavailable(Exception):
    """The call failed; retrying later may work."""


class ChargeFailed(ProcessorUnavailable):
    """Definitive: nothing was charged (a processor_error answer, or the request never
    left: connection refused, connect timeout)."""


class OutcomeUnknown(ProcessorUnavailable):
    """The charge request may have been processed (read timeout, connection dropped
    after sending, an unexpected 5xx or answer)."""


class _Malformed(Exception):
    """An answer that is not the record it should be."""


class CardProcessor:
    """Calls the card processor at `base_url` (http://host:port)."""

    def __init__(self, base_url: str, *, timeout: float = 3.0, connect_timeout: float = 1.0,
                 maxsize: int = 8):
        url = parse_url(base_url)
        if url.scheme != "http" or not url.host:
            raise ValueError(f"card processor URL must be http://host:port, not {base_url!r}")
        self._prefix = (url.path or "").rstrip("/")
        # The longest one call waits for its answer (and for a pooled connection).
        self.timeout = timeout
        # A caller that finds all `maxsize` connections busy waits at most this long;
        # with one connection per calling thread it never waits.
        self._pool_timeout = timeout
        self._pool = HTTPConnectionPool(
            url.host, url.port or 80, maxsize=maxsize, block=True, retries=False,
            timeout=Timeout(connect=connect_timeout, read=timeout))

    def charge(self, reference: str, amount_cents: int, card: Card) -> Charge:
        """Charge `card` once for `reference` (a replay answers the first record).
        Raises ChargeFailed or OutcomeUnknown."""
        _check_reference(reference)
        body = {"reference": reference, "amount_cents": amount_cents,
                "card": {"number": card.number, "exp_month": card.exp_month,
                         "exp_year": card.exp_year, "cvc": card.cvc, "holder": card.holder}}
        try:
            status, answer = self._call("POST", "/v1/charges", body)
        except _NEVER_SENT as exc:
            raise ChargeFailed(f"card processor not reached: {_describe(exc)}") from exc
        except HTTPError as exc:
            raise OutcomeUnknown(f"charge {reference!r}: {_describe(exc)}") from exc
        if status == 503 and _error_code(answer) == "processor_error":
            raise ChargeFailed(f"charge {reference!r}: {_message(answer, status)}")
        if status >= 500:
            raise OutcomeUnknown(f"charge {reference!r}: HTTP {status}")
        _refuse_4xx("charge", status, answer)
        try:
            found = _charge_of(answer)
        except _Malformed as exc:
            raise OutcomeUnknown(f"charge {reference!r}: HTTP {status}: {exc}") from None
        if found.reference != reference:
            raise OutcomeUnknown(f"charge {reference!r} answered for {found.reference!r}")
        return found

    def refund(self, reference: str) -> Charge:
        """Refund a captured charge; voids a reference not charged yet, so a charge still
        in flight with it captures nothing. Raises ProcessorUnavailable."""
        _check_reference(reference)
        status, answer = self._call_or_unavailable(
            "POST", f"/v1/charges/{_path_part(reference)}/refund", None)
        _refuse_4xx("refund", status, answer)
        return _record("refund", status, answer)

    def lookup(self, reference: str) -> Charge | None:
        """The processor's record for `reference`, or None when it has none. Raises
        ProcessorUnavailable."""
        _check_reference(reference)
        status, answer = self._call_or_unavailable(
            "GET", f"/v1/charges/{_path_part(reference)}", None)
        if status == 404:
            return None
        _refuse_4xx("lookup", status, answer)
        return _record("lookup", status, answer)

    def charges(self) -> list[Charge]:
        """Every charge on record, oldest first. Raises ProcessorUnavailable."""
        status, answer = self._call_or_unavailable("GET", "/v1/charges", None)
        _refuse_4xx("charges", status, answer)
        items = answer.get("items") if isinstance(answer, dict) else None
        if status != 200 or not isinstance(items, list):
            raise ProcessorUnavailable(f"charges: HTTP {status} without a list of charges")
        try:
            return [_charge_of(item) for item in items]
        except _Malformed as exc:
            raise ProcessorUnavailable(f"charges: {exc}") from None

    def close(self) -> None:
        """Close the pooled connections."""
        self._pool.close()

    def _call_or_unavailable(self, method: str, path: str, body) -> tuple[int, object]:
        """`_call`, with a transport error or a 5xx as ProcessorUnavailable."""
        try:
            status, answer = self._call(method, path, body)
        except HTTPError as exc:
            raise ProcessorUnavailable(f"{method} {path}: {_describe(exc)}") from exc
        if status >= 500:
            raise ProcessorUnavailable(f"{method} {path}: HTTP {status}: "
                                       f"{_message(answer, status)}")
        return status, answer

    def _call(self, method: str, path: str, body) -> tuple[int, object]:
        """(status, decoded JSON answer or None); urllib3's errors pass through."""
        headers = {"Accept": "application/json"}
        # The merchant's request id, so the processor's access log lines up with it.
        if has_request_context() and "request_id" in g:
            headers[REQUEST_ID_HEADER] = g.request_id
        data = None
        if body is not None:
            data = json.dumps(body, separators=(",", ":")).encode()
            headers["Content-Type"] = "application/json"
        point = f"call cardprocessor {method} {path}"
        if fault_point(point + ":before") == "refuse":
            # What urllib3 raises for a refused connection: nothing was sent.
            raise NewConnectionError(None, "connection refused (test hook)")
        response = self._pool.urlopen(method, self._prefix + path, body=data, headers=headers,
                                      redirect=False, pool_timeout=self._pool_timeout)
        try:
            answer = json.loads(response.data)
        # RecursionError: a body nested deeper than the parser goes is no answer either.
        except (ValueError, RecursionError):
            answer = None
        fault_point(point + ":after")
        return response.status, answer


def processor_from_env(maxsize: int = 8) -> CardProcessor:
    """CARD_PROCESSOR_URL (default http://127.0.0.1:8108), CARD_PROCESSOR_TIMEOUT_SECONDS
    (default 3.0)."""
    return CardProcessor(os.environ.get("CARD_PROCESSOR_URL", DEFAULT_URL),
                         timeout=float(os.environ.get("CARD_PROCESSOR_TIMEOUT_SECONDS", "3.0")),
                         maxsize=maxsize)


def _check_reference(reference: str) -> None:
    if not (isinstance(reference, str) and 1 <= len(reference) <= REFERENCE_MAX
            and set(reference) <= _PRINTABLE_ASCII):
        raise ValueError(f"a charge reference is 1 to {REFERENCE_MAX} printable ASCII "
                         f"characters, not {reference!r}")


def _path_part(reference: str) -> str:
    """The reference as one path segment. Dots are encoded too, so that "." or ".." is
    not a dot segment that something on the way could normalise away."""
    return quote(reference, safe="").replace(".", "%2E")


def _describe(exc: Exception) -> str:
    return f"{type(exc).__name__}: {exc}"


def _error_code(answer) -> str | None:
    return answer.get("error") if isinstance(answer, dict) else None


def _message(answer, status: int) -> str:
    if isinstance(answer, dict) and isinstance(answer.get("message"), str):
        return f"{answer.get('error')}: {answer['message']}"
    return f"HTTP {status}"


def _refuse_4xx(operation: str, status: int, answer) -> None:
    """A 4xx answer means the caller sent something wrong: ValueError, not a retry."""
    if 400 <= status < 500:
        raise ValueError(f"card processor refused the {operation} (HTTP {status}): "
                         f"{_message(answer, status)}")


def _record(operation: str, status: int, answer) -> Charge:
    """The Charge of a 200 answer; anything else is ProcessorUnavailable."""
    try:
        if status != 200:
            raise _Malformed(f"HTTP {status}")
        return _charge_of(answer)
    except _Malformed as exc:
        raise ProcessorUnavailable(f"{operation}: {exc}") from None


def _charge_of(item) -> Charge:
    """A Charge from a record answer; _Malformed when it is not one."""
    if not isinstance(item, dict):
        raise _Malformed("the answer is not a charge record")
    reference, status = item.get("reference"), item.get("status")
    amount_cents, card_last4 = item.get("amount_cents"), item.get("card_last4")
    if (not isinstance(reference, str) or not isinstance(status, str) or status not in STATUSES
            or not isinstance(amount_cents, int) or isinstance(amount_cents, bool)
            or not isinstance(card_last4, str)):
        raise _Malformed(f"not a charge record: {item!r}"[:200])
    return Charge(reference, status, amount_cents, card_last4)
