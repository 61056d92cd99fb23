"""The accounts, catalog and inventory services on real PostgreSQL, through their Flask
test clients: every internal endpoint against contract/internal.yaml, the same answers as
the monolith's public API on the same seed, service tokens, and database isolation."""

from urllib.parse import urlencode

import psycopg2
import pytest
from psycopg2.extensions import parse_dsn

from archlab.config import project_root
from archlab.db import apply_sql, make_dsn
from microservices.accounts import app as accounts_app
from microservices.accounts import seed as accounts_seed
from microservices.catalog import app as catalog_app
from microservices.catalog import seed as catalog_seed
from microservices.common.security import (
    SERVICE_TOKEN_HEADER,
    customer_token_key,
    service_token_key,
)
from microservices.inventory import app as inventory_app
from microservices.inventory import seed as inventory_seed
from microservices.invoices import app as invoices_app
from microservices.invoices import seed as invoices_seed
from microservices.notifications import app as notifications_app
from microservices.notifications import seed as notifications_seed
from microservices.orders import app as orders_app
from microservices.orders import seed as orders_seed
from microservices.payments import app as payments_app
from microservices.payments import seed as payments_seed
from monolith.data import seed as monolith_seed
from monolith.web.app import create_app as create_monolith
from shop.seed import LOADTEST_PASSWORD, PRODUCT_COUNT, generate_products
from shop.tokens import issue_token, verify_token
from tests import ports
from tests.integration.servicekit import INTERNAL_SPEC, throwaway_cluster
from tests.integration.servicekit import call as contract_call
from tests.integration.servicekit import service_headers as service_token_header

pytestmark = pytest.mark.timeout(180)

ROOT = project_root()
SECRET = "integration-test-secret"
ADMIN_TOKEN = "integration-admin-token"
KEY = service_token_key(SECRET)

SERVICES = {
    "accounts": (accounts_app, accounts_seed),
    "catalog": (catalog_app, catalog_seed),
    "inventory": (inventory_app, inventory_seed),
    "orders": (orders_app, orders_seed),
    "payments": (payments_app, payments_seed),
    "invoices": (invoices_app, invoices_seed),
    "notifications": (notifications_app, notifications_seed),
}


@pytest.fixture(scope="module")
def cluster():
    yield from throwaway_cluster(ports.CLUSTERS["ms_services"], "archlab_test_ms")


@pytest.fixture(scope="module")
def dsns(cluster) -> dict[str, str]:
    """One database and role per service, plus the monolith's, each migrated and seeded."""
    found = {}
    for name, (_, seed_module) in SERVICES.items():
        dsn = cluster.create_database(f"ms_{name}", f"ms_{name}", f"pw-{name}")
        apply_sql(dsn, ROOT / "microservices" / name / "schema.sql")
        seed_module.reseed(dsn)
        found[name] = dsn
    dsn = cluster.create_database("ms_monolith", "ms_monolith", "pw-monolith")
    apply_sql(dsn, ROOT / "monolith" / "data" / "schema.sql")
    monolith_seed.reseed(dsn)
    found["monolith"] = dsn
    return found


def config(dsn: str) -> dict:
    return {"DATABASE_URL": dsn, "SECRET_KEY": SECRET, "POOL_SIZE": 2}


@pytest.fixture(scope="module")
def services(dsns) -> dict:
    """A test client per service."""
    return {name: app_module.create_app(config(dsns[name])).test_client()
            for name, (app_module, _) in SERVICES.items()}


@pytest.fixture(scope="module")
def monolith(dsns):
    return create_monolith(config(dsns["monolith"]) | {"ADMIN_TOKEN": ADMIN_TOKEN}).test_client()


SEEDED_STOCK = {p.id: p.initial_stock for p in generate_products()}
# Each product's seeded units back, from two arrays (product ids, units).
SEED_STOCK_FROM = (" FROM unnest(%s::int[], %s::int[]) AS seed (id, units)"
                   " WHERE product_id = seed.id")
RESTOCK = {
    "inventory": "UPDATE stock SET initial = seed.units, available = seed.units, reserved = 0,"
                 " sold = 0" + SEED_STOCK_FROM,
    "monolith": "UPDATE stock SET initial = seed.units, available = seed.units, sold = 0"
                + SEED_STOCK_FROM,
}


@pytest.fixture
def fresh_stock(dsns):
    """Stock back to the seed's in inventory and the monolith after a test that writes it
    (one UPDATE each: a full reseed would cost a second per test)."""
    yield
    for name, statement in RESTOCK.items():
        conn = psycopg2.connect(dsns[name])
        try:
            with conn, conn.cursor() as cur:
                cur.execute(statement, (list(SEEDED_STOCK), list(SEEDED_STOCK.values())))
        finally:
            conn.close()


def service_headers(audience: str, customer_id=None, caller="gateway", key=KEY, ttl=60) -> dict:
    return service_token_header(key, caller, audience, customer_id, ttl)


def call(client, method: str, template: str, *, headers=None, **kw):
    """Call an operation of internal.yaml by its path template (no token unless given) and
    check the answer."""
    return contract_call(client, method, template, headers=headers, **kw)


# --- probes ------------------------------------------------------------------------------

@pytest.mark.parametrize("name", SERVICES)
def test_probes(services, name):
    client = services[name]
    assert call(client, "GET", "/healthz").json == {"status": "ok", "service": name}
    resp = call(client, "GET", "/readyz")
    assert (resp.status_code, resp.json) == (200, {"status": "ok", "service": name})
    assert call(client, "POST", "/healthz").status_code == 405
    assert resp.headers["X-Request-ID"]


@pytest.mark.parametrize("name", SERVICES)
def test_not_ready_without_its_database(name):
    dead = make_dsn("nobody", "pw", "127.0.0.1", ports.CLUSTERS["nothing_listens"], "nothing")
    client = SERVICES[name][0].create_app(config(dead)).test_client()
    resp = call(client, "GET", "/readyz")
    assert (resp.status_code, resp.json) == (503, {"status": "unavailable", "service": name})
    # An internal call without its database is a contract 503, not a stack trace.
    template = {"accounts": "/internal/customers/{customer_id}",
                "catalog": "/internal/categories", "inventory": "/internal/stock",
                "orders": "/internal/orders/{order_id}",
                "payments": "/internal/payments/{order_id}",
                "invoices": "/internal/invoices/{order_id}",
                "notifications": "/internal/messages"}[name]
    params = {"customer_id": 1} if name == "accounts" else \
        {"order_id": 1} if name in ("orders", "payments", "invoices") else {}
    resp = call(client, "GET", template, headers=service_headers(name, customer_id=1),
                **params)
    assert resp.status_code == 503 and resp.json["error"] == "service_unavailable"


@pytest.mark.parametrize("name", SERVICES)
def test_a_service_needs_its_database_url(name):
    with pytest.raises(RuntimeError, match="DATABASE_URL"):
        SERVICES[name][0].create_app({"DATABASE_URL": "", "SECRET_KEY": SECRET})


# --- service tokens ----------------------------------------------------------------------

OPERATIONS = [
    ("accounts", "POST", "/internal/login", {}),
    ("accounts", "GET", "/internal/customers/{customer_id}", {"customer_id": 1}),
    ("catalog", "GET", "/internal/categories", {}),
    ("catalog", "GET", "/internal/products", {}),
    ("catalog", "GET", "/internal/products/{product_id}", {"product_id": 1}),
    ("inventory", "GET", "/internal/stock", {}),
    ("inventory", "GET", "/internal/stock/{product_id}", {"product_id": 1}),
    ("inventory", "PUT", "/internal/stock/{product_id}", {"product_id": 1}),
    ("catalog", "POST", "/internal/products/lookup", {}),
    ("inventory", "GET", "/internal/reservations", {}),
    ("inventory", "GET", "/internal/reservations/{order_id}", {"order_id": 1}),
    ("inventory", "POST", "/internal/reservations/{order_id}", {"order_id": 1}),
    ("inventory", "POST", "/internal/reservations/{order_id}/commit", {"order_id": 1}),
    ("inventory", "POST", "/internal/reservations/{order_id}/release", {"order_id": 1}),
    ("orders", "POST", "/internal/orders", {}),
    ("orders", "GET", "/internal/orders", {}),
    ("orders", "GET", "/internal/orders/{order_id}", {"order_id": 1}),
    ("orders", "GET", "/internal/audit", {}),
    ("payments", "GET", "/internal/audit", {}),
    ("payments", "GET", "/internal/payments/{order_id}", {"order_id": 1}),
    ("payments", "POST", "/internal/payments/{order_id}/charge", {"order_id": 1}),
    ("payments", "POST", "/internal/payments/{order_id}/cancel", {"order_id": 1}),
    ("invoices", "POST", "/internal/invoices", {}),
    ("invoices", "GET", "/internal/invoices/{order_id}", {"order_id": 1}),
    ("invoices", "POST", "/internal/invoices/{order_id}/email", {"order_id": 1}),
    ("invoices", "GET", "/internal/audit", {}),
    ("notifications", "POST", "/internal/messages", {}),
    ("notifications", "GET", "/internal/messages", {}),
    ("notifications", "GET", "/internal/audit", {}),
]

BAD_TOKENS = {
    "missing": lambda audience: {},
    "forged": lambda audience: service_headers(audience, key=service_token_key("forged")),
    "expired": lambda audience: service_headers(audience, ttl=-1),
    "other-audience": lambda audience: service_headers(
        "catalog" if audience != "catalog" else "inventory"),
    "caller-not-allowed": lambda audience: service_headers(audience, caller="payments"),
    "customer-token": lambda audience: {SERVICE_TOKEN_HEADER: issue_token(
        customer_token_key(SECRET), "1", issuer="rackshop", audience="rackshop-api",
        ttl_seconds=60)},
}


@pytest.mark.parametrize("bad", BAD_TOKENS)
@pytest.mark.parametrize(("name", "method", "template", "params"), OPERATIONS,
                         ids=[f"{m} {t}" for _, m, t, _ in OPERATIONS])
def test_every_internal_operation_needs_a_valid_service_token(services, bad, name, method,
                                                               template, params):
    body = {"email": "customer1@rackshop.test", "password": LOADTEST_PASSWORD} \
        if template == "/internal/login" else {"available": 5} if method == "PUT" else None
    resp = call(services[name], method, template, headers=BAD_TOKENS[bad](name), json=body,
                **params)
    assert resp.status_code == 401
    assert resp.json["error"] == "unauthorized"


def test_unknown_internal_paths_need_a_token_too(services):
    resp = services["catalog"].get("/internal/nothing-here")
    assert (resp.status_code, resp.json["error"]) == (401, "unauthorized")
    resp = services["catalog"].get("/internal/nothing-here", headers=service_headers("catalog"))
    assert (resp.status_code, resp.json["error"]) == (404, "not_found")


# --- accounts ----------------------------------------------------------------------------

def login(services, body, **kw):
    return call(services["accounts"], "POST", "/internal/login",
                headers=service_headers("accounts"), json=body, **kw)


def test_login_answers_the_public_login_response(services, monolith):
    body = {"email": " Customer7@RackShop.test ", "password": LOADTEST_PASSWORD}
    resp = login(services, body)
    assert resp.status_code == 200
    public = monolith.post("/api/auth/login", json=body)
    assert public.status_code == 200
    ours, theirs = resp.json, public.json
    assert {k: v for k, v in ours.items() if k != "token"} == \
        {k: v for k, v in theirs.items() if k != "token"}
    assert ours["customer"] == {"id": 7, "email": "customer7@rackshop.test",
                                "name": theirs["customer"]["name"]}
    # The same claims as the monolith's token, signed with the customer-token key.
    claims = verify_token(customer_token_key(SECRET), ours["token"], issuer="rackshop",
                          audience="rackshop-api")
    their_claims = verify_token(SECRET, theirs["token"], issuer="rackshop",
                                audience="rackshop-api")
    assert claims["sub"] == their_claims["sub"] == "7"
    assert abs(claims["exp"] - their_claims["exp"]) <= 2


@pytest.mark.parametrize(("body", "status", "code"), [
    ({"email": "customer1@rackshop.test", "password": "wrong"}, 401, "invalid_credentials"),
    ({"email": "nobody@rackshop.test", "password": LOADTEST_PASSWORD}, 401,
     "invalid_credentials"),
    ({"email": "customer1@rackshop.test\x00", "password": "x"}, 401, "invalid_credentials"),
    ({"email": "customer1@rackshop.test"}, 422, "validation_error"),
    ({"email": "customer1@rackshop.test", "password": 5}, 422, "validation_error"),
    ({"email": "a", "password": "b", "remember": True}, 422, "validation_error"),
    ({"email": "x" * 255, "password": "b"}, 422, "validation_error"),
    (["customer1@rackshop.test"], 422, "validation_error"),
])
def test_login_refusals_match_the_monolith(services, monolith, body, status, code):
    resp = login(services, body)
    assert (resp.status_code, resp.json["error"]) == (status, code)
    assert resp.json == monolith.post("/api/auth/login", json=body).json


def test_login_body_errors(services):
    resp = login(services, None, data="email=a", content_type="text/plain")
    assert (resp.status_code, resp.json["error"]) == (415, "unsupported_media_type")
    resp = login(services, None, data="{nope", content_type="application/json")
    assert (resp.status_code, resp.json["error"]) == (400, "invalid_json")
    resp = login(services, None, data="x" * (1024 * 1024 + 1), content_type="application/json")
    assert (resp.status_code, resp.json["error"]) == (413, "payload_too_large")
    resp = call(services["accounts"], "GET", "/internal/login", headers=service_headers(
        "accounts"))
    assert (resp.status_code, resp.json["error"]) == (405, "method_not_allowed")


def test_get_customer(services):
    headers = service_headers("accounts", customer_id=3)
    resp = call(services["accounts"], "GET", "/internal/customers/{customer_id}",
                headers=headers, customer_id=3)
    assert resp.status_code == 200
    assert resp.json["id"] == 3 and resp.json["email"] == "customer3@rackshop.test"
    resp = call(services["accounts"], "GET", "/internal/customers/{customer_id}",
                headers=headers, customer_id=101)
    assert (resp.status_code, resp.json["error"]) == (404, "not_found")
    assert services["accounts"].get("/internal/customers/abc", headers=headers).status_code \
        == 404


# --- catalog -----------------------------------------------------------------------------

def catalog(services, template, query=None, **params):
    return call(services["catalog"], "GET", template, headers=service_headers("catalog"),
                query=query, **params)


def test_categories_match_the_monolith(services, monolith):
    resp = catalog(services, "/internal/categories")
    assert resp.status_code == 200
    assert resp.json == monolith.get("/api/categories").json
    assert sum(c["product_count"] for c in resp.json["items"]) == PRODUCT_COUNT


@pytest.mark.parametrize("query", [
    {},
    {"q": "rack"},
    {"q": "rack enclosed", "per_page": 100},
    {"q": "RCK-00001"},
    {"q": "   "},
    {"category": "ups", "page": 7},
    {"category": "ups", "page": 70},
    {"category": "servers", "q": "512 GB", "per_page": 5, "page": 2},
    {"category": "no-such-category"},
    {"q": "zzzz-nothing-matches"},
    {"page": 0},
    {"page": "two"},
    {"per_page": 101},
    {"page": 10001},
    {"q": "x" * 101},
    {"category": "c" * 41},
    {"q": "rack\x00"},
], ids=lambda q: urlencode(q)[:40] or "default")
def test_product_search_matches_the_monolith(services, monolith, query):
    resp = catalog(services, "/internal/products", query=query)
    public = monolith.get("/api/products?" + urlencode(query))
    assert (resp.status_code, resp.json) == (public.status_code, public.json)


def test_one_product_is_the_monoliths_without_stock(services, monolith):
    resp = catalog(services, "/internal/products/{product_id}", product_id=42)
    assert resp.status_code == 200
    public = monolith.get("/api/products/42").json
    del public["stock"]
    assert resp.json == public
    resp = catalog(services, "/internal/products/{product_id}", product_id=PRODUCT_COUNT + 1)
    assert (resp.status_code, resp.json["error"]) == (404, "not_found")


# --- inventory ---------------------------------------------------------------------------

def inventory(services, method, template, json=None, **params):
    return call(services["inventory"], method, template, headers=service_headers("inventory"),
                json=json, **params)


def test_stock_of_one_product(services):
    resp = inventory(services, "GET", "/internal/stock/{product_id}", product_id=1)
    assert resp.json == {"product_id": 1, "initial": SEEDED_STOCK[1],
                         "available": SEEDED_STOCK[1], "reserved": 0, "sold": 0}
    resp = inventory(services, "GET", "/internal/stock/{product_id}", product_id=5000)
    assert (resp.status_code, resp.json["error"]) == (404, "not_found")


def test_every_stock_level_for_the_audit(services):
    items = inventory(services, "GET", "/internal/stock").json["items"]
    assert [s["product_id"] for s in items] == list(range(1, PRODUCT_COUNT + 1))
    assert all(s["initial"] == s["available"] + s["reserved"] + s["sold"] for s in items)


@pytest.mark.parametrize("body", [
    {"available": 7},
    {"available": 0},
    {"available": 100_000_000},
    {"available": 12.0},
    {"available": 12.5},
    {"available": -1},
    {"available": 100_000_001},
    {"available": True},
    {"available": "7"},
    {"available": 7, "reserved": 1},
    {},
    [7],
])
def test_set_stock_matches_the_monolith(services, monolith, fresh_stock, body):
    resp = inventory(services, "PUT", "/internal/stock/{product_id}", json=body, product_id=3)
    public = monolith.put("/api/admin/products/3/stock", json=body,
                          headers={"Authorization": f"Bearer {ADMIN_TOKEN}"})
    assert (resp.status_code, resp.json) == (public.status_code, public.json)
    if resp.status_code == 200:
        after = inventory(services, "GET", "/internal/stock/{product_id}", product_id=3).json
        assert after == resp.json
        assert after["initial"] == after["available"] + after["reserved"] + after["sold"]


def test_set_stock_errors(services, monolith, fresh_stock):
    resp = inventory(services, "PUT", "/internal/stock/{product_id}", json={"available": 1},
                     product_id=5000)
    assert (resp.status_code, resp.json["error"]) == (404, "not_found")
    headers = service_headers("inventory")
    resp = call(services["inventory"], "PUT", "/internal/stock/{product_id}", headers=headers,
                data="available=1", content_type="text/plain", product_id=1)
    assert (resp.status_code, resp.json["error"]) == (415, "unsupported_media_type")
    resp = call(services["inventory"], "PUT", "/internal/stock/{product_id}", headers=headers,
                data="{", content_type="application/json", product_id=1)
    assert (resp.status_code, resp.json["error"]) == (400, "invalid_json")
    resp = call(services["inventory"], "POST", "/internal/stock", headers=headers)
    assert (resp.status_code, resp.json["error"]) == (405, "method_not_allowed")


def test_the_database_guards_the_stock_invariant(dsns):
    conn = psycopg2.connect(dsns["inventory"])
    try:
        with conn.cursor() as cur:
            with pytest.raises(psycopg2.errors.CheckViolation):
                cur.execute("UPDATE stock SET reserved = 1 WHERE product_id = 1")
            conn.rollback()
            with pytest.raises(psycopg2.errors.CheckViolation):
                cur.execute("UPDATE stock SET available = -1, initial = initial - available - 1"
                            " WHERE product_id = 1")
            conn.rollback()
            cur.execute("UPDATE stock SET available = available - 2, reserved = 1, sold = 1"
                        " WHERE product_id = 1")
        conn.rollback()
    finally:
        conn.close()


# --- isolation and the seed --------------------------------------------------------------

def test_a_services_role_reaches_only_its_own_database(dsns):
    names = [*SERVICES, "monolith"]
    for own in SERVICES:
        for other in names:
            if other == own:
                continue
            dbname = parse_dsn(dsns[other])["dbname"]
            with pytest.raises(psycopg2.OperationalError):
                psycopg2.connect(dsns[own], dbname=dbname, connect_timeout=5).close()
        psycopg2.connect(dsns[own], connect_timeout=5).close()


DIGESTS = {
    "categories": ("catalog", "SELECT md5(string_agg(concat_ws('|', slug, name, position),"
                              " E'\\n' ORDER BY position)) FROM categories"),
    "products": ("catalog", "SELECT md5(string_agg(concat_ws('|', id, sku, name, category,"
                            " description, price_cents, search), E'\\n' ORDER BY id))"
                            " FROM products"),
    "customers": ("accounts", "SELECT md5(string_agg(concat_ws('|', id, email, name,"
                              " password_hash), E'\\n' ORDER BY id)) FROM customers"),
    "stock": ("inventory", "SELECT md5(string_agg(concat_ws('|', product_id, initial,"
                           " available, sold), E'\\n' ORDER BY product_id)) FROM stock"),
}


def digest(dsn: str, query: str) -> str:
    conn = psycopg2.connect(dsn)
    try:
        with conn.cursor() as cur:
            cur.execute(query)
            return cur.fetchone()[0]
    finally:
        conn.close()


@pytest.mark.parametrize("table", DIGESTS)
def test_the_seed_is_the_monoliths(dsns, table):
    service, query = DIGESTS[table]
    ours = digest(dsns[service], query)
    assert ours is not None
    assert ours == digest(dsns["monolith"], query)


def test_nothing_is_reserved_after_a_reseed(dsns):
    assert digest(dsns["inventory"], "SELECT count(*) FROM stock WHERE reserved <> 0") == 0


def test_every_internal_operation_is_tested():
    documented = {(method.upper(), path) for path, item in INTERNAL_SPEC["paths"].items()
                  for method in item if method in ("get", "put", "post")
                  and path.startswith("/internal/")}
    assert documented == {(m, t) for _, m, t, _ in OPERATIONS}
