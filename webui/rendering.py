"""What every page shares: the error page, messages for backend errors, and the
template filters and layout values (header, cart count, who is logged in)."""

import datetime
import html
import logging

from flask import render_template, request, session

from shop.catalog import CATEGORIES
from shop.money import VAT_PERCENT, format_eur, vat_cents

from . import auth, cart, csrf, forms
from .backend import BackendError

log = logging.getLogger("webui")

TITLES = {
    400: "That request did not work",
    401: "Please log in",
    403: "Not allowed",
    404: "Page not found",
    405: "Not possible here",
    409: "That did not work out",
    413: "Too much data",
    422: "Please check your input",
    500: "Something went wrong on our side",
    503: "Temporarily unavailable",
}

_CATEGORY_NAMES = dict(CATEGORIES)

# At or below this many units a product page says "Only N left" instead of "In stock: N".
LOW_STOCK = 10

# What is down, in people's words, per 503 error code.
UNAVAILABLE = {"payment_unavailable": "Card payment", "service_unavailable": "The shop"}


def sentence(text: str) -> str:
    """A message as a sentence: capital first letter, final full stop."""
    text = text.strip()
    if not text:
        return text
    text = text[0].upper() + text[1:]
    return text if text[-1] in ".!?" else text + "."


def explain(exc: BackendError) -> str:
    """What to tell a person about a backend error."""
    if exc.status == 503:
        what = UNAVAILABLE.get(exc.code, "The shop")
        return f"{what} is unavailable right now. Please try again in a moment."
    return sentence(exc.message)


def render_error(status: int, code: str, message: str):
    """A readable HTML error page (status, title, message), never a stack trace."""
    title = TITLES.get(status, "Something went wrong" if status >= 500 else "That did not work")
    headers = {"Content-Type": "text/html; charset=utf-8"}
    if status == 503:
        headers["Retry-After"] = "1"
    try:
        body = render_template("error.html", status=status, code=code, title=title,
                               message=sentence(message))
    except Exception:  # the layout itself failed: answer plainly rather than not at all
        log.exception("rendering the %s error page failed", status)
        body = (f"<!doctype html><title>{status} {html.escape(title)}</title>"
                f"<h1>{status} {html.escape(title)}</h1><p>{html.escape(message)}</p>")
    return body, status, headers


def error_page(exc: BackendError):
    """The error page for a backend error."""
    return render_error(exc.status, exc.code, explain(exc))


def customer_list(template: str, fetch, per_page: int, **context):
    """A page of the logged-in customer's list (orders, e-mails): `fetch(token, page,
    per_page)` is the backend call; to the login page without a valid login."""
    token = auth.token()
    if not token:
        return auth.to_login()
    page = forms.page_number(request.args.get("page"))
    try:
        result = fetch(token, page, per_page)
    except BackendError as exc:
        if exc.status == 401:
            return auth.to_login(expired=True)
        return render_template(template, result=None, error=explain(exc), **context), \
            exc.status
    pages = max(1, -(-result["total"] // per_page))
    return render_template(template, result=result, page=page, pages=pages, error=None,
                           **context)


def eur(cents: int) -> str:
    """Template filter: cents as euros, "€1,234.56"."""
    return format_eur(cents)


def gross(cents: int) -> int:
    """Template filter: a net amount with 21% VAT added."""
    return cents + vat_cents(cents)


def category_label(slug: str) -> str:
    """Template filter: a category's display name, "ups" -> "UPS units"."""
    return _CATEGORY_NAMES.get(slug, slug)


def when(value: str | None) -> str:
    """Template filter: an ISO timestamp as "25 Nov 2025, 17:53 UTC"."""
    if not value:
        return ""
    try:
        moment = datetime.datetime.fromisoformat(value)
    except ValueError:
        return value
    if moment.tzinfo is not None:
        moment = moment.astimezone(datetime.UTC)
    return f"{moment.day} {moment:%b %Y, %H:%M} UTC"


def layout() -> dict:
    """Values the base layout needs on every page, error pages included."""
    return {"csrf_token": csrf.token, "csrf_field": csrf.FIELD,
            "cart_count": cart.count(session), "customer": auth.customer(),
            "vat_percent": VAT_PERCENT, "low_stock": LOW_STOCK}
