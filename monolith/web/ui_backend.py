"""The pages' backend in the monolith: straight calls into its service layer."""


from flask import current_app, g

from monolith.services import accounts, catalog, emails, invoicing, orders
from webui.backend import BackendError, call

from .purchase import purchase


class InProcessBackend:
    """ShopBackend over the monolith's services, in the web process itself."""

    def _customer(self, token: str) -> int:
        return call(accounts.customer_id_from_token, token, current_app.config["SECRET_KEY"])

    def categories(self) -> dict:
        return call(catalog.list_categories, g.reader())

    def search(self, q, category, page, per_page) -> dict:
        return call(catalog.search_products, g.reader(), q, category, page, per_page)

    def product(self, product_id) -> dict:
        return call(catalog.get_product, g.reader(), product_id)

    def login(self, email, password) -> dict:
        return call(accounts.login, g.reader(), email, password,
                    current_app.config["SECRET_KEY"])

    def checkout(self, token, key, items, card) -> dict:
        result = call(purchase, self._customer(token), key, {"items": items, "card": card})
        if result.status != 201:
            body = result.body
            raise BackendError(body["error"], body["message"], result.status,
                               body.get("details"))
        return result.body

    def orders(self, token, page, per_page) -> dict:
        return call(orders.list_orders, g.reader(), self._customer(token), page, per_page)

    def order(self, token, order_id) -> dict:
        return call(orders.get_order, g.reader(), self._customer(token), order_id)

    def invoice(self, token, order_id) -> dict:
        return call(invoicing.get_invoice, g.reader(), self._customer(token), order_id)

    def email_invoice(self, token, order_id) -> dict:
        mailer = current_app.extensions["archlab"]["mailer"]
        return call(invoicing.email_invoice, g.uow(), mailer, self._customer(token), order_id)

    def emails(self, token, page, per_page) -> dict:
        """The customer's e-mails, from the service (not through the API's view)."""
        return call(emails.list_emails, g.reader(), self._customer(token), page, per_page)
