"""The accounts service's internal API: log in (the public login's answers, token
included) and look a customer up."""

from flask import Blueprint, current_app

from microservices.common.app import cursor
from plumbing.errors import ApiError
from plumbing.http import login_body
from shop import accounts
from shopdata.customers import CustomerQueries

bp = Blueprint("accounts", __name__, url_prefix="/internal")


@bp.post("/login")
def login():
    """Check credentials; the public LoginResponse or 401 invalid_credentials."""
    email, password = login_body()
    with cursor() as cur:
        row = CustomerQueries(cur).by_email(email.strip().lower())
    customer = accounts.authenticate(row, password)
    return accounts.login_response(current_app.extensions["archlab"]["customer_key"], customer)


@bp.get("/customers/<int:customer_id>")
def customer(customer_id: int):
    """One customer's id, e-mail and name."""
    with cursor() as cur:
        row = CustomerQueries(cur).get(customer_id)
    if row is None:
        raise ApiError("not_found", f"customer {customer_id} does not exist")
    customer_id, email, name = row
    return {"id": customer_id, "email": email, "name": name}
