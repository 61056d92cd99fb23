"""The interface the pages are written against, and the one error type it raises.

Every method returns the public API's JSON shapes (contract/openapi.yaml), so
both architectures' backends answer alike and the pages cannot drift apart.
"""

from typing import Protocol

from plumbing.errors import ApiError, as_api_error
from shop.errors import DomainError


class BackendError(Exception):
    """A failure the pages show to people: a contract error code, a message, a status."""

    def __init__(self, code: str, message: str, status: int, details: dict | None = None):
        super().__init__(message)
        self.code = code
        self.message = message
        self.status = status
        self.details = details or {}


class ShopBackend(Protocol):
    """What the shop's pages need from an architecture."""

    def categories(self) -> dict:
        """CategoryList: {"items": [{"slug", "name", "product_count"}]}."""

    def search(self, q: str | None, category: str | None, page: int, per_page: int) -> dict:
        """ProductPage: {"items": [ProductSummary], "page", "per_page", "total"}."""

    def product(self, product_id: int) -> dict:
        """Product, with "stock": {"available": int | None, "status"}; not_found (404)."""

    def login(self, email: str, password: str) -> dict:
        """LoginResponse: {"token", "token_type", "expires_in", "customer"};
        invalid_credentials (401)."""

    def checkout(self, token: str, key: str, items: list[dict], card: dict) -> dict:
        """Order, exactly once per key. Errors: payment_declined (402), out_of_stock and
        in_progress (409), validation_error (422), service_unavailable or
        payment_unavailable (503), unauthorized (401)."""

    def orders(self, token: str, page: int, per_page: int) -> dict:
        """OrderPage of the token's customer, newest first."""

    def order(self, token: str, order_id: int) -> dict:
        """Order; not_found (404) when it is not the customer's."""

    def invoice(self, token: str, order_id: int) -> dict:
        """Invoice: {"order_id", "number", "status", "delivered_at", "emailed_at", "text",
        "html"}; "emailed_at" is when it was last e-mailed (either kind), or None."""

    def email_invoice(self, token: str, order_id: int) -> dict:
        """InvoiceEmail: {"order_id", "to", "status": "accepted"}."""

    def emails(self, token: str, page: int, per_page: int) -> dict:
        """EmailPage of the token's customer, newest first: {"items": [{"id", "to",
        "subject", "body", "sent_at", "order_id", "kind"}], "page", "per_page", "total"};
        "kind" is "invoice" (the delivery, printing having failed) or "invoice_copy" (sent
        on the customer's request); "order_id" may be None."""


def call(fn, *args):
    """Call into an architecture's code, turning its API and domain errors into the
    BackendError the pages show."""
    try:
        return fn(*args)
    except (ApiError, DomainError) as exc:
        err = as_api_error(exc)
        raise BackendError(err.code, err.message, err.status, err.details) from None
