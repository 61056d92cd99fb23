import time

import pytest

from shop.errors import InvalidToken
from shop.tokens import issue_token, verify_token

SECRET = "test-secret"
ISSUER = "accounts"
AUDIENCE = "rackshop-api"


def issue(subject="42", ttl_seconds=3600, secret=SECRET, issuer=ISSUER, audience=AUDIENCE):
    return issue_token(secret, subject, issuer=issuer, audience=audience, ttl_seconds=ttl_seconds)


def verify(token, secret=SECRET, issuer=ISSUER, audience=AUDIENCE, now=None):
    return verify_token(secret, token, issuer=issuer, audience=audience, now=now)


def test_round_trip():
    before = int(time.time())
    claims = verify(issue())
    assert claims["sub"] == "42"
    assert (claims["iss"], claims["aud"]) == (ISSUER, AUDIENCE)
    assert before + 3600 <= claims["exp"] <= int(time.time()) + 3600
    assert set(claims) == {"sub", "iss", "aud", "exp"}


def test_valid_until_expiry():
    token = issue(ttl_seconds=60)
    exp = verify(token)["exp"]
    assert verify(token, now=exp - 0.001)["sub"] == "42"
    with pytest.raises(InvalidToken, match="expired"):
        verify(token, now=exp)


def test_expired_by_the_clock():
    with pytest.raises(InvalidToken, match="expired"):
        verify(issue(ttl_seconds=-1))


def test_tampered_signature():
    head, _, signature = issue().rpartition(".")
    # Change the signature's first character: the last one may only carry padding bits.
    tampered = f"{head}.{'A' if signature[0] != 'A' else 'B'}{signature[1:]}"
    with pytest.raises(InvalidToken):
        verify(tampered)


def test_tampered_payload():
    payload, *rest = issue().split(".")
    other_payload = issue(subject="1").split(".")[0]
    assert payload != other_payload
    with pytest.raises(InvalidToken):
        verify(".".join([other_payload, *rest]))


def test_wrong_secret():
    with pytest.raises(InvalidToken):
        verify(issue(), secret="other-secret")


def test_wrong_audience():
    with pytest.raises(InvalidToken):
        verify(issue(audience="inventory"))


def test_wrong_issuer():
    with pytest.raises(InvalidToken):
        verify(issue(issuer="someone-else"))


@pytest.mark.parametrize(
    "token", [None, 42, b"bytes", "", "garbage", "a.b.c", "....", "é" * 20, "\x00"]
)
def test_malformed(token):
    with pytest.raises(InvalidToken) as caught:
        verify(token)
    assert caught.value.code == "unauthorized"
