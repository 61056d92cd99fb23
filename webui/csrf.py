"""Cross-site request forgery protection: one random token per session, sent back by
every form as a hidden field and compared in constant time."""

import hmac
import secrets

from flask import abort, request, session

FIELD = "csrf_token"
_KEY = "csrf"


def token() -> str:
    """The session's token, made on first use (templates call this for every form)."""
    value = session.get(_KEY)
    if not value:
        value = session[_KEY] = secrets.token_urlsafe(32)
    return value


def renew() -> None:
    """A new token, so one seen before logging in is worthless afterwards."""
    session[_KEY] = secrets.token_urlsafe(32)


def protect() -> None:
    """Refuse (400) a POST whose form does not carry the session's token."""
    if request.method != "POST":
        return
    expected = session.get(_KEY, "")
    sent = request.form.get(FIELD, "")
    if not expected or not hmac.compare_digest(sent.encode(), expected.encode()):
        abort(400, "This form has expired or did not come from this shop. "
                   "Please go back, reload the page and try again.")
