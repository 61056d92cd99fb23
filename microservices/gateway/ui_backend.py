"""The pages' backend in the microservices: the gateway's composition over HTTP."""

from flask import current_app

from shop import accounts
from webui.backend import BackendError, call

from . import composition


class HttpBackend:
    """ShopBackend over the services, through the gateway's composition functions."""

    def categories(self) -> dict:
        return call(composition.categories)

    def search(self, q, category, page, per_page) -> dict:
        return call(composition.search, q, category, page, per_page)

    def product(self, product_id) -> dict:
        return call(composition.product, product_id)

    def login(self, email, password) -> dict:
        return call(composition.login, email, password)

    def _customer(self, token: str) -> int:
        return call(accounts.customer_id_from_token,
                    current_app.extensions["archlab"]["customer_key"], token)

    def checkout(self, token, key, items, card) -> dict:
        reply = call(composition.checkout, self._customer(token), key,
                     {"items": items, "card": card})
        if reply.status != 201:
            body = reply.body
            raise BackendError(body["error"], body["message"], reply.status,
                               body.get("details"))
        return reply.body

    def orders(self, token, page, per_page) -> dict:
        return call(composition.orders, self._customer(token), page, per_page)

    def order(self, token, order_id) -> dict:
        return call(composition.order, self._customer(token), order_id)

    def invoice(self, token, order_id) -> dict:
        return call(composition.invoice, self._customer(token), order_id)

    def email_invoice(self, token, order_id) -> dict:
        return call(composition.email_invoice, self._customer(token), order_id)

    def emails(self, token, page, per_page) -> dict:
        return call(composition.emails, self._customer(token), page, per_page)
