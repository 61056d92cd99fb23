"""The admin stock endpoint and the audit figures, on every architecture."""

import pytest

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
    assert arch.stock(42)["available"] == 1_000_000


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
