"""Schemathesis over every operation of contract/openapi.yaml, on every architecture:
generated requests (valid and invalid) must get answers that conform to the contract.

All default checks run; the statuses each operation may legitimately answer are
declared in schemathesis.toml beside this file. A last test proves the checks bite:
a server answering outside the contract fails them.
"""

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import hypothesis
import pytest
import schemathesis
import yaml
from schemathesis.core.failures import FailureGroup

from archlab.config import project_root

CONTRACT = project_root() / "contract" / "openapi.yaml"
CONFIG = schemathesis.Config.from_path(Path(__file__).with_name("schemathesis.toml"))

pytestmark = [pytest.mark.slow, pytest.mark.timeout(600)]


# The capability each operation needs (by its tag, unless named by operation); an
# architecture is fuzzed on what it serves.
CAPABILITY_BY_TAG = {"probes": "browse", "auth": "browse", "catalog": "browse",
                     "orders": "checkout", "account": "invoice", "admin": "admin"}
CAPABILITY_BY_OPERATION = {"getInvoice": "invoice", "emailInvoice": "invoice"}


def needs(operation: dict) -> str:
    """The capability an operation of the contract needs."""
    return CAPABILITY_BY_OPERATION.get(operation["operationId"],
                                       CAPABILITY_BY_TAG[operation["tags"][0]])


def served_contract(capabilities) -> dict:
    """The contract without the operations an architecture cannot serve yet. (Filtering
    the raw spec, because the lazy pytest schema replaces a fixture schema's filters.)"""
    spec = yaml.safe_load(CONTRACT.read_text())
    for path, item in list(spec["paths"].items()):
        for method in [m for m in item if m != "parameters"]:
            if needs(item[method]) not in capabilities:
                del item[method]
        if set(item) <= {"parameters"}:
            del spec["paths"][path]
    return spec


@pytest.fixture
def api_schema(arch, credentials):
    return schemathesis.openapi.from_dict(served_contract(arch.capabilities), config=CONFIG)


# The tokens of the architecture under test, per security scheme (set by `credentials`).
TOKENS: dict[str, str] = {}


@pytest.fixture
def credentials(arch):
    """The login hook: a customer token and the admin token, one login per test."""
    TOKENS.clear()
    TOKENS.update(customerToken=arch.customer(1).token, adminToken=arch.admin_token)


schema = schemathesis.pytest.from_fixture("api_schema")


# Not cached: each architecture has its own tokens.
@schema.auth(refresh_interval=None)
class BearerTokens:
    """The bearer token each operation's security scheme asks for. Given through
    schemathesis' auth hook, so its negative cases ("no Authorization header") really
    go without one."""

    def get(self, case, context):
        for requirement in case.operation.definition.raw.get("security", []):
            for scheme in requirement:
                return TOKENS[scheme]
        return None

    def set(self, case, data, context):
        if data is not None:
            if case.headers is None:
                case.headers = {}
            case.headers["Authorization"] = f"Bearer {data}"


@schema.parametrize()
def test_api_conforms_to_the_contract(case, arch, credentials):
    case.call_and_validate(base_url=arch.base_url)


# The operations the contract's links join: checkout -> the order -> the order history.
LINKED = ("createOrder", "getOrder", "listOrders")


@pytest.mark.capability("checkout")
def test_checkout_order_and_history_follow_the_links(arch, credentials):
    """Schemathesis' state machine drives the contract's OpenAPI links on the real stack:
    each step's answer must conform, and an order placed must be readable through them."""
    spec = served_contract(arch.capabilities)
    spec["paths"] = {path: {m: op for m, op in item.items()
                            if m == "parameters" or op.get("operationId") in LINKED}
                     for path, item in spec["paths"].items()}
    spec["paths"] = {p: i for p, i in spec["paths"].items() if set(i) - {"parameters"}}
    api = schemathesis.openapi.from_dict(spec, config=CONFIG)
    api.auth(refresh_interval=None)(BearerTokens)
    linked_calls = []

    class Shop(api.as_state_machine()):
        def get_call_kwargs(self, case):
            return {"base_url": arch.base_url}

        def after_call(self, response, case):
            if case.operation.definition.raw["operationId"] == "getOrder" \
                    and response.status_code == 200:
                linked_calls.append(response.json()["id"])

    Shop.run(settings=hypothesis.settings(
        max_examples=25, stateful_step_count=4, deadline=None, database=None,
        derandomize=True, suppress_health_check=list(hypothesis.HealthCheck)))
    assert linked_calls, "no order was read through the createOrder -> getOrder link"


class _OffContract(BaseHTTPRequestHandler):
    """Answers every request with a product that breaks the contract (extra field,
    price as a string) - what a regression would look like."""

    def do_GET(self):  # noqa: N802 - the stdlib's naming
        body = b'{"id": 1, "price_cents": "12.00", "debug": true}'
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


def test_a_response_off_the_contract_fails():
    server = ThreadingHTTPServer(("127.0.0.1", 0), _OffContract)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        api = schemathesis.openapi.from_path(CONTRACT, config=CONFIG)
        case = api["/api/products/{product_id}"]["GET"].Case(path_parameters={"product_id": 1})
        with pytest.raises(FailureGroup) as failed:
            case.call_and_validate(base_url=f"http://127.0.0.1:{server.server_port}")
        assert "schema" in str(failed.value).lower()
    finally:
        server.shutdown()
        server.server_close()
