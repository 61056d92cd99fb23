"""Checkout: the cart summary, the card form, and buying exactly once per form.

Every rendered form carries its own Idempotency-Key and a snapshot of the items it
shows, so a double click, a reload or a re-post after "back" sends the very same
request again and gets the stored answer (the same order), never a second purchase.
"""

import time
import uuid

from flask import Blueprint, abort, flash, redirect, render_template, request, session, url_for

from plumbing.http import KEY_CHARS, KEY_MAX
from shop.cards import TEST_CARDS, Outcome

from .. import auth, cart, forms, summary
from ..backend import BackendError, ShopBackend
from ..rendering import UNAVAILABLE, explain

# A second submit of the same form finds the first still running (in_progress): wait
# for its answer in small steps, within what a person tolerates after a click.
RETRY_STEP_SECONDS = 0.25
RETRY_BUDGET_SECONDS = 5.0

TEST_CARD_HELP = {
    Outcome.APPROVED: "the payment is approved",
    Outcome.DECLINED: "the card is declined",
    Outcome.PROCESSOR_ERROR: "the card processor fails (nothing is charged)",
}

# Contract field names of card errors -> the form's input names, to mark the culprit.
FORM_FIELDS = {"card.number": "card_number", "card.holder": "holder",
               "card.exp_month": "exp_month", "card.exp_year": "exp_year", "card.cvc": "cvc"}


def card_help() -> list[tuple[str, str]]:
    """The documented test cards, grouped by four digits, with what each does."""
    return [(" ".join(number[i:i + 4] for i in range(0, len(number), 4)),
             TEST_CARD_HELP.get(outcome, outcome.value))
            for number, outcome in TEST_CARDS.items()]


def buy(backend: ShopBackend, token: str, key: str, items: list[dict], card: dict) -> dict:
    """backend.checkout, asked again with the same key while that key is in progress."""
    deadline = time.monotonic() + RETRY_BUDGET_SECONDS
    while True:
        try:
            return backend.checkout(token, key, items, card)
        except BackendError as exc:
            if exc.code != "in_progress" or time.monotonic() + RETRY_STEP_SECONDS > deadline:
                raise
        time.sleep(RETRY_STEP_SECONDS)


def failure_message(exc: BackendError, lines: list) -> str:
    """What a failed checkout tells the customer."""
    if exc.code == "payment_declined":
        return "Your card was declined. Nothing was charged."
    if exc.code == "out_of_stock":
        wanted = set(exc.details.get("product_ids", []))
        names = [line.name for line in lines if line.product_id in wanted]
        listed = ", ".join(names) if names else "some products in your cart"
        return (f"Sorry, there is not enough stock of {listed}. Nothing was charged; "
                "please change your cart.")
    if exc.code == "in_progress":
        return ("Your order is still being processed. Please look at your orders in a "
                "moment before trying again.")
    if exc.code == "idempotency_key_mismatch":
        return ("This checkout form was already used for a different purchase. "
                "Please check the details and submit again.")
    if exc.status == 503:
        what = UNAVAILABLE.get(exc.code, "The shop")
        return f"{what} is unavailable right now; nothing was charged; please try again."
    return explain(exc)


def register(bp: Blueprint, backend: ShopBackend) -> None:
    """Add the checkout routes."""

    def form_page(items, key, priced, error=None, values=None, bad_field=None, status=200):
        return render_template(
            "checkout.html", priced=priced, items_field=forms.items_field(items), key=key,
            error=error, values=values or {}, bad_field=bad_field,
            test_cards=card_help()), status

    @bp.get("/checkout")
    def checkout():
        if not auth.token():
            return auth.to_login()
        items = cart.items(session)
        if not items:
            flash("Your cart is empty: add a product first.", "info")
            return redirect(url_for("shop.cart_page"))
        try:
            priced = summary.price(backend, items)
        except BackendError as exc:
            return form_page(items, None, None, error=explain(exc), status=exc.status)
        if priced.gone:
            return redirect(url_for("shop.cart_page"))  # the cart page explains and tidies
        return form_page(items, uuid.uuid4().hex, priced)

    @bp.post("/checkout")
    def checkout_submit():
        token = auth.token()
        if not token:
            return auth.to_login(url_for("shop.checkout"))
        key = request.form.get("idempotency_key", "")
        items = forms.parse_items_field(request.form.get("items"))
        if not 1 <= len(key) <= KEY_MAX or not set(key) <= KEY_CHARS or items is None:
            abort(400, "The checkout form is incomplete. Please start again from your cart.")
        try:
            order = buy(backend, token, key, items, forms.card_from_form(request.form))
        except BackendError as exc:
            if exc.status == 401:
                return auth.to_login(url_for("shop.checkout"), expired=True)
            try:
                priced = summary.price(backend, items)
            except BackendError:
                priced = None  # the message matters more than the summary
            # A final answer is stored under its key, so a corrected form needs a new one;
            # an unknown or unfinished outcome keeps the key, so a retry cannot buy twice.
            unsettled = exc.status == 503 or exc.code == "in_progress"
            values = {name: request.form.get(name, "")
                      for name in ("holder", "exp_month", "exp_year")}
            return form_page(items, key if unsettled else uuid.uuid4().hex, priced,
                             error=failure_message(exc, priced.lines if priced else []),
                             values=values, status=exc.status,
                             bad_field=FORM_FIELDS.get(exc.details.get("field", "")))
        cart.remove_bought(session, items)
        flash(f"Thank you for your order! Order #{order['id']} is {order['status'].lower()}.",
              "success")
        return redirect(url_for("shop.order", order_id=order["id"]))
