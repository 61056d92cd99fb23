"""contract/internal.yaml against the code: every route a service serves is documented
with its method, every documented operation is served, and every internal path template
the code calls (`client.get("/internal/...")`) is a documented path."""

import ast
import re

import pytest
import yaml

from archlab.config import project_root
from microservices.accounts.app import create_app as create_accounts
from microservices.catalog.app import create_app as create_catalog
from microservices.inventory.app import create_app as create_inventory
from microservices.invoices.app import create_app as create_invoices
from microservices.notifications.app import create_app as create_notifications
from microservices.orders.app import create_app as create_orders
from microservices.payments.app import create_app as create_payments
from plumbing.observability import route_template

ROOT = project_root()
SPEC = yaml.safe_load((ROOT / "contract" / "internal.yaml").read_text())
METHODS = {"GET", "PUT", "POST", "DELETE", "PATCH"}
# Pools are made on first use, so an app can be built without a database running.
CONFIG = {"DATABASE_URL": "postgresql://nobody@127.0.0.1:1/none", "SECRET_KEY": "unit"}
SERVICES = {"accounts": create_accounts, "catalog": create_catalog,
            "inventory": create_inventory, "orders": create_orders,
            "payments": create_payments, "invoices": create_invoices,
            "notifications": create_notifications}
TEMPLATE = re.compile(r"/internal/[a-z]")


def served(create_app) -> set[tuple[str, str]]:
    """(METHOD, path template) for every route of an app."""
    app = create_app(CONFIG)
    return {(method, route_template(rule.rule)) for rule in app.url_map.iter_rules()
            for method in rule.methods & METHODS}


def documented(tag: str | None = None) -> set[tuple[str, str]]:
    """(METHOD, path) for every operation of internal.yaml (of one service's tag)."""
    return {(method.upper(), path) for path, item in SPEC["paths"].items()
            for method, op in item.items()
            if method.upper() in METHODS and (tag is None or tag in op["tags"])}


@pytest.mark.parametrize("name", SERVICES)
def test_a_service_serves_exactly_its_documented_operations(name):
    assert served(SERVICES[name]) == documented(name)


def test_every_documented_operation_is_served():
    assert set().union(*(served(create) for create in SERVICES.values())) == documented()


def templates_in_code() -> set[str]:
    """Every string constant in microservices/ that is an internal path."""
    found = set()
    for path in (ROOT / "microservices").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Constant) and isinstance(node.value, str) \
                    and TEMPLATE.match(node.value):
                found.add(node.value)
    return found


def test_every_internal_path_the_code_calls_is_documented():
    paths = set(SPEC["paths"])
    assert templates_in_code() - paths == set()
