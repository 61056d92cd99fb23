"""Password hashing with stdlib scrypt, in werkzeug's "scrypt:n:r:p$salt$hex" format.

The format matches werkzeug.security.generate_password_hash, so hashes written here are
checked by werkzeug and vice versa, without the domain depending on werkzeug.
"""

import hashlib
import hmac
import secrets
import string

# werkzeug's defaults: n=2**15, r=8, p=1, 64-byte key.
_N = 32768
_R = 8
_P = 1
_METHOD = f"scrypt:{_N}:{_R}:{_P}"
_SALT_CHARS = string.ascii_letters + string.digits
_SALT_LENGTH = 16


def _scrypt_hex(password: str, salt: str) -> str:
    # scrypt needs 128*n*r*p bytes; OpenSSL wants a little headroom above that.
    key = hashlib.scrypt(
        password.encode(),
        salt=salt.encode(),
        n=_N,
        r=_R,
        p=_P,
        maxmem=132 * _N * _R * _P,
        dklen=64,
    )
    return key.hex()


def hash_password(password: str, salt: str | None = None) -> str:
    """Hash a password; a random salt is drawn unless one is given (seed data only)."""
    if salt is None:
        salt = "".join(secrets.choice(_SALT_CHARS) for _ in range(_SALT_LENGTH))
    return f"{_METHOD}${salt}${_scrypt_hex(password, salt)}"


def check_password(password_hash: str, password: str) -> bool:
    """Return True if the password matches; False for a wrong password or malformed hash."""
    try:
        method, salt, digest = password_hash.split("$", 2)
        # Only our own parameters are accepted: a tampered hash must not be able to make
        # scrypt allocate gigabytes.
        if method != _METHOD:
            return False
        candidate = _scrypt_hex(password, salt)
        # Bytes, because compare_digest refuses non-ASCII str and a corrupt hash may hold some.
        return hmac.compare_digest(candidate.encode(), digest.encode())
    except (AttributeError, TypeError, ValueError, UnicodeError):
        # A corrupt stored hash must read as "wrong password", never as a server error.
        return False
