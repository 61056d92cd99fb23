"""Domain errors; each carries the stable error `code` the public API reports."""


class DomainError(Exception):
    """A business rule said no; `code` is the API error code, `details` is JSON-safe."""

    code: str = "domain_error"

    def __init__(self, message: str, details: dict | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.details = details if details is not None else {}


class ValidationError(DomainError):
    """The input is malformed or breaks a rule; `details["field"]` names the culprit."""

    code = "validation_error"


class NotFound(DomainError):
    """A referenced entity does not exist."""

    code = "not_found"


class OutOfStock(DomainError):
    """Not enough stock for one or more products."""

    code = "out_of_stock"

    def __init__(self, product_ids: list[int]) -> None:
        ids = sorted(product_ids)
        super().__init__(
            "not enough stock for product(s) " + ", ".join(str(i) for i in ids),
            {"product_ids": ids},
        )
        self.product_ids = ids


class PaymentDeclined(DomainError):
    """The card processor declined the charge."""

    code = "payment_declined"


class PaymentUnavailable(DomainError):
    """The card processor failed or could not be reached; the outcome is not a decline."""

    code = "payment_unavailable"


class InProgress(DomainError):
    """A request with the same idempotency key is still running; the client retries later."""

    code = "in_progress"

    def __init__(self, message: str = "a request with this Idempotency-Key is still running;"
                 " retry shortly", details: dict | None = None) -> None:
        super().__init__(message, details)


class KeyMismatch(DomainError):
    """The idempotency key was used before for a different request."""

    code = "idempotency_key_mismatch"

    def __init__(self, message: str = "this Idempotency-Key was used for a different request",
                 details: dict | None = None) -> None:
        super().__init__(message, details)


class InvalidCredentials(DomainError):
    """Login failed: unknown e-mail or wrong password (deliberately not said which)."""

    code = "invalid_credentials"


class InvalidToken(DomainError):
    """A bearer token is missing, forged, expired or meant for someone else."""

    code = "unauthorized"


class ServiceUnavailable(DomainError):
    """Something the operation needs is down; retrying later may succeed."""

    code = "service_unavailable"
