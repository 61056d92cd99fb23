"""The service layer's purchase wired to this process's parts (card processor, printer,
mailer, where invoices are delivered), for the API view and the pages alike."""

import datetime

from flask import current_app, g

from monolith.services import checkout


def purchase(customer_id: int, key: str, body) -> checkout.CheckoutResult:
    """Check out and have the invoice delivered, as this stack is set up to."""
    ext = current_app.extensions["archlab"]
    return checkout.purchase(g.uow(), g.processor(), ext["printer"], ext["mailer"],
                             customer_id, key, body, today=datetime.date.today(),
                             delivery=ext["delivery"])
