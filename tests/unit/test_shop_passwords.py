import pytest
from werkzeug.security import check_password_hash, generate_password_hash

from shop.passwords import check_password, hash_password

# scrypt costs ~0.12 s a call: hash once per module, not per test.
OURS = hash_password("s3cret pässword")


def test_format_is_werkzeugs():
    method, salt, digest = OURS.split("$")
    assert method == "scrypt:32768:8:1"
    assert len(salt) == 16 and salt.isalnum()
    assert len(digest) == 128  # 64 bytes, hex


def test_check_accepts_right_and_rejects_wrong():
    assert check_password(OURS, "s3cret pässword")
    assert not check_password(OURS, "s3cret password")


def test_werkzeug_accepts_our_hash():
    assert check_password_hash(OURS, "s3cret pässword")


def test_we_accept_werkzeugs_hash():
    assert check_password(generate_password_hash("hunter2"), "hunter2")


def test_random_salts_differ():
    assert hash_password("s3cret pässword") != OURS


@pytest.mark.parametrize(
    "bad_hash",
    [
        "",
        "nonsense",
        "scrypt:32768:8:1$salt",  # no digest
        "scrypt:2147483648:8:1$salt$00",  # parameters we never write: not computed
        "pbkdf2:sha256:600000$salt$00",
        "scrypt:32768:8:1$salt$é",  # non-ASCII digest
        None,
        42,
    ],
)
def test_malformed_hash_is_false_not_an_error(bad_hash):
    assert check_password(bad_hash, "s3cret pässword") is False
