"""The admin stock endpoint and the audit figures, on every architecture."""

import pytest

from shop.seed import generate_products

SEEDED = {p.id: p for p in generate_products()}

pytestmark = pytest.mark.capability("admin")


def test_set_stock_moves_initial_with_available(arch):
    before = arch.stock(42)
    after = arch.set_stock(42, 5)
    assert after["available"] == 5
    assert after["initial"] == before["initial"] - before["available"] + 5
    assert after["initial"] == after["available"] + after["reserved"] + after["sold"]


@pytest.mark.parametrize("body", [{"available": -1}, {"available": True}, {"available": "3"},
                                  {}, {"available": 1, "x": 2}, [1]])
def test_bad_stock_update_is_422(arch, body):
    resp = arch.admin("PUT", "/api/admin/products/42/stock", json=body)
    assert resp.status_code == 422
    assert arch.stock(42)["available"] == SEEDED[42].initial_stock


def test_stock_of_missing_product_is_404(arch):
    resp = arch.admin("PUT", "/api/admin/products/99999/stock", json={"available": 1})
    assert resp.status_code == 404


def test_audit_of_a_fresh_seed(arch):
    audit = arch.audit()
    assert len(audit["stock"]) == 1000
    assert audit["orders"]["PAID"] == 0
    assert audit["payments"]["captured"] == 0
    assert all(s["initial"] == s["available"] + s["reserved"] + s["sold"]
               for s in audit["stock"])


def test_a_fresh_seed_holds_each_products_seeded_stock(arch):
    stock = {s["product_id"]: s for s in arch.audit()["stock"]}
    assert {pid: s["available"] for pid, s in stock.items()} == \
        {pid: p.initial_stock for pid, p in SEEDED.items()}
    assert all(s["initial"] == s["available"] and s["sold"] == s["reserved"] == 0
               for s in stock.values())


@pytest.mark.capability("checkout")
def test_restock_raises_every_product_to_the_level_and_keeps_what_was_sold(arch):
    arch.set_stock(3, 5000)
    resp = arch.customer(1).checkout([{"product_id": 2, "quantity": 2}])
    assert resp.status_code == 201, resp.text
    arch.settle()

    arch.platform.restock(1000)

    stock = {s["product_id"]: s for s in arch.audit()["stock"]}
    assert all(s["available"] >= 1000 for s in stock.values())
    assert stock[1]["available"] == 1000 and stock[1]["initial"] == 1000
    assert stock[3]["available"] == 5000  # already above the level: left as it was
    assert stock[2]["available"] == 1000 and stock[2]["sold"] == 2
    assert stock[2]["initial"] == 1002
    assert arch.violations() == []
