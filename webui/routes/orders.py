"""The customer's orders: history, one order with its invoice, e-mailing the invoice."""

from flask import Blueprint, flash, redirect, render_template, url_for

from .. import auth
from ..backend import BackendError, ShopBackend
from ..rendering import customer_list, error_page, explain

PER_PAGE = 10


def register(bp: Blueprint, backend: ShopBackend) -> None:
    """Add the order routes."""

    @bp.get("/orders")
    def orders():
        return customer_list("orders.html", backend.orders, PER_PAGE)

    @bp.get("/orders/<int:order_id>")
    def order(order_id: int):
        token = auth.token()
        if not token:
            return auth.to_login()
        try:
            found = backend.order(token, order_id)
        except BackendError as exc:
            return auth.to_login(expired=True) if exc.status == 401 else error_page(exc)
        try:
            invoice, invoice_error = backend.invoice(token, order_id), None
        except BackendError as exc:
            # The order is worth showing even when its invoice cannot be fetched.
            invoice, invoice_error = None, explain(exc)
        delivery = invoice["status"] if invoice else found["invoice_status"]
        return render_template("order.html", order=found, invoice=invoice,
                               invoice_error=invoice_error, delivery=delivery)

    @bp.post("/orders/<int:order_id>/email")
    def order_email(order_id: int):
        back = url_for("shop.order", order_id=order_id)
        token = auth.token()
        if not token:
            return auth.to_login(back)
        try:
            sent = backend.email_invoice(token, order_id)
        except BackendError as exc:
            if exc.status == 401:
                return auth.to_login(back, expired=True)
            if exc.status == 404:
                return error_page(exc)
            flash(explain(exc), "error")
            return redirect(back)
        flash(f"Invoice sent to {sent['to']}.", "success")
        return redirect(back)
