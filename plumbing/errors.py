"""One error format for both architectures: `{"error": code, "message": ...}`.

Every failure a client can see maps to a code of the contract's error enum and a
documented status; anything unexpected becomes a logged `internal_error`, never a
stack trace.
"""

import logging

from flask import Flask, jsonify, make_response, request
from werkzeug.exceptions import HTTPException

from shop.errors import DomainError

from .db import BROKEN, PoolTimeout

log = logging.getLogger("archlab.errors")

# The contract's error enum, with the status each code is answered with.
STATUS_BY_CODE = {
    "bad_request": 400,
    "invalid_json": 400,
    "unauthorized": 401,
    "invalid_credentials": 401,
    "payment_declined": 402,
    "forbidden": 403,
    "not_found": 404,
    "method_not_allowed": 405,
    "out_of_stock": 409,
    "in_progress": 409,
    "payload_too_large": 413,
    "unsupported_media_type": 415,
    "validation_error": 422,
    "idempotency_key_required": 422,
    "idempotency_key_mismatch": 422,
    "internal_error": 500,
    "service_unavailable": 503,
    "payment_unavailable": 503,
}

CODE_BY_HTTP_STATUS = {
    400: "bad_request", 401: "unauthorized", 403: "forbidden", 404: "not_found",
    405: "method_not_allowed", 413: "payload_too_large", 415: "unsupported_media_type",
    422: "validation_error", 503: "service_unavailable",
}

RETRY_AFTER_SECONDS = 1
# Paths answered as JSON for machines; every other path is a page for people.
API_PREFIXES = ("/api/", "/internal/", "/healthz", "/readyz")


class ApiError(Exception):
    """An error answered as-is: a contract code, a message, optional details and headers."""

    def __init__(self, code: str, message: str, details: dict | None = None,
                 headers: dict | None = None):
        super().__init__(message)
        self.code = code
        self.status = STATUS_BY_CODE[code]
        self.message = message
        self.details = details or {}
        self.headers = headers or {}


def error_response(code: str, message: str, details: dict | None = None,
                   headers: dict | None = None):
    """A Flask JSON response for an error code of the contract."""
    body = {"error": code, "message": message}
    if details:
        body["details"] = details
    resp = jsonify(body)
    resp.status_code = STATUS_BY_CODE[code]
    if resp.status_code == 503 or code == "in_progress":
        resp.headers["Retry-After"] = str(RETRY_AFTER_SECONDS)
    for name, value in (headers or {}).items():
        resp.headers[name] = value
    return resp


def from_domain(exc: DomainError) -> ApiError:
    """The API error for a domain error."""
    code = exc.code if exc.code in STATUS_BY_CODE else "internal_error"
    return ApiError(code, exc.message, exc.details)


def as_api_error(exc: Exception) -> ApiError:
    """An ApiError, or the API error for a domain error."""
    return exc if isinstance(exc, ApiError) else from_domain(exc)


def install(app: Flask, html_renderer=None) -> None:
    """Answer every error as JSON, or through `html_renderer(status, code, message)` for
    page routes (any path outside /api/, /internal/ and the probes) when one is given."""

    def render(code: str, message: str, details=None, headers=None, status=None):
        wants_json = html_renderer is None or request.path.startswith(API_PREFIXES)
        if wants_json:
            resp = error_response(code, message, details, headers)
            if status is not None:
                resp.status_code = status
            return resp
        resp = make_response(html_renderer(status or STATUS_BY_CODE[code], code, message))
        resp.headers.update(headers or {})
        return resp

    @app.errorhandler(ApiError)
    def _api_error(exc: ApiError):
        return render(exc.code, exc.message, exc.details, exc.headers)

    @app.errorhandler(DomainError)
    def _domain_error(exc: DomainError):
        err = from_domain(exc)
        return render(err.code, err.message, err.details)

    @app.errorhandler(PoolTimeout)
    def _pool_timeout(exc: PoolTimeout):
        return render("service_unavailable", "the service is busy; retry shortly")

    @app.errorhandler(HTTPException)
    def _http_error(exc: HTTPException):
        status = exc.code or 500
        code = CODE_BY_HTTP_STATUS.get(status, "internal_error" if status >= 500
                                       else "bad_request")
        message = exc.description or exc.name
        headers = {}
        if status == 405 and exc.valid_methods:
            headers["Allow"] = ", ".join(sorted(exc.valid_methods))
        if code == "internal_error":
            return render(code, "internal error", status=500)
        return render(code, message, headers=headers, status=status)

    @app.errorhandler(Exception)
    def _unexpected(exc: Exception):
        if isinstance(exc, BROKEN):
            log.warning("database unavailable: %s", exc)
            return render("service_unavailable", "the database is unavailable; retry shortly")
        log.exception("unhandled error on %s %s", request.method, request.path)
        return render("internal_error", "internal error")
