"""Service tokens: which service calls (`iss`), which service it calls (`aud`), on behalf
of which customer (`sub`), for a minute.

Both kinds of signing key are derived from the one stack secret (ARCHLAB_SECRET_KEY),
each under its own label, so a customer token never verifies as a service token and
vice versa. A production deployment would distribute separate secrets per service (or
asymmetric keys), so one compromised service could not mint tokens for the others; the
lab keeps one secret so a stack needs no key distribution.
"""

import hashlib
import hmac
import threading
import time
from dataclasses import dataclass

from shop.errors import InvalidToken
from shop.tokens import issue_token, verify_token

SERVICE_TOKEN_HEADER = "X-Service-Token"
SERVICE_TOKEN_TTL_SECONDS = 60
# The subject of a token that carries no customer (e.g. a catalogue read).
NO_CUSTOMER = "-"


def _derive(secret: str, label: str) -> bytes:
    return hmac.new(secret.encode(), label.encode(), hashlib.sha256).digest()


def customer_token_key(secret: str) -> bytes:
    """The key accounts signs customer tokens with and the gateway verifies them with."""
    return _derive(secret, "customer-tokens")


def service_token_key(secret: str) -> bytes:
    """The key services sign and verify service tokens with."""
    return _derive(secret, "service-tokens")


@dataclass(frozen=True)
class ServiceCaller:
    """Who called, as a verified service token says; `customer_id` is None without one."""

    caller: str
    customer_id: int | None


def issue_service_token(key: bytes, caller: str, audience: str, customer_id: int | None,
                        ttl: int = SERVICE_TOKEN_TTL_SECONDS) -> str:
    """Sign a token with which `caller` calls `audience`, for `customer_id` if given."""
    subject = NO_CUSTOMER if customer_id is None else str(customer_id)
    return issue_token(key, subject, issuer=caller, audience=audience, ttl_seconds=ttl)


def verify_service_token(key: bytes, token, audience: str, allowed_callers,
                         now: float | None = None) -> ServiceCaller:
    """The caller of a valid token for `audience` from one of `allowed_callers`.

    Raises InvalidToken (answered 401 `unauthorized` by plumbing.errors) when the token
    is missing, forged, expired, meant for another service or from a caller not allowed.
    """
    if not isinstance(token, str) or not token:
        raise InvalidToken("a service token is required")
    reasons = []
    # The issuer is part of what is verified, so each allowed caller is tried in turn;
    # there are one or two of them, and an HMAC check costs microseconds.
    for caller in sorted(allowed_callers):
        try:
            claims = verify_token(key, token, issuer=caller, audience=audience, now=now)
        except InvalidToken as exc:
            if exc.message not in reasons:
                reasons.append(exc.message)
            continue
        return ServiceCaller(caller, _customer_id(claims["sub"]))
    raise InvalidToken("invalid service token: " + ("; ".join(reasons) or "no caller allowed"))


def _customer_id(subject: str) -> int | None:
    if subject == NO_CUSTOMER:
        return None
    if not (subject.isascii() and subject.isdigit()):
        raise InvalidToken("invalid service token: the subject is not a customer")
    return int(subject)


class ServiceTokens:
    """A caller's token cache: one token per (audience, customer), reused for half its
    lifetime, so a busy caller signs once in a while rather than on every call."""

    # Tokens are small, but the customers a caller serves are unbounded: past this many
    # the cache starts over rather than grow.
    MAX_ENTRIES = 10_000

    def __init__(self, key: bytes, caller: str, ttl: int = SERVICE_TOKEN_TTL_SECONDS):
        self._key = key
        self._caller = caller
        self._ttl = ttl
        self._tokens: dict[tuple[str, int | None], tuple[str, float]] = {}
        self._lock = threading.Lock()

    def token(self, audience: str, customer_id: int | None = None) -> str:
        """A token for calling `audience` on behalf of `customer_id`, valid for >= ttl/2."""
        now = time.monotonic()
        entry = self._tokens.get((audience, customer_id))
        if entry is not None and entry[1] > now:
            return entry[0]
        token = issue_service_token(self._key, self._caller, audience, customer_id, self._ttl)
        with self._lock:
            if len(self._tokens) >= self.MAX_ENTRIES:
                self._tokens.clear()
            self._tokens[(audience, customer_id)] = (token, now + self._ttl / 2)
        return token
