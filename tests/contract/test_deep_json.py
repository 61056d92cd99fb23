"""A JSON body nested deeper than the parser goes is broken JSON like any other: every
endpoint that reads a JSON body answers it as it answers `{` (400 `invalid_json` in the
shop's APIs, the card processor's 422), never a 500.

Python's json raises RecursionError for such a body, which is no ValueError and so gets
through `request.get_json(silent=True)`. The bodies stay far below every size limit.
"""

import pytest
import requests
import yaml

from archlab.config import project_root
from archlab.platforms.statefiles import read_json
from microservices.common.security import (
    SERVICE_TOKEN_HEADER,
    issue_service_token,
    service_token_key,
)

DEEP_BODIES = {
    "list": "[" * 1000 + "]" * 1000,
    "object": '{"a":' * 1000 + "1" + "}" * 1000,
    "deeper": "[" * 20_000 + "]" * 20_000,
}
JSON = {"Content-Type": "application/json"}


def assert_invalid_json(resp: requests.Response, where: str) -> None:
    assert resp.status_code == 400, f"{where}: {resp.status_code} {resp.text[:200]}"
    body = resp.json()
    assert body["error"] == "invalid_json", f"{where}: {body}"
    assert body["message"], where


@pytest.mark.parametrize("shape", DEEP_BODIES)
def test_the_public_endpoints_answer_a_deep_body_400(arch, shape):
    data = DEEP_BODIES[shape]
    customer = arch.customer()

    assert_invalid_json(requests.post(arch.base_url + "/api/auth/login", data=data,
                                      headers=JSON, timeout=30), "login")
    assert_invalid_json(customer.post("/api/orders", data=data,
                                      headers=JSON | {"Idempotency-Key": f"deep-{shape}"}),
                        "checkout")
    assert_invalid_json(requests.put(arch.base_url + "/api/admin/products/1/stock", data=data,
                                     headers=JSON | {"Authorization":
                                                     f"Bearer {arch.admin_token}"},
                                     timeout=30), "set stock")
    # Still serving, and still answering broken JSON the usual way.
    resp = requests.post(arch.base_url + "/api/auth/login", data="{", headers=JSON, timeout=30)
    assert_invalid_json(resp, "login with a broken body")


@pytest.mark.parametrize("shape", DEEP_BODIES)
def test_the_card_processor_answers_a_deep_body_as_any_broken_charge(arch, shape):
    url = arch.platform.info().urls["card-processor"] + "/v1/charges"
    resp = requests.post(url, data=DEEP_BODIES[shape], headers=JSON, timeout=30)
    assert resp.status_code == 422, resp.text[:200]
    assert resp.json()["error"] == "validation_error"


def internal_json_operations() -> list[tuple[str, str, str]]:
    """(service, method, path) of every internal operation that takes a JSON body."""
    spec = yaml.safe_load((project_root() / "contract" / "internal.yaml").read_text())
    return [(op["tags"][0], method.upper(), path)
            for path, item in spec["paths"].items()
            for method, op in item.items()
            if isinstance(op, dict) and "application/json" in op.get("requestBody", {})
            .get("content", {})]


@pytest.mark.only("microservices")
@pytest.mark.parametrize(("service", "method", "path"), internal_json_operations())
def test_every_internal_endpoint_answers_a_deep_body_400(arch, service, method, path):
    state = read_json(arch.platform.state_file)
    key = service_token_key(state["secret_key"])
    token = issue_service_token(key, "gateway", service, customer_id=1)
    url = state["urls"][service] + path.format(product_id=1, order_id=1)
    for shape, data in DEEP_BODIES.items():
        resp = requests.request(method, url, data=data, timeout=30,
                                headers=JSON | {SERVICE_TOKEN_HEADER: token,
                                                "Idempotency-Key": f"deep-{shape}"})
        assert_invalid_json(resp, f"{method} {path} ({shape})")
