"""Login, tokens and the admin token, on every architecture."""

import pytest
import requests

from shop.seed import LOADTEST_PASSWORD

pytestmark = pytest.mark.capability("browse")


def login(arch, **body):
    return requests.post(arch.base_url + "/api/auth/login", json=body, timeout=30)


def test_login_returns_a_bearer_token(arch):
    resp = login(arch, email="customer7@rackshop.test", password=LOADTEST_PASSWORD)
    assert resp.status_code == 200
    body = resp.json()
    assert body["token_type"] == "bearer" and body["expires_in"] > 0
    assert body["customer"]["email"] == "customer7@rackshop.test"


@pytest.mark.parametrize("email,password", [("customer7@rackshop.test", "wrong"),
                                            ("nobody@rackshop.test", LOADTEST_PASSWORD)])
def test_wrong_credentials_are_401(arch, email, password):
    resp = login(arch, email=email, password=password)
    assert resp.status_code == 401
    assert resp.json()["error"] == "invalid_credentials"


@pytest.mark.parametrize("body", [{}, {"email": "a"}, {"email": 1, "password": "x"},
                                  {"email": "a", "password": "b", "extra": 1}])
def test_malformed_login_is_422(arch, body):
    resp = login(arch, **body)
    assert resp.status_code == 422
    assert resp.json()["error"] == "validation_error"


def test_non_json_body_is_415_and_broken_json_400(arch):
    url = arch.base_url + "/api/auth/login"
    assert requests.post(url, data="email=a", timeout=30).status_code == 415
    resp = requests.post(url, data="{", headers={"Content-Type": "application/json"},
                         timeout=30)
    assert resp.status_code == 400 and resp.json()["error"] == "invalid_json"


@pytest.mark.capability("checkout")
@pytest.mark.parametrize("header", [None, "Bearer", "Bearer forged.token.here", "Basic abc"])
def test_orders_need_a_valid_token(arch, header):
    headers = {"Authorization": header} if header else {}
    resp = requests.get(arch.base_url + "/api/orders", headers=headers, timeout=30)
    assert resp.status_code == 401
    assert resp.json()["error"] == "unauthorized"


@pytest.mark.capability("admin")
def test_admin_needs_the_admin_token(arch):
    url = arch.base_url + "/api/admin/audit"
    assert requests.get(url, timeout=30).status_code == 401
    bad = requests.get(url, headers={"Authorization": "Bearer nope"}, timeout=30)
    assert bad.status_code == 401
    customer = arch.customer(3)
    assert customer.get("/api/admin/audit").status_code == 403
    assert arch.admin("GET", "/api/admin/audit").status_code == 200
