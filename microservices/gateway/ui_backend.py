"""The pages' backend in the microservices: the gateway's composition over HTTP."""

from flask import current_app

from shop import accounts
from webui.backend import BackendError, call

from . import compose

NOT_YET = BackendError("service_unavailable", "Ordering is not available in this shop yet.",
                       503)


class HttpBackend:
    """ShopBackend over the services, through the gateway's composition functions."""

    def categories(self) -> dict:
        return call(compose.categories)

    def search(self, q, category, page, per_page) -> dict:
        return call(compose.search, q, category, page, per_page)

    def product(self, product_id) -> dict:
        return call(compose.product, product_id)

    def login(self, email, password) -> dict:
        return call(compose.login, email, password)

    def _customer(self, token: str) -> int:
        return call(accounts.customer_id_from_token,
                    current_app.extensions["archlab"]["customer_key"], token)

    # Checkout, orders and invoices join with the orders, payments and invoices services.
    def checkout(self, token, key, items, card) -> dict:
        self._customer(token)
        raise NOT_YET

    def orders(self, token, page, per_page) -> dict:
        self._customer(token)
        raise NOT_YET

    def order(self, token, order_id) -> dict:
        self._customer(token)
        raise NOT_YET

    def invoice(self, token, order_id) -> dict:
        self._customer(token)
        raise NOT_YET

    def email_invoice(self, token, order_id) -> dict:
        self._customer(token)
        raise NOT_YET
