"""Order history, invoices and their delivery, on every architecture."""

import time

import pytest

pytestmark = pytest.mark.capability("checkout")


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
