"""Signed bearer tokens: who (`sub`), signed by whom (`iss`), for whom (`aud`), until when."""

import time
from typing import Any

from itsdangerous import BadData, URLSafeTimedSerializer

from shop.errors import InvalidToken


def _serializer(secret: str | bytes, audience: str) -> URLSafeTimedSerializer:
    # A salt per audience means a token signed for one audience does not even verify as
    # a signature for another, on top of the explicit `aud` check.
    return URLSafeTimedSerializer(secret, salt=f"rackshop-token:{audience}")


def issue_token(
    secret: str | bytes, subject: str, *, issuer: str, audience: str, ttl_seconds: int
) -> str:
    """Sign a token for `subject` that `audience` accepts for `ttl_seconds`."""
    claims = {
        "sub": subject,
        "iss": issuer,
        "aud": audience,
        "exp": int(time.time()) + ttl_seconds,
    }
    return _serializer(secret, audience).dumps(claims)


def verify_token(
    secret: str | bytes, token: Any, *, issuer: str, audience: str, now: float | None = None
) -> dict:
    """Return the claims of a valid token; raise InvalidToken for anything else.

    `now` (seconds since the epoch) defaults to time.time(); tests pass it to travel in time.
    """
    if not isinstance(token, str) or not token:
        raise InvalidToken("missing or malformed token")
    try:
        claims = _serializer(secret, audience).loads(token)
    except (BadData, UnicodeError, ValueError):
        # BadData covers bad signatures and payloads; the rest guard odd input bytes, so
        # callers can map exactly one exception to 401.
        raise InvalidToken("token signature is invalid") from None
    if not isinstance(claims, dict):
        raise InvalidToken("token payload is malformed")
    if claims.get("iss") != issuer or claims.get("aud") != audience:
        raise InvalidToken("token was not issued for this audience")
    exp = claims.get("exp")
    if not isinstance(exp, int) or isinstance(exp, bool) or not isinstance(claims.get("sub"), str):
        raise InvalidToken("token payload is malformed")
    if (time.time() if now is None else now) >= exp:
        raise InvalidToken("token expired")
    return claims
