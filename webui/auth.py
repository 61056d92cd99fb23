"""Who is logged in: the customer's bearer token and name, kept in the signed session."""

from urllib.parse import urlsplit

from flask import flash, redirect, request, session, url_for

_TOKEN, _CUSTOMER = "token", "customer"


def remember(login: dict) -> None:
    """Keep a LoginResponse's token and the customer's name and e-mail."""
    customer = login["customer"]
    session[_TOKEN] = login["token"]
    session[_CUSTOMER] = {"name": customer["name"], "email": customer["email"]}


def forget() -> None:
    """Log out: drop everything the session holds, the cart included."""
    session.clear()


def token() -> str | None:
    """The logged-in customer's bearer token, or None."""
    return session.get(_TOKEN)


def customer() -> dict | None:
    """{"name", "email"} of the logged-in customer, or None."""
    return session.get(_CUSTOMER)


def safe_next(raw: str | None) -> str:
    """A local path to return to after logging in; anything else (another site) is "/"."""
    raw = raw or ""
    parts = urlsplit(raw)
    # "//evil.example" and "/\evil.example" are other sites to a browser.
    if (not raw.startswith("/") or raw.startswith("//") or "\\" in raw
            or parts.scheme or parts.netloc):
        return "/"
    return raw


def to_login(next_path: str | None = None, expired: bool = False):
    """Redirect to the login page, coming back to next_path (the current page) after."""
    if expired:
        session.pop(_TOKEN, None)
        session.pop(_CUSTOMER, None)
        flash("Your session has expired. Please log in again.", "info")
    target = next_path or request.full_path.rstrip("?")
    return redirect(url_for("shop.login", next=safe_next(target)))
