"""Reading untrusted query strings and form fields into plain values for the backend.

Pages never fail on odd input: a bad page number means page 1, a bad quantity is
refused with a message, and text loses the characters no database can store.
"""

import unicodedata

MAX_PAGE = 10_000
MAX_QUANTITY = 100
MAX_QUERY = 100  # the public API's limit on `q`
MAX_CATEGORY = 40
MAX_CART_LINES = 50  # the contract's maxItems for one checkout


def clean_text(raw: str | None, max_length: int | None = None) -> str:
    """The text stripped of control characters (NUL included), cut to max_length if given."""
    text = "".join(ch for ch in (raw or "") if unicodedata.category(ch) not in ("Cc", "Cs"))
    return text.strip()[:max_length]


def whole(raw: str | None) -> int | None:
    """The integer an ASCII digit string stands for, or None."""
    raw = (raw or "").strip()
    if not raw or len(raw) > 9 or not (raw.isascii() and raw.isdigit()):
        return None
    return int(raw)


def page_number(raw: str | None) -> int:
    """A page number from the query; anything odd is page 1."""
    page = whole(raw)
    return page if page is not None and 1 <= page <= MAX_PAGE else 1


def quantity(raw: str | None, allow_zero: bool = False) -> int | None:
    """A quantity 1-100 (0 too when allow_zero), or None."""
    qty = whole(raw)
    lowest = 0 if allow_zero else 1
    return qty if qty is not None and lowest <= qty <= MAX_QUANTITY else None


def card_from_form(form) -> dict:
    """The Card the contract expects; numbers stay text when they are not numbers, so
    the backend's validation names the field instead of this page guessing."""
    month, year = form.get("exp_month", ""), form.get("exp_year", "")
    # Not cut to length: an over-long value is refused by the validation, not altered.
    return {
        "number": clean_text(form.get("card_number")).replace(" ", "").replace("-", ""),
        "exp_month": whole(month) if whole(month) is not None else clean_text(month),
        "exp_year": whole(year) if whole(year) is not None else clean_text(year),
        "cvc": clean_text(form.get("cvc")),
        "holder": clean_text(form.get("holder")),
    }


def items_field(items: list[dict]) -> str:
    """The checkout form's hidden snapshot of the cart: "3:1,12:2"."""
    return ",".join(f"{i['product_id']}:{i['quantity']}" for i in items)


def parse_items_field(raw: str | None) -> list[dict] | None:
    """The items of a snapshot written by items_field, or None when it is malformed."""
    items = []
    for part in (raw or "").split(","):
        pid, _, qty = part.partition(":")
        product_id, count = whole(pid), quantity(qty)
        if not product_id or count is None:
            return None
        items.append({"product_id": product_id, "quantity": count})
    return items if 0 < len(items) <= MAX_CART_LINES else None
