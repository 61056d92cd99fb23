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
    return _verified(key, token, audience, allowed_callers, now)[0]


def _verified(key: bytes, token, audience: str, allowed_callers,
              now: float | None) -> tuple[ServiceCaller, int]:
    """The caller of a valid token and the token's expiry (seconds since the epoch)."""
    if not isinstance(token, str) or not token:
        raise InvalidToken("a service token is required")
    reasons = []
    # The issuer is part of what is verified, so each allowed caller is tried in turn;
    # there are one or two of them.
    for caller in sorted(allowed_callers):
        try:
            claims = verify_token(key, token, issuer=caller, audience=audience, now=now)
        except InvalidToken as exc:
            if exc.message not in reasons:
                reasons.append(exc.message)
            continue
        return ServiceCaller(caller, _customer_id(claims["sub"])), claims["exp"]
    raise InvalidToken("invalid service token: " + ("; ".join(reasons) or "no caller allowed"))


class VerifiedTokens:
    """A service's memory of the service tokens it has verified, so each token string is
    checked by signature once and after that for expiry alone.

    Callers reuse a token for half its lifetime (ServiceTokens), so a busy service sees
    the same few strings over and over, and a full verification (itsdangerous: base64,
    HMAC, JSON, tried per allowed caller) cost tens of microseconds per internal request
    (docs/profiling.md). Only tokens that verified are remembered, under their exact
    string with this service's key, audience and callers, so a remembered answer is the
    answer a full check would give until the token expires.
    """

    # Past this many tokens (callers x customers x half-minutes) it starts over.
    MAX_ENTRIES = 10_000

    def __init__(self, key: bytes, audience: str, allowed_callers):
        self._key = key
        self._audience = audience
        self._allowed = frozenset(allowed_callers)
        self._known: dict[str, tuple[ServiceCaller, int]] = {}

    def verify(self, token, now: float | None = None) -> ServiceCaller:
        """As verify_service_token, for this service's audience and allowed callers."""
        now = time.time() if now is None else now
        known = self._known.get(token) if isinstance(token, str) else None
        if known is not None and now < known[1]:
            return known[0]
        caller, expires = _verified(self._key, token, self._audience, self._allowed, now)
        if len(self._known) >= self.MAX_ENTRIES:
            self._known.clear()
        self._known[token] = (caller, expires)
        return caller


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
