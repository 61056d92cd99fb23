"""The customer's e-mails: what the shop sent them (invoices), newest first."""

from flask import Blueprint

from ..backend import ShopBackend
from ..rendering import customer_list

PER_PAGE = 10

# Each kind in people's words; one the page does not know yet is shown as it is.
KINDS = {"invoice": "Invoice (printer unavailable)", "invoice_copy": "Copy you asked for"}


def register(bp: Blueprint, backend: ShopBackend) -> None:
    """Add the e-mails route."""

    @bp.get("/account/emails")
    def emails():
        return customer_list("emails.html", backend.emails, PER_PAGE, kinds=KINDS)
