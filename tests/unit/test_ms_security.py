"""Service tokens: derived keys, issue and verify, the caller's token cache and the
callee's memory of verified tokens."""

import time

import pytest

from microservices.common.security import (
    ServiceCaller,
    ServiceTokens,
    VerifiedTokens,
    customer_token_key,
    issue_service_token,
    service_token_key,
    verify_service_token,
)
from plumbing.errors import from_domain
from shop.errors import InvalidToken
from shop.tokens import issue_token, verify_token

SECRET = "unit-test-secret"
KEY = service_token_key(SECRET)
GATEWAY = frozenset({"gateway"})


def rejected(token, audience="catalog", allowed=GATEWAY, key=KEY, now=None) -> InvalidToken:
    """The error a token is refused with; it must be answered 401 unauthorized."""
    with pytest.raises(InvalidToken) as refused:
        verify_service_token(key, token, audience, allowed, now=now)
    api_error = from_domain(refused.value)
    assert (api_error.status, api_error.code) == (401, "unauthorized")
    return refused.value


def test_keys_are_derived_apart_and_from_the_secret():
    assert customer_token_key(SECRET) != service_token_key(SECRET)
    assert service_token_key(SECRET) == KEY
    assert service_token_key("another secret") != KEY
    assert len(KEY) == 32


def test_round_trip_with_a_customer():
    token = issue_service_token(KEY, "gateway", "inventory", 42)
    assert verify_service_token(KEY, token, "inventory", GATEWAY) == ServiceCaller("gateway", 42)


def test_round_trip_without_a_customer():
    token = issue_service_token(KEY, "gateway", "catalog", None)
    assert verify_service_token(KEY, token, "catalog", GATEWAY) == ServiceCaller("gateway", None)


def test_the_customer_is_bound_in_the_signed_token():
    token = issue_service_token(KEY, "gateway", "orders", 7)
    claims = verify_token(KEY, token, issuer="gateway", audience="orders")
    assert claims["sub"] == "7"
    # Tampering with the payload to claim another customer breaks the signature.
    forged = token.replace(token.split(".")[0], issue_service_token(
        KEY, "gateway", "orders", 8).split(".")[0])
    assert "signature" in rejected(forged, "orders").message


def test_missing_token():
    assert "required" in rejected(None).message
    assert "required" in rejected("").message


def test_forged_token_signed_with_another_key():
    token = issue_service_token(service_token_key("not the stack's"), "gateway", "catalog", 1)
    assert "signature" in rejected(token).message


def test_garbage_token():
    rejected("not.a.token")


def test_a_customer_token_is_not_a_service_token():
    token = issue_token(customer_token_key(SECRET), "1", issuer="gateway", audience="catalog",
                        ttl_seconds=60)
    rejected(token)


def test_expired_token():
    token = issue_service_token(KEY, "gateway", "catalog", 1, ttl=60)
    verify_service_token(KEY, token, "catalog", GATEWAY, now=time.time() + 59)
    assert "expired" in rejected(token, now=time.time() + 61).message


def test_token_for_another_service():
    token = issue_service_token(KEY, "gateway", "catalog", 1)
    rejected(token, audience="inventory")


def test_caller_not_allowed():
    token = issue_service_token(KEY, "orders", "inventory", 1)
    rejected(token, audience="inventory", allowed=GATEWAY)
    rejected(token, audience="inventory", allowed=frozenset())
    allowed = frozenset({"gateway", "orders"})
    assert verify_service_token(KEY, token, "inventory", allowed) == ServiceCaller("orders", 1)


def test_subject_that_is_no_customer():
    token = issue_token(KEY, "admin", issuer="gateway", audience="catalog", ttl_seconds=60)
    assert "subject" in rejected(token).message


def test_the_cache_reuses_a_token_per_audience_and_customer():
    tokens = ServiceTokens(KEY, "gateway")
    first = tokens.token("catalog", 1)
    assert tokens.token("catalog", 1) is first
    assert tokens.token("catalog", 2) != first
    assert tokens.token("inventory", 1) != first
    assert verify_service_token(KEY, first, "catalog", GATEWAY) == ServiceCaller("gateway", 1)


def test_the_cache_signs_again_after_half_the_lifetime():
    tokens = ServiceTokens(KEY, "gateway", ttl=0)
    first = tokens.token("catalog")
    # Signed again (within the same second the text may be equal, the object is new).
    assert tokens.token("catalog") is not first


def test_a_verified_token_is_remembered_until_it_expires(monkeypatch):
    verified = VerifiedTokens(KEY, "catalog", GATEWAY)
    token = issue_service_token(KEY, "gateway", "catalog", 7)
    assert verified.verify(token) == ServiceCaller("gateway", 7)
    # Remembered: the signature is not checked again.
    monkeypatch.setattr("microservices.common.security.verify_token",
                        lambda *a, **kw: pytest.fail("verified twice"))
    assert verified.verify(token) == ServiceCaller("gateway", 7)
    monkeypatch.undo()
    with pytest.raises(InvalidToken, match="expired"):
        verified.verify(token, now=time.time() + 61)


def test_refused_tokens_are_refused_every_time_and_never_remembered():
    verified = VerifiedTokens(KEY, "catalog", GATEWAY)
    forged = issue_service_token(service_token_key("forged"), "gateway", "catalog", 7)
    elsewhere = issue_service_token(KEY, "gateway", "inventory", 7)
    not_allowed = issue_service_token(KEY, "orders", "catalog", 7)
    for token in (forged, elsewhere, not_allowed, None, "", forged):
        with pytest.raises(InvalidToken):
            verified.verify(token)
    assert verified._known == {}


def test_the_memory_starts_over_when_full(monkeypatch):
    monkeypatch.setattr(VerifiedTokens, "MAX_ENTRIES", 2)
    verified = VerifiedTokens(KEY, "catalog", GATEWAY)
    for customer in (1, 2, 3):
        verified.verify(issue_service_token(KEY, "gateway", "catalog", customer))
    assert len(verified._known) == 1
