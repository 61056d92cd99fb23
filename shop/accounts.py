"""Customer login and tokens: the rules both architectures apply to credentials."""

from shop.errors import InvalidCredentials, InvalidToken
from shop.passwords import check_password
from shop.tokens import issue_token, verify_token

ISSUER = "rackshop"
AUDIENCE = "rackshop-api"
TOKEN_TTL_SECONDS = 8 * 3600

# Checked when the e-mail is unknown, so a wrong address costs the same scrypt time as a
# wrong password and does not reveal which customers exist. Written out, not made on
# first use: that cost a second scrypt in the first such login of each worker, and at a
# small container's CPU quota one scrypt takes seconds (~0.12 s of CPU at 0.05 CPU is
# ~2.4 s). tests/unit/test_shop_accounts.py holds it to today's parameters.
DUMMY_PASSWORD = "not-a-password"
DUMMY_SALT = "dummy-salt-0000"
DUMMY_HASH = ("scrypt:32768:8:1$dummy-salt-0000$40235586e8cf8b5ba2b2ee50a7f95ab78bed9e270b12"
              "96e90aa74435ae043ae3234f020f0ac337e5341dff15a9e8652586ddbbc837f6a2e91f0b616b9e"
              "28b215")


def authenticate(row: tuple[int, str, str, str] | None, password: str) -> tuple[int, str, str]:
    """(id, email, name) of the customer `row` (id, email, name, hash) if the password
    is right; InvalidCredentials otherwise, in the same time whether or not it exists."""
    if row is None:
        check_password(DUMMY_HASH, password)
        raise InvalidCredentials("wrong e-mail or password")
    customer_id, email, name, password_hash = row
    if not check_password(password_hash, password):
        raise InvalidCredentials("wrong e-mail or password")
    return customer_id, email, name


def login_response(secret: str | bytes, customer: tuple[int, str, str]) -> dict:
    """The API's LoginResponse: a fresh bearer token and the customer."""
    customer_id, email, name = customer
    token = issue_token(secret, str(customer_id), issuer=ISSUER, audience=AUDIENCE,
                        ttl_seconds=TOKEN_TTL_SECONDS)
    return {"token": token, "token_type": "bearer", "expires_in": TOKEN_TTL_SECONDS,
            "customer": {"id": customer_id, "email": email, "name": name}}


def customer_id_from_token(secret: str | bytes, token: str) -> int:
    """The customer id a valid token was issued to; InvalidToken otherwise."""
    subject = verify_token(secret, token, issuer=ISSUER, audience=AUDIENCE)["sub"]
    if not (subject.isascii() and subject.isdigit()):
        raise InvalidToken("token subject is not a customer")
    return int(subject)
