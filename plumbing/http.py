"""Request parsing shared by the public API of both architectures: JSON bodies,
query integers, bearer tokens and idempotency keys, each failing with the contract's
error codes."""

import hmac

from flask import request

from shop import accounts
from shop.errors import InvalidToken

from .errors import ApiError

# An Idempotency-Key is 1-200 printable ASCII characters, space excluded.
KEY_CHARS = frozenset(chr(c) for c in range(0x21, 0x7F))
KEY_MAX = 200


def parsed_json():
    """The request's body parsed as JSON, None when it does not parse.

    Nesting deeper than Python's recursion limit (a body of a thousand `[`) raises
    RecursionError, which is no ValueError and so escapes `get_json(silent=True)`: such
    a body is as unparseable as any other broken JSON, not a server error.
    """
    try:
        return request.get_json(silent=True)
    except RecursionError:
        return None


def json_body():
    """The request's JSON body; 415 when it is not JSON, 400 when it does not parse."""
    if not request.is_json:
        raise ApiError("unsupported_media_type", "the body must be application/json")
    body = parsed_json()
    if body is None:
        raise ApiError("invalid_json", "the request body is not valid JSON")
    return body


def text_ok(value: str) -> bool:
    """False for text the database cannot store: NUL bytes or lone surrogates."""
    if "\x00" in value:
        return False
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def json_object(allowed: dict[str, type]) -> dict:
    """A JSON object body holding exactly the `allowed` fields, each of its type."""
    body = json_body()
    if not isinstance(body, dict):
        raise ApiError("validation_error", "the body must be a JSON object", {"field": "body"})
    for name in body:
        if name not in allowed:
            raise ApiError("validation_error", f"unknown field '{name}'", {"field": name})
    for name, kind in allowed.items():
        value = body.get(name)
        if not isinstance(value, kind) or isinstance(value, bool):
            raise ApiError("validation_error", f"'{name}' must be a {kind.__name__}",
                           {"field": name})
    return body


def login_body() -> tuple[str, str]:
    """(email, password) of a LoginRequest body; 422 when malformed. Text no stored
    credential can hold (NUL, lone surrogates) is simply wrong credentials: 401."""
    body = json_object({"email": str, "password": str})
    if len(body["email"]) > 254 or len(body["password"]) > 200:
        raise ApiError("validation_error", "e-mail or password too long", {"field": "email"})
    if not (text_ok(body["email"]) and text_ok(body["password"])):
        raise ApiError("invalid_credentials", "wrong e-mail or password")
    return body["email"], body["password"]


def _arg(name: str) -> str | None:
    """A query argument, None when absent. Asked with `in` first: werkzeug's get of a
    missing key builds and catches a BadRequestKeyError, a few microseconds a time that
    every page of results paid for each argument left out (docs/profiling.md)."""
    args = request.args
    return args.get(name) if name in args else None


def int_arg(name: str, default: int, lo: int, hi: int) -> int:
    """A query integer within [lo, hi]; 422 otherwise."""
    raw = _arg(name)
    if raw is None:
        return default
    try:
        value = int(raw, 10)
    except ValueError:
        raise ApiError("validation_error", f"'{name}' must be an integer",
                       {"field": name}) from None
    if not lo <= value <= hi:
        raise ApiError("validation_error", f"'{name}' must be between {lo} and {hi}",
                       {"field": name})
    return value


def page_args() -> tuple[int, int]:
    """(page, per_page) of a paged list: page 1..10000 (default 1), per_page 1..100
    (default 20); 422 otherwise."""
    return int_arg("page", 1, 1, 10_000), int_arg("per_page", 20, 1, 100)


def str_arg(name: str, max_length: int) -> str | None:
    """A query string of at most `max_length` characters; 422 when longer."""
    raw = _arg(name)
    if raw is not None and len(raw) > max_length:
        raise ApiError("validation_error", f"'{name}' is longer than {max_length} characters",
                       {"field": name})
    if raw is not None and not text_ok(raw):
        raise ApiError("validation_error", f"'{name}' holds characters that are not allowed",
                       {"field": name})
    return raw


def idempotency_key() -> str:
    """The request's Idempotency-Key header (1-200 printable ASCII characters); 422 when
    it is missing or malformed."""
    key = request.headers.get("Idempotency-Key")
    if key is None:
        raise ApiError("idempotency_key_required", "the Idempotency-Key header is required",
                       {"field": "Idempotency-Key"})
    if not 1 <= len(key) <= KEY_MAX or not set(key) <= KEY_CHARS:
        raise ApiError("validation_error", "the Idempotency-Key must be 1-200 printable "
                       "ASCII characters", {"field": "Idempotency-Key"})
    return key


def bearer_token() -> str:
    """The bearer token of the Authorization header; 401 when there is none."""
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise ApiError("unauthorized", "a bearer token is required")
    return token.strip()


def current_customer(customer_key: str | bytes) -> int:
    """The customer of the request's bearer token, verified locally; 401 otherwise."""
    return accounts.customer_id_from_token(customer_key, bearer_token())


def require_admin(admin_token: str, customer_key: str | bytes) -> None:
    """Pass only the stack's admin token: 401 without a valid token, 403 for a customer's."""
    token = bearer_token()
    if hmac.compare_digest(token.encode(), admin_token.encode()):
        return
    try:
        accounts.customer_id_from_token(customer_key, token)
    except InvalidToken:
        raise ApiError("unauthorized", "invalid admin token") from None
    raise ApiError("forbidden", "this endpoint needs the admin token")
