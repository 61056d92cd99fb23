import pytest

from shop.errors import (
    DomainError,
    InProgress,
    InvalidCredentials,
    InvalidToken,
    KeyMismatch,
    NotFound,
    OutOfStock,
    PaymentDeclined,
    PaymentUnavailable,
    ServiceUnavailable,
    ValidationError,
)


@pytest.mark.parametrize(
    ("cls", "code"),
    [
        (ValidationError, "validation_error"),
        (NotFound, "not_found"),
        (PaymentDeclined, "payment_declined"),
        (PaymentUnavailable, "payment_unavailable"),
        (InvalidCredentials, "invalid_credentials"),
        (InvalidToken, "unauthorized"),
        (InProgress, "in_progress"),
        (KeyMismatch, "idempotency_key_mismatch"),
        (ServiceUnavailable, "service_unavailable"),
    ],
)
def test_error_codes(cls, code):
    error = cls("nope")
    assert isinstance(error, DomainError)
    assert (error.code, error.message, error.details, str(error)) == (code, "nope", {}, "nope")


def test_details_are_kept():
    error = ValidationError("bad", {"field": "items[0].quantity"})
    assert error.details == {"field": "items[0].quantity"}


def test_details_default_is_not_shared():
    first, second = NotFound("a"), NotFound("b")
    first.details["x"] = 1
    assert second.details == {}


def test_out_of_stock_names_the_products():
    error = OutOfStock([7, 3])
    assert error.code == "out_of_stock"
    assert error.details == {"product_ids": [3, 7]}
    assert "3" in error.message and "7" in error.message


def test_idempotency_errors_say_what_the_client_should_do():
    assert InProgress().message == ("a request with this Idempotency-Key is still running;"
                                    " retry shortly")
    assert KeyMismatch().message == "this Idempotency-Key was used for a different request"
