"""Accounts: log a customer in, and tell who a bearer token belongs to."""

from shop import accounts


def login(uow, email: str, password: str, secret: str) -> dict:
    """A bearer token and the customer, for a correct e-mail and password."""
    with uow:
        row = uow.customers.by_email(email.strip().lower())
    return accounts.login_response(secret, accounts.authenticate(row, password))


def customer_id_from_token(token: str, secret: str) -> int:
    """The customer id a valid token was issued to; InvalidToken otherwise."""
    return accounts.customer_id_from_token(secret, token)
