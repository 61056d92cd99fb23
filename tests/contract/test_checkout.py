"""Checkout on every architecture: exactly once, never oversold, never deadlocked,
nothing sold on a declined card."""

import threading
import uuid
from collections import Counter
from concurrent.futures import ThreadPoolExecutor

import pytest

from tests.conftest import APPROVED_CARD, DECLINED_CARD

pytestmark = pytest.mark.capability("checkout")


def in_parallel(n: int, fn):
    """Run fn(i) on n threads released together; return the results in order."""
    barrier = threading.Barrier(n)

    def go(i):
        barrier.wait()
        return fn(i)

    with ThreadPoolExecutor(n) as pool:
        return list(pool.map(go, range(n)))


def test_buying_two_products(arch):
    buyer = arch.customer(1)
    resp = buyer.checkout([{"product_id": 12, "quantity": 2}, {"product_id": 3, "quantity": 1}])
    assert resp.status_code == 201, resp.text
    order = resp.json()
    assert order["status"] == "PAID"
    assert [i["product_id"] for i in order["items"]] == [3, 12]
    assert order["subtotal_cents"] == sum(i["line_total_cents"] for i in order["items"])
    assert order["total_cents"] == order["subtotal_cents"] + order["vat_cents"]
    assert resp.headers["Location"].endswith(f"/api/orders/{order['id']}")
    assert buyer.get(f"/api/orders/{order['id']}").json()["id"] == order["id"]
    assert arch.stock(12)["sold"] == 2 and arch.stock(3)["sold"] == 1
    audit = arch.audit()
    assert audit["orders"]["PAID"] == 1
    assert audit["payments"]["captured_total_cents"] == order["total_cents"]


def test_missing_key_is_422(arch):
    buyer = arch.customer(1)
    resp = buyer.post("/api/orders", json={"items": [{"product_id": 1, "quantity": 1}],
                                           "card": APPROVED_CARD})
    assert resp.status_code == 422
    assert resp.json()["error"] == "idempotency_key_required"


def test_replay_returns_the_same_answer_and_reuse_is_refused(arch):
    buyer = arch.customer(1)
    items = [{"product_id": 5, "quantity": 1}]
    first = buyer.checkout(items, key="order-once")
    again = buyer.checkout(items, key="order-once")
    assert first.status_code == again.status_code == 201
    assert again.json() == first.json()
    other = buyer.checkout([{"product_id": 6, "quantity": 1}], key="order-once")
    assert other.status_code == 422
    assert other.json()["error"] == "idempotency_key_mismatch"
    assert arch.audit()["orders"]["PAID"] == 1


def test_keys_are_scoped_per_customer(arch):
    items = [{"product_id": 5, "quantity": 1}]
    a = arch.customer(1).checkout(items, key="shared-key")
    b = arch.customer(2).checkout(items, key="shared-key")
    assert a.status_code == b.status_code == 201
    assert a.json()["id"] != b.json()["id"]


def test_twenty_identical_checkouts_make_one_order(arch):
    buyer = arch.customer(4)
    items = [{"product_id": 8, "quantity": 1}]
    key = uuid.uuid4().hex
    results = in_parallel(20, lambda i: buyer.checkout(items, key=key))
    statuses = Counter(r.status_code for r in results)
    assert set(statuses) <= {201, 409}, statuses
    assert statuses[201] >= 1
    assert len({r.json()["id"] for r in results if r.status_code == 201}) == 1
    assert all(r.json()["error"] == "in_progress" and "Retry-After" in r.headers
               for r in results if r.status_code == 409)
    assert arch.audit()["orders"]["PAID"] == 1
    assert arch.stock(8)["sold"] == 1


def test_last_units_are_never_oversold(arch):
    arch.set_stock(9, 3)
    buyers = [arch.customer(n) for n in range(10, 20)]
    results = in_parallel(10, lambda i: buyers[i].checkout([{"product_id": 9, "quantity": 1}]))
    statuses = Counter(r.status_code for r in results)
    assert statuses == {201: 3, 409: 7}, statuses
    assert all(r.json()["error"] == "out_of_stock" for r in results if r.status_code == 409)
    stock = arch.stock(9)
    assert stock["available"] == 0 and stock["sold"] == 3


def test_overlapping_orders_in_opposite_order_do_not_deadlock(arch):
    buyers = [arch.customer(n) for n in range(20, 36)]
    forward = [{"product_id": 21, "quantity": 1}, {"product_id": 22, "quantity": 1},
               {"product_id": 23, "quantity": 1}]
    backward = list(reversed(forward))
    results = in_parallel(16, lambda i: buyers[i].checkout(forward if i % 2 else backward))
    assert [r.status_code for r in results] == [201] * 16, [r.text for r in results]
    assert all(arch.stock(p)["sold"] == 16 for p in (21, 22, 23))


def test_declined_card_sells_nothing(arch):
    buyer = arch.customer(1)
    resp = buyer.checkout([{"product_id": 11, "quantity": 3}], card=DECLINED_CARD, key="d1")
    assert resp.status_code == 402
    assert resp.json()["error"] == "payment_declined"
    again = buyer.checkout([{"product_id": 11, "quantity": 3}], card=DECLINED_CARD, key="d1")
    assert again.status_code == 402
    assert arch.stock(11)["sold"] == 0
    audit = arch.audit()
    assert audit["orders"]["PAID"] == 0 and audit["payments"]["captured"] == 0


def test_processor_error_is_503_and_sells_nothing(arch):
    card = APPROVED_CARD | {"number": "4000000000000119"}
    resp = arch.customer(1).checkout([{"product_id": 11, "quantity": 1}], card=card)
    assert resp.status_code == 503
    assert resp.json()["error"] == "payment_unavailable" and "Retry-After" in resp.headers
    assert arch.stock(11)["sold"] == 0


@pytest.mark.parametrize("items,field", [
    ([], "items"),
    ([{"product_id": 1, "quantity": 0}], "items[0].quantity"),
    ([{"product_id": 1, "quantity": 101}], "items[0].quantity"),
    ([{"product_id": 999999, "quantity": 1}], "items"),
])
def test_invalid_orders_are_422(arch, items, field):
    resp = arch.customer(1).checkout(items)
    assert resp.status_code == 422
    assert resp.json()["details"]["field"] == field


def test_expired_or_invalid_card_is_422(arch):
    buyer = arch.customer(1)
    expired, bad_luhn = ({"exp_year": 2020}, {"number": "4242424242424241"})
    for card in (APPROVED_CARD | expired, APPROVED_CARD | bad_luhn):
        resp = buyer.checkout([{"product_id": 1, "quantity": 1}], card=card)
        assert resp.status_code == 422, resp.text
    assert arch.stock(1)["sold"] == 0
