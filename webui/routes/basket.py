"""The cart pages: show, add, update, remove. The cart itself lives in the session."""

from flask import Blueprint, flash, redirect, render_template, request, session, url_for

from .. import cart, forms, summary
from ..backend import BackendError, ShopBackend
from ..rendering import error_page, explain


def register(bp: Blueprint, backend: ShopBackend) -> None:
    """Add the cart's routes."""

    @bp.get("/cart")
    def cart_page():
        try:
            priced = summary.price(backend, cart.items(session))
        except BackendError as exc:
            return render_template("cart.html", priced=None, error=explain(exc)), exc.status
        for product_id in priced.gone:
            cart.remove(session, product_id)
        if priced.gone:
            flash("Some products are no longer sold and were taken out of your cart.", "info")
        return render_template("cart.html", priced=priced, error=None)

    @bp.post("/cart/add")
    def cart_add():
        product_id = forms.whole(request.form.get("product_id"))
        if not product_id:
            return redirect(url_for("shop.home"))
        back = redirect(url_for("shop.product", product_id=product_id))
        qty = forms.quantity(request.form.get("quantity"))
        if qty is None:
            flash("Please choose a quantity from 1 to 100.", "error")
            return back
        try:
            product = backend.product(product_id)
        except BackendError as exc:
            if exc.status == 404:
                return error_page(exc)
            flash(explain(exc), "error")
            return back
        wanted = cart.quantity_of(session, product_id) + qty
        available = product["stock"]["available"]
        if wanted > forms.MAX_QUANTITY:
            flash(f"You can buy at most {forms.MAX_QUANTITY} of one product per order.", "error")
            return back
        if available is not None and wanted > available:
            flash(f"Sorry, only {available} of {product['name']} in stock." if available
                  else f"Sorry, {product['name']} is out of stock.", "error")
            return back
        if not cart.set_quantity(session, product_id, wanted):
            flash(f"Your cart is full: at most {forms.MAX_CART_LINES} different products "
                  "per order.", "error")
            return back
        flash(f"Added {qty} × {product['name']} to your cart.", "success")
        return redirect(url_for("shop.cart_page"))

    @bp.post("/cart/update")
    def cart_update():
        for item in cart.items(session):
            field = f"qty-{item['product_id']}"
            if field not in request.form:
                continue
            qty = forms.quantity(request.form[field], allow_zero=True)
            if qty is None:
                flash("Quantities must be whole numbers from 0 to 100.", "error")
                return redirect(url_for("shop.cart_page"))
            cart.set_quantity(session, item["product_id"], qty)
        flash("Your cart was updated.", "success")
        return redirect(url_for("shop.cart_page"))

    @bp.post("/cart/remove")
    def cart_remove():
        product_id = forms.whole(request.form.get("product_id"))
        if product_id:
            cart.remove(session, product_id)
            flash("The product was taken out of your cart.", "success")
        return redirect(url_for("shop.cart_page"))
