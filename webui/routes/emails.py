"""The customer's e-mails: what the shop sent them (invoices), newest first."""

from flask import Blueprint, render_template, request

from .. import auth, forms
from ..backend import BackendError, ShopBackend
from ..rendering import explain

PER_PAGE = 10

# Each kind in people's words; one the page does not know yet is shown as it is.
KINDS = {"invoice": "Invoice (printer unavailable)", "invoice_copy": "Copy you asked for"}


def register(bp: Blueprint, backend: ShopBackend) -> None:
    """Add the e-mails route."""

    @bp.get("/account/emails")
    def emails():
        token = auth.token()
        if not token:
            return auth.to_login()
        page = forms.page_number(request.args.get("page"))
        try:
            result = backend.emails(token, page, PER_PAGE)
        except BackendError as exc:
            if exc.status == 401:
                return auth.to_login(expired=True)
            return render_template("emails.html", result=None, kinds=KINDS,
                                   error=explain(exc)), exc.status
        pages = max(1, -(-result["total"] // PER_PAGE))
        return render_template("emails.html", result=result, page=page, pages=pages,
                               kinds=KINDS, error=None)
