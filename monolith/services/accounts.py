"""Accounts: log a customer in, and tell who a bearer token belongs to."""

from shop.errors import InvalidCredentials, InvalidToken
from shop.passwords import check_password, hash_password
from shop.tokens import issue_token, verify_token

ISSUER = "rackshop"
AUDIENCE = "rackshop-api"
TOKEN_TTL_SECONDS = 8 * 3600

# Checked when the e-mail is unknown, so a wrong address costs the same scrypt
# time as a wrong password and does not reveal which customers exist.
_DUMMY_HASH = hash_password("not-a-password", salt="dummy-salt-0000")


def login(uow, email: str, password: str, secret: str) -> dict:
    """A bearer token and the customer, for a correct e-mail and password."""
    with uow:
        row = uow.customers.by_email(email.strip().lower())
    if row is None:
        check_password(_DUMMY_HASH, password)
        raise InvalidCredentials("wrong e-mail or password")
    customer_id, email, name, password_hash = row
    if not check_password(password_hash, password):
        raise InvalidCredentials("wrong e-mail or password")
    token = issue_token(secret, str(customer_id), issuer=ISSUER, audience=AUDIENCE,
                        ttl_seconds=TOKEN_TTL_SECONDS)
    return {"token": token, "token_type": "bearer", "expires_in": TOKEN_TTL_SECONDS,
            "customer": {"id": customer_id, "email": email, "name": name}}


def customer_id_from_token(token: str, secret: str) -> int:
    """The customer id a valid token was issued to; InvalidToken otherwise."""
    subject = verify_token(secret, token, issuer=ISSUER, audience=AUDIENCE)["sub"]
    if not (subject.isascii() and subject.isdigit()):
        raise InvalidToken("token subject is not a customer")
    return int(subject)
