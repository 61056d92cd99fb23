"""The pages' backend in the microservices: the gateway's composition over HTTP."""

from flask import current_app

from plumbing.errors import ApiError
from webui.backend import BackendError

from . import compose

NOT_YET = BackendError("service_unavailable", "Ordering is not available in this shop yet.",
                       503)


class HttpBackend:
    """ShopBackend over the services, through the gateway's composition functions."""

    def _call(self, fn, *args):
        try:
            return fn(*args)
        except ApiError as exc:
            raise BackendError(exc.code, exc.message, exc.status, exc.details) from None

    def categories(self) -> dict:
        return self._call(compose.categories)

    def search(self, q, category, page, per_page) -> dict:
        return self._call(compose.search, q, category, page, per_page)

    def product(self, product_id) -> dict:
        return self._call(compose.product, product_id)

    def login(self, email, password) -> dict:
        return self._call(compose.login, email, password)

    def _customer(self, token: str) -> int:
        return self._call(compose.customer_id, token,
                          current_app.extensions["archlab"]["customer_key"])

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
