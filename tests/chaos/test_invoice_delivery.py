"""Invoice delivery when parts fail, on both architectures: the printer offline (a stack
setting given at start-up), the invoices service killed while orders keep coming, the
outbox relay dying between sending an event and recording its acknowledgement, an event
delivered twice. After each, once everything settled, every PAID order's invoice was
delivered exactly once - counted from what was really printed and mailed - and a
deliberately broken consumer makes that count, and so the check, fail.
"""

import json
import os
import signal
import time

import pytest
import requests

from archlab.platforms.statefiles import read_json
from archlab.platforms.supervisor import STATUS_FILE
from microservices.common.security import (
    SERVICE_TOKEN_HEADER,
    issue_service_token,
    service_token_key,
)

pytestmark = [pytest.mark.capability("checkout", "invoice"), pytest.mark.slow,
              pytest.mark.timeout(180)]


def buy(buyer, product_id: int = 50) -> dict:
    resp = buyer.checkout([{"product_id": product_id, "quantity": 1}])
    assert resp.status_code == 201, resp.text
    return resp.json()


def delivered(buyer, order_id: int, timeout: float = 30) -> dict:
    """The order's invoice once it is no longer pending."""
    deadline = time.monotonic() + timeout
    while True:
        invoice = buyer.get(f"/api/orders/{order_id}/invoice").json()
        if invoice["status"] != "pending":
            return invoice
        assert time.monotonic() < deadline, f"invoice of order {order_id} still pending"
        time.sleep(0.2)


@pytest.mark.variant("printer-offline")
def test_with_the_printer_offline_the_invoice_is_emailed(arch):
    buyer = arch.customer(11)
    order = buy(buyer)
    invoice = delivered(buyer, order["id"])
    assert invoice["status"] == "emailed" and invoice["emailed_at"] is not None
    emails = buyer.get("/api/account/emails").json()["items"]
    assert [(e["order_id"], e["kind"]) for e in emails] == [(order["id"], "invoice")]
    assert emails[0]["to"] == "customer11@rackshop.test"
    assert invoice["number"] in emails[0]["subject"]
    figures = arch.settle()
    assert figures["invoices"]["emailed"] == 1 and figures["invoices"]["printed"] == 0
    assert arch.violations(figures) == []


def _kill_group(arch, process: str) -> int:
    """SIGKILL a supervised process and its children (a gunicorn master and its workers);
    the supervisor restarts it, as compose's `restart: on-failure` would."""
    live = read_json(arch.platform.state_dir / STATUS_FILE)["processes"][process]
    os.killpg(os.getpgid(live["pid"]), signal.SIGKILL)
    return live["restarts"]


@pytest.mark.only("microservices")
def test_invoices_killed_while_orders_keep_coming(arch):
    buyers = [arch.customer(n) for n in range(40, 46)]
    orders = [buy(b, 60 + i) for i, b in enumerate(buyers[:3])]
    restarts = _kill_group(arch, "invoices")
    # Checkout does not wait for invoices: orders keep being paid while it is down.
    orders += [buy(b, 70 + i) for i, b in enumerate(buyers[3:])]
    figures = arch.settle()
    live = read_json(arch.platform.state_dir / STATUS_FILE)["processes"]["invoices"]
    assert live["restarts"] > restarts
    assert figures["orders"]["PAID"] == len(orders)
    assert figures["invoices"]["printed"] == len(orders)
    assert figures["invoices"]["duplicate_deliveries"] == 0
    assert arch.violations(figures) == []


@pytest.mark.only("microservices")
def test_the_relay_dying_after_sending_delivers_once(arch):
    arch.arm(crash=["orders.relay_after_send"])
    buyer = arch.customer(12)
    order = buy(buyer)
    assert delivered(buyer, order["id"])["status"] == "printed"
    figures = arch.settle()
    assert "orders.relay_after_send" not in json.loads(arch.hooks.read_text())["crash"]
    assert figures["invoices"]["printed"] == 1
    assert figures["invoices"]["duplicate_deliveries"] == 0
    assert arch.violations(figures) == []


def _redeliver(arch, order: dict, customer_id: int) -> int:
    """Send the order's PAID event to the invoices service again, as the relay would."""
    state = json.loads((arch.platform.state_dir / "state.json").read_text())
    token = issue_service_token(service_token_key(state["secret_key"]), "orders", "invoices",
                                None)
    resp = requests.post(state["urls"]["invoices"] + "/internal/invoices", timeout=30,
                         json={"customer_id": customer_id, "order": order},
                         headers={SERVICE_TOKEN_HEADER: token})
    return resp.status_code


@pytest.mark.parametrize("broken", [False, True])
@pytest.mark.only("microservices")
def test_a_redelivered_event_changes_nothing_unless_the_consumer_is_broken(arch, broken):
    buyer = arch.customer(13)
    order = buy(buyer)
    delivered(buyer, order["id"])
    before = arch.settle()
    if broken:
        arch.arm(broken=["invoices.event_not_idempotent"])
    assert _redeliver(arch, order, 13) == 200
    after = arch.audit()
    if broken:
        assert after["invoices"]["duplicate_deliveries"] == 1
        assert {v.number for v in arch.violations(after)} == {5}
    else:
        for figures in (before, after):
            figures.pop("generated_at")
        assert after == before and arch.violations(after) == []
