"""The cart: web-session state owned by no service.

It holds product ids and quantities only; names and prices are fetched fresh each
time the cart is shown, so a price change never leaves a stale figure in a cookie.
Lines are a list of [product_id, quantity] pairs so their order survives JSON.
"""

from collections.abc import MutableMapping

from .forms import MAX_CART_LINES, MAX_QUANTITY

_KEY = "cart"


def items(session: MutableMapping) -> list[dict]:
    """The cart as checkout items: [{"product_id", "quantity"}], in the order added."""
    return [{"product_id": pid, "quantity": qty} for pid, qty in session.get(_KEY, [])]


def count(session: MutableMapping) -> int:
    """How many units the cart holds, for the header."""
    return sum(qty for _, qty in session.get(_KEY, []))


def quantity_of(session: MutableMapping, product_id: int) -> int:
    """Units of one product already in the cart."""
    return next((qty for pid, qty in session.get(_KEY, []) if pid == product_id), 0)


def _save(session: MutableMapping, lines: list[list[int]]) -> None:
    # A fresh list: Flask notices assignment, not in-place edits of nested values.
    session[_KEY] = [[pid, qty] for pid, qty in lines if qty > 0]


def set_quantity(session: MutableMapping, product_id: int, qty: int) -> bool:
    """Set a line's quantity (0 removes it, at most 100); False when the cart is full."""
    lines = [list(line) for line in session.get(_KEY, [])]
    qty = min(qty, MAX_QUANTITY)
    for line in lines:
        if line[0] == product_id:
            line[1] = qty
            break
    else:
        if qty and len(lines) >= MAX_CART_LINES:
            return False
        lines.append([product_id, qty])
    _save(session, lines)
    return True


def remove(session: MutableMapping, product_id: int) -> None:
    """Drop a line."""
    set_quantity(session, product_id, 0)


def remove_bought(session: MutableMapping, bought: list[dict]) -> None:
    """Take what an order bought out of the cart; anything added since stays."""
    taken = {i["product_id"]: i["quantity"] for i in bought}
    _save(session, [[pid, qty - taken.get(pid, 0)] for pid, qty in session.get(_KEY, [])])
