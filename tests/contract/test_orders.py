"""Order history, invoices and their delivery, on every architecture."""

import time

import pytest
import requests

pytestmark = pytest.mark.capability("checkout")

# How long an architecture may take to deliver an invoice, or to send an e-mail it
# accepted (202: a build may send it after answering).
WAIT_SECONDS = 20
EMAIL_KEYS = {"id", "to", "subject", "body", "sent_at", "order_id", "kind"}


def place(buyer, product_id=2, quantity=1):
    resp = buyer.checkout([{"product_id": product_id, "quantity": quantity}])
    assert resp.status_code == 201, resp.text
    return resp.json()


def test_history_is_newest_first_and_own_only(arch):
    alice, bob = arch.customer(1), arch.customer(2)
    first, second = place(alice), place(alice, 3)
    place(bob)
    history = alice.get("/api/orders").json()
    assert [o["id"] for o in history["items"]] == [second["id"], first["id"]]
    assert history["total"] == 2


def test_another_customers_order_is_404(arch):
    order = place(arch.customer(1))
    other = arch.customer(2)
    for path in (f"/api/orders/{order['id']}", f"/api/orders/{order['id']}/invoice"):
        resp = other.get(path)
        assert resp.status_code == 404 and resp.json()["error"] == "not_found"
    assert other.post(f"/api/orders/{order['id']}/invoice/email").status_code == 404


@pytest.mark.capability("invoice")
def test_invoice_is_delivered_and_can_be_emailed(arch):
    buyer = arch.customer(5)
    order = place(buyer, 30, 2)
    deadline = time.monotonic() + 20
    while (invoice := buyer.get(f"/api/orders/{order['id']}/invoice").json())["status"] \
            == "pending" and time.monotonic() < deadline:
        time.sleep(0.2)
    assert invoice["status"] in ("printed", "emailed")
    assert invoice["delivered_at"] is not None
    assert invoice["number"].endswith(f"{order['id']:06d}")
    assert "VAT 21%" in invoice["text"] and "<table" in invoice["html"]
    resp = buyer.post(f"/api/orders/{order['id']}/invoice/email")
    assert resp.status_code == 202
    assert resp.json() == {"order_id": order["id"], "to": "customer5@rackshop.test",
                           "status": "accepted"}


def delivered_invoice(buyer, order_id: int) -> dict:
    """The order's invoice once it is no longer pending."""
    deadline = time.monotonic() + WAIT_SECONDS
    while (invoice := buyer.get(f"/api/orders/{order_id}/invoice").json())["status"] \
            == "pending":
        assert time.monotonic() < deadline, "the invoice stayed pending"
        time.sleep(0.2)
    return invoice


def copies_of(buyer, order_id: int) -> list[dict]:
    """The customer's `invoice_copy` e-mails about an order, newest first."""
    resp = buyer.get("/api/account/emails", params={"per_page": 100})
    assert resp.status_code == 200, resp.text
    page = resp.json()
    assert set(page) == {"items", "page", "per_page", "total"}
    assert (page["page"], page["per_page"]) == (1, 100)
    assert all(set(mail) == EMAIL_KEYS for mail in page["items"])
    return [m for m in page["items"] if m["kind"] == "invoice_copy" and m["order_id"] == order_id]


@pytest.mark.capability("invoice")
def test_emailing_the_invoice_adds_a_copy_to_the_customers_emails_only(arch):
    buyer, other = arch.customer(6), arch.customer(7)
    order = place(buyer, 31, 1)
    before = delivered_invoice(buyer, order["id"])
    assert copies_of(buyer, order["id"]) == []

    resp = buyer.post(f"/api/orders/{order['id']}/invoice/email")
    assert resp.status_code == 202, resp.text

    deadline = time.monotonic() + WAIT_SECONDS
    while not (copies := copies_of(buyer, order["id"])):
        assert time.monotonic() < deadline, "the e-mailed invoice never reached the mailbox"
        time.sleep(0.2)
    [mail] = copies
    assert mail["to"] == "customer6@rackshop.test"
    assert before["number"] in mail["subject"] and before["number"] in mail["body"]
    newest = buyer.get("/api/account/emails", params={"per_page": 1}).json()["items"]
    assert [m["id"] for m in newest] == [mail["id"]]

    while (after := buyer.get(f"/api/orders/{order['id']}/invoice").json())["emailed_at"] \
            in (None, before["emailed_at"]):
        assert time.monotonic() < deadline, "emailed_at was not set"
        time.sleep(0.2)
    # A copy on request is no delivery: the delivery's status and time stay.
    assert (after["status"], after["delivered_at"]) == (before["status"], before["delivered_at"])

    theirs = other.get("/api/account/emails").json()
    assert all(m["order_id"] != order["id"] for m in theirs["items"])
    assert theirs["total"] == 0  # reseeded for this test: no orders, so no e-mails
    # Nor does the audit take the copy for a second delivery.
    assert arch.audit()["invoices"]["duplicate_deliveries"] == 0


@pytest.mark.capability("invoice")
def test_emails_need_a_customer_token(arch):
    resp = requests.get(arch.base_url + "/api/account/emails", timeout=30)
    assert resp.status_code == 401 and resp.json()["error"] == "unauthorized"
