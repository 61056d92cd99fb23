"""The login rules' cost: an unknown e-mail costs one scrypt, like a wrong password."""

import subprocess
import sys

import pytest

from shop import accounts
from shop.errors import InvalidCredentials
from shop.passwords import check_password, hash_password

# Counts the scrypt calls of one unknown-e-mail login in a fresh interpreter, so nothing an
# earlier test computed (a cached hash) hides what a new worker pays on its first login.
FIRST_LOGIN = """
import hashlib
from shop import accounts
from shop.errors import InvalidCredentials

calls = 0
real = hashlib.scrypt
def counting(*args, **kw):
    global calls
    calls += 1
    return real(*args, **kw)
hashlib.scrypt = counting
try:
    accounts.authenticate(None, "whatever")
except InvalidCredentials:
    pass
print(calls)
"""


def test_the_dummy_hash_is_the_hash_of_its_words_at_todays_parameters():
    assert accounts.DUMMY_HASH == hash_password(accounts.DUMMY_PASSWORD, accounts.DUMMY_SALT)
    assert check_password(accounts.DUMMY_HASH, accounts.DUMMY_PASSWORD)


def test_a_new_processs_first_unknown_email_login_costs_one_scrypt():
    out = subprocess.run([sys.executable, "-c", FIRST_LOGIN], capture_output=True, text=True,
                         check=True)
    assert out.stdout.strip() == "1"


def test_an_unknown_email_is_refused_like_a_wrong_password():
    with pytest.raises(InvalidCredentials, match="wrong e-mail or password"):
        accounts.authenticate(None, accounts.DUMMY_PASSWORD)
