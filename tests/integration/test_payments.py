"""The payments service on real PostgreSQL against the real card processor: the processor
app served over real HTTP in a thread (its own database), the payments app through its
Flask test client. Every answer is checked against contract/internal.yaml.

The payments app is pointed at the processor by config (CARD_PROCESSOR_URL and
CARD_PROCESSOR_TIMEOUT_SECONDS, which create_app takes in place of the environment);
one test checks the environment route too.
"""

import threading
import time
from contextlib import closing

import psycopg2
import pytest

from archlab.config import project_root
from archlab.db import apply_sql
from cardprocessor.app import create_app as create_processor
from cardprocessor.client import CardProcessor
from cardprocessor.seed import reseed as reseed_processor
from microservices.common.security import service_token_key
from microservices.payments.api import PROCESSOR_EXTENSION
from microservices.payments.app import create_app
from microservices.payments.seed import reseed as reseed_payments
from shop.cards import LATE_ANSWER_CARD, Card
from tests import ports
from tests.integration.servicekit import call as contract_call
from tests.integration.servicekit import serve, throwaway_cluster
from tests.integration.servicekit import service_headers as service_token_header

pytestmark = pytest.mark.timeout(120)

ROOT = project_root()
SECRET = "payments-test-secret"
KEY = service_token_key(SECRET)

# The processor answers the late card this long after capturing it; the payments
# service gives up on the processor well before.
LATE_SECONDS = 1.5
TIMEOUT_SECONDS = 0.5

APPROVED = {"number": "4242424242424242", "exp_month": 12, "exp_year": 2035, "cvc": "123",
            "holder": "Ada Lovelace"}
DECLINED = APPROVED | {"number": "4000000000000002"}
PROCESSOR_ERROR = APPROVED | {"number": "4000000000000119"}
LATE = APPROVED | {"number": LATE_ANSWER_CARD}

PAYMENT = "/internal/payments/{order_id}"
CHARGE = "/internal/payments/{order_id}/charge"
CANCEL = "/internal/payments/{order_id}/cancel"
AUDIT = "/internal/audit"


# --- the stack: a cluster, two databases, the processor over HTTP, the payments app -----

@pytest.fixture(scope="module")
def cluster():
    yield from throwaway_cluster(ports.CLUSTERS["payments"], "archlab_test_pay")


@pytest.fixture(scope="module")
def dsns(cluster) -> dict[str, str]:
    """The payments service's database and the card processor's, each migrated."""
    payments = cluster.create_database("pay_payments", "pay_payments", "pw-payments")
    apply_sql(payments, ROOT / "microservices" / "payments" / "schema.sql")
    processor = cluster.create_database("pay_processor", "pay_processor", "pw-processor")
    apply_sql(processor, ROOT / "cardprocessor" / "schema.sql")
    return {"payments": payments, "processor": processor}


@pytest.fixture(scope="module")
def processor_url(dsns):
    """Base URL of the real card processor app on a real HTTP server in a thread."""
    app = create_processor({"DATABASE_URL": dsns["processor"], "POOL_SIZE": 4,
                            "LATENCY_MS": 0, "LATE_SECONDS": LATE_SECONDS})
    # Request threads are joined when the server stops, so a late answer still held
    # back finishes inside the session. Every client is closed by then (the fixtures
    # below), so no keep-alive connection keeps a thread waiting.
    url, stop = serve(app)
    try:
        yield url
    finally:
        stop()


@pytest.fixture(scope="module")
def processor(processor_url):
    """The test's own client of the processor, to see what it holds."""
    client = CardProcessor(processor_url, timeout=10.0)
    yield client
    client.close()


def config(dsn: str, url: str | None, timeout: float = TIMEOUT_SECONDS) -> dict:
    """The payments app's config; without `url` the processor comes from the environment."""
    found = {"DATABASE_URL": dsn, "SECRET_KEY": SECRET, "POOL_SIZE": 2}
    if url is not None:
        found |= {"CARD_PROCESSOR_URL": url, "CARD_PROCESSOR_TIMEOUT_SECONDS": timeout}
    return found


def close_processor_client(app) -> None:
    """Close an app's processor connections, so the processor's server can stop."""
    app.extensions[PROCESSOR_EXTENSION].get().close()


@pytest.fixture(scope="module")
def payments_app(dsns, processor_url):
    app = create_app(config(dsns["payments"], processor_url))
    yield app
    close_processor_client(app)


@pytest.fixture
def client(payments_app):
    return payments_app.test_client()


_next_order = iter(range(1000, 10**6))


@pytest.fixture
def order_id() -> int:
    """A fresh order id: tests share the databases, never an order."""
    return next(_next_order)


# --- calling, and the contract -----------------------------------------------------------

def service_headers(caller: str = "orders", audience: str = "payments", key=KEY,
                    ttl: int = 60) -> dict:
    """A service token header, from orders to payments unless told otherwise."""
    return service_token_header(key, caller, audience, None, ttl)


def call(client, method: str, template: str, *, headers=None, **kw):
    """Call an operation of internal.yaml by its template (as orders does) and check it."""
    return contract_call(client, method, template,
                         headers=service_headers() if headers is None else headers, **kw)


def charge(client, order_id: int, card=APPROVED, amount_cents: int = 1250, **kw):
    """POST a charge as orders does."""
    return call(client, "POST", CHARGE, order_id=order_id,
                json={"amount_cents": amount_cents, "card": card}, **kw)


def cancel(client, order_id: int, **kw):
    """POST a cancel (no body unless given)."""
    return call(client, "POST", CANCEL, order_id=order_id, **kw)


def get(client, order_id: int, **kw):
    """GET an order's payment."""
    return call(client, "GET", PAYMENT, order_id=order_id, **kw)


def payment(order_id: int, status: str, amount_cents: int = 1250, last4: str = "4242") -> dict:
    """The Payment body expected."""
    return {"order_id": order_id, "status": status, "amount_cents": amount_cents,
            "card_last4": last4}


def ref(order_id: int) -> str:
    """The order's merchant reference at the processor."""
    return f"rackshop-order-{order_id}"


def at_processor(processor, order_id: int) -> tuple[str, int] | None:
    """(status, amount) the processor holds for the order's reference, or None."""
    found = processor.lookup(ref(order_id))
    return None if found is None else (found.status, found.amount_cents)


def records_of(processor, order_id: int) -> list:
    """Every processor record of the order's reference (there is at most one)."""
    return [c for c in processor.charges() if c.reference == ref(order_id)]


def row_status(dsns, order_id: int) -> str | None:
    """The payment row's status, read straight from the database."""
    with closing(psycopg2.connect(dsns["payments"])) as conn, conn.cursor() as cur:
        cur.execute("SELECT status FROM payments WHERE order_id = %s", (order_id,))
        found = cur.fetchone()
    return None if found is None else found[0]


def execute(dsn: str, statement: str, params: tuple) -> None:
    """Run one statement, with bound parameters, and commit it."""
    with closing(psycopg2.connect(dsn)) as conn, conn, conn.cursor() as cur:
        cur.execute(statement, params)


# --- probes and routes -------------------------------------------------------------------

def test_probes(client):
    assert call(client, "GET", "/healthz").json == {"status": "ok", "service": "payments"}
    resp = call(client, "GET", "/readyz")
    assert (resp.status_code, resp.json) == (200, {"status": "ok", "service": "payments"})


def test_a_payments_app_needs_its_database_url():
    with pytest.raises(RuntimeError, match="DATABASE_URL"):
        create_app({"DATABASE_URL": "", "SECRET_KEY": SECRET})


# --- charge ------------------------------------------------------------------------------

def test_an_approved_card_is_captured_once(client, processor, order_id):
    resp = charge(client, order_id)
    assert (resp.status_code, resp.json) == (200, payment(order_id, "captured"))
    assert at_processor(processor, order_id) == ("captured", 1250)
    assert get(client, order_id).json == payment(order_id, "captured")

    # A replay is answered from the record: nothing is called, so even a card the
    # processor would refuse changes nothing.
    for card in (APPROVED, PROCESSOR_ERROR):
        replay = charge(client, order_id, card=card)
        assert (replay.status_code, replay.json) == (200, payment(order_id, "captured"))
    assert [(c.status, c.amount_cents) for c in records_of(processor, order_id)] == \
        [("captured", 1250)]


def test_a_declined_card_is_declined(client, processor, order_id):
    resp = charge(client, order_id, card=DECLINED)
    assert (resp.status_code, resp.json) == (200, payment(order_id, "declined", last4="0002"))
    assert at_processor(processor, order_id) == ("declined", 1250)
    assert get(client, order_id).json["status"] == "declined"


def test_a_processor_error_charges_nothing_and_a_retry_charges_again(client, processor,
                                                                      order_id, dsns):
    resp = charge(client, order_id, card=PROCESSOR_ERROR)
    assert resp.status_code == 503
    assert resp.json == {"error": "payment_unavailable",
                         "message": "the card processor failed; nothing was charged"}
    assert row_status(dsns, order_id) == "failed"
    assert at_processor(processor, order_id) is None
    # The processor has nothing to say about it: the payment stays failed.
    assert get(client, order_id).json == payment(order_id, "failed", last4="0119") | {
        "processor": "no_record"}

    # Driven again with the same amount (the saga's retry): the same reference, charged.
    again = charge(client, order_id)
    assert (again.status_code, again.json) == (200, payment(order_id, "captured"))
    assert at_processor(processor, order_id) == ("captured", 1250)


def test_another_amount_for_an_open_payment_is_refused(client, processor, order_id):
    assert charge(client, order_id, card=PROCESSOR_ERROR).status_code == 503
    resp = charge(client, order_id, amount_cents=999)
    assert (resp.status_code, resp.json["details"]) == (422, {"field": "amount_cents"})
    assert at_processor(processor, order_id) is None


def test_a_late_answer_is_charging_until_a_lookup_resolves_it(client, processor, order_id):
    started = time.monotonic()
    resp = charge(client, order_id, card=LATE)
    assert time.monotonic() - started < LATE_SECONDS
    assert (resp.status_code, resp.json) == (202, payment(order_id, "charging", last4="0259"))

    time.sleep(LATE_SECONDS + 0.2)
    resolved = get(client, order_id)
    assert (resolved.status_code, resolved.json) == \
        (200, payment(order_id, "captured", last4="0259"))
    assert [(c.status, c.amount_cents) for c in records_of(processor, order_id)] == \
        [("captured", 1250)]
    # Settled now: a replay is answered from the record.
    assert charge(client, order_id, card=LATE).json["status"] == "captured"


# --- cancel ------------------------------------------------------------------------------

def test_cancel_refunds_a_captured_payment(client, processor, order_id):
    assert charge(client, order_id).json["status"] == "captured"
    resp = cancel(client, order_id)
    assert (resp.status_code, resp.json) == (200, payment(order_id, "refunded"))
    assert at_processor(processor, order_id) == ("refunded", 1250)
    # Idempotent: again, and a charge replay, answer the refund.
    assert cancel(client, order_id).json == payment(order_id, "refunded")
    assert charge(client, order_id).json == payment(order_id, "refunded")
    assert at_processor(processor, order_id) == ("refunded", 1250)


def test_orders_cancels_with_an_empty_object(client, processor, order_id):
    resp = cancel(client, order_id, json={})
    assert (resp.status_code, resp.json) == (200, payment(order_id, "void", 0, ""))


def test_cancel_before_any_charge_leaves_a_tombstone(client, processor, order_id, dsns):
    resp = cancel(client, order_id)
    assert (resp.status_code, resp.json) == (200, payment(order_id, "void", 0, ""))
    assert at_processor(processor, order_id) == ("voided", 0)

    late = charge(client, order_id)
    assert (late.status_code, late.json) == (200, payment(order_id, "void", 0, ""))
    assert [c.status for c in records_of(processor, order_id)] == ["voided"]

    # Even a charge that slipped past this service is refused at the processor.
    execute(dsns["payments"], "UPDATE payments SET status = 'charging', amount_cents = 1250"
            " WHERE order_id = %s", (order_id,))
    redriven = charge(client, order_id)
    assert (redriven.status_code, redriven.json["status"]) == (200, "void")
    assert [c.status for c in records_of(processor, order_id)] == ["voided"]


def test_cancel_of_a_declined_payment_changes_nothing(client, processor, order_id):
    assert charge(client, order_id, card=DECLINED).json["status"] == "declined"
    resp = cancel(client, order_id)
    assert (resp.status_code, resp.json) == (200, payment(order_id, "declined", last4="0002"))
    assert [(c.status, c.amount_cents) for c in records_of(processor, order_id)] == \
        [("declined", 1250)]


def test_cancel_of_a_charge_in_flight_refunds_it(client, processor, order_id):
    # The late card's answer is lost (202): the charge is captured at the processor.
    assert charge(client, order_id, card=LATE).status_code == 202
    resp = cancel(client, order_id)
    assert (resp.status_code, resp.json) == (200, payment(order_id, "refunded", last4="0259"))
    assert at_processor(processor, order_id) == ("refunded", 1250)
    # The lost answer arriving later changes nothing.
    time.sleep(LATE_SECONDS + 0.2)
    assert get(client, order_id).json["status"] == "refunded"


def test_a_capture_that_lands_after_its_cancel_is_refunded(dsns, processor_url, processor,
                                                           order_id):
    """The charge waits long enough for the late answer; while it waits, the saga cancels
    the payment. The capture then finds the payment cancelled and must not stay."""
    app = create_app(config(dsns["payments"], processor_url, timeout=10.0))
    try:
        answers = {}

        def charge_in_flight():
            answers["charge"] = charge(app.test_client(), order_id, card=LATE)

        thread = threading.Thread(target=charge_in_flight)
        thread.start()
        # The processor captures at once and holds its answer for LATE_SECONDS.
        deadline = time.monotonic() + LATE_SECONDS
        while at_processor(processor, order_id) is None and time.monotonic() < deadline:
            time.sleep(0.05)
        cancelled = cancel(app.test_client(), order_id)
        thread.join(30)
        assert cancelled.json["status"] == "refunded"
        resp = answers["charge"]
        assert (resp.status_code, resp.json) == (200, payment(order_id, "refunded",
                                                              last4="0259"))
        assert at_processor(processor, order_id) == ("refunded", 1250)
        assert row_status(dsns, order_id) == "refunded"
    finally:
        close_processor_client(app)


def test_a_lookup_settles_an_open_payment_as_the_processor_holds_it(client, processor, dsns,
                                                                    order_id):
    """A payment left 'charging' (its request died after the processor captured)."""
    processor.charge(ref(order_id), 1250, Card(**APPROVED))
    execute(dsns["payments"], "INSERT INTO payments (order_id, reference, amount_cents,"
            " card_last4, status) VALUES (%s, %s, 1250, '4242', 'charging')",
            (order_id, ref(order_id)))
    # The lookup settles it as captured; nothing was cancelled.
    assert get(client, order_id).json == payment(order_id, "captured")
    assert at_processor(processor, order_id) == ("captured", 1250)


# --- the processor out of reach ----------------------------------------------------------

@pytest.fixture
def unreachable(dsns):
    """A payments app whose card processor is a port nobody listens on."""
    app = create_app(config(dsns["payments"], "http://127.0.0.1:9"))
    yield app.test_client()
    close_processor_client(app)


def test_without_the_processor(unreachable, client, processor, dsns, order_id):
    # Connection refused: the request never left, so nothing was charged.
    resp = charge(unreachable, order_id)
    assert (resp.status_code, resp.json["error"]) == (503, "payment_unavailable")
    assert row_status(dsns, order_id) == "failed"
    # A payment whose outcome is open is answered as it is, saying the processor could
    # not be asked (so recovery waits instead of cancelling).
    execute(dsns["payments"], "UPDATE payments SET status = 'charging' WHERE order_id = %s",
            (order_id,))
    answer = get(unreachable, order_id).json
    assert answer.pop("processor_error").startswith("GET /v1/charges/")
    assert answer == payment(order_id, "charging") | {"processor": "unreachable"}
    # Asked, the processor holds no record of it: said so (recovery may cancel it).
    assert get(client, order_id).json == payment(order_id, "charging") | {
        "processor": "no_record"}

    # A cancel of an open payment changes nothing.
    resp = cancel(unreachable, order_id)
    assert (resp.status_code, resp.json["error"]) == (503, "service_unavailable")
    assert row_status(dsns, order_id) == "charging"

    # A new tombstone is kept here, and the retried cancel leaves it at the processor.
    tombstone = order_id + 500_000
    resp = cancel(unreachable, tombstone)
    assert (resp.status_code, resp.json["error"]) == (503, "service_unavailable")
    assert row_status(dsns, tombstone) == "void"
    assert at_processor(processor, tombstone) is None
    assert charge(unreachable, tombstone).json == payment(tombstone, "void", 0, "")
    assert cancel(client, tombstone).json == payment(tombstone, "void", 0, "")
    assert at_processor(processor, tombstone) == ("voided", 0)

    resp = call(unreachable, "GET", AUDIT, headers=service_headers("gateway"))
    assert (resp.status_code, resp.json["error"]) == (503, "service_unavailable")


def test_the_processor_url_comes_from_the_environment(dsns, processor_url, processor,
                                                      monkeypatch, order_id):
    monkeypatch.setenv("CARD_PROCESSOR_URL", processor_url)
    monkeypatch.setenv("CARD_PROCESSOR_TIMEOUT_SECONDS", str(TIMEOUT_SECONDS))
    app = create_app(config(dsns["payments"], None))
    try:
        assert charge(app.test_client(), order_id).json["status"] == "captured"
        assert at_processor(processor, order_id) == ("captured", 1250)
    finally:
        close_processor_client(app)


# --- the audit ---------------------------------------------------------------------------

def test_the_audit_reconciles_payments_with_the_processor(client, processor, dsns):
    reseed_payments(dsns["payments"])
    reseed_processor(dsns["processor"])
    assert charge(client, 1, amount_cents=1000).json["status"] == "captured"
    assert charge(client, 2, card=DECLINED).json["status"] == "declined"
    assert charge(client, 3, amount_cents=700).json["status"] == "captured"
    assert cancel(client, 3).json["status"] == "refunded"
    assert cancel(client, 4).json["status"] == "void"
    # Another merchant's charge at the same processor does not count.
    processor.charge("rackshop-mono-abc", 5000, Card(**APPROVED))

    resp = call(client, "GET", AUDIT, headers=service_headers("gateway"))
    assert resp.status_code == 200
    assert resp.json == {
        "items": [{"order_id": 1, "status": "captured", "amount_cents": 1000},
                  {"order_id": 2, "status": "declined", "amount_cents": 1250},
                  {"order_id": 3, "status": "refunded", "amount_cents": 700},
                  {"order_id": 4, "status": "void", "amount_cents": 0}],
        "processor": {"captures": 1, "captured_total_cents": 1000, "refunds": 1,
                      "captures_without_payment": 0, "payments_without_capture": 0}}

    # A captured payment the processor never saw, and a capture no payment accounts for.
    execute(dsns["payments"], "INSERT INTO payments (order_id, reference, amount_cents,"
            " card_last4, status) VALUES (5, %s, 900, '4242', 'captured')", (ref(5),))
    processor.charge(ref(6), 300, Card(**APPROVED))
    figures = call(client, "GET", AUDIT, headers=service_headers("gateway")).json["processor"]
    assert figures == {"captures": 2, "captured_total_cents": 1300, "refunds": 1,
                       "captures_without_payment": 1, "payments_without_capture": 1}


# --- requests the service refuses --------------------------------------------------------

@pytest.mark.parametrize(("body", "field"), [
    ({"amount_cents": 1250}, "card"),
    ({"amount_cents": 0, "card": APPROVED}, "amount_cents"),
    ({"amount_cents": "1250", "card": APPROVED}, "amount_cents"),
    ({"amount_cents": True, "card": APPROVED}, "amount_cents"),
    ({"amount_cents": 10**12 + 1, "card": APPROVED}, "amount_cents"),
    ({"amount_cents": 1250, "card": APPROVED, "currency": "EUR"}, "currency"),
    ({"amount_cents": 1250, "card": APPROVED | {"number": "4242424242424241"}}, "card.number"),
    ({"amount_cents": 1250, "card": APPROVED | {"exp_year": 2001}}, "card.exp_year"),
    ({"amount_cents": 1250, "card": "4242"}, "card"),
    ([1250], "body"),
])
def test_a_malformed_charge_is_422(client, processor, dsns, order_id, body, field):
    resp = call(client, "POST", CHARGE, order_id=order_id, json=body)
    assert (resp.status_code, resp.json["error"]) == (422, "validation_error")
    assert resp.json["details"] == {"field": field}
    assert row_status(dsns, order_id) is None


JSON = "application/json"


def test_bodies_that_are_not_json(client, order_id):
    resp = call(client, "POST", CHARGE, order_id=order_id, data="{", content_type=JSON)
    assert (resp.status_code, resp.json["error"]) == (400, "invalid_json")
    resp = call(client, "POST", CHARGE, order_id=order_id, data="x", content_type="text/plain")
    assert (resp.status_code, resp.json["error"]) == (415, "unsupported_media_type")
    resp = call(client, "POST", CHARGE, order_id=order_id, data="x" * (1024 * 1024 + 1),
                content_type=JSON)
    assert (resp.status_code, resp.json["error"]) == (413, "payload_too_large")
    resp = call(client, "POST", CANCEL, order_id=order_id, json={"reason": "x"})
    assert (resp.status_code, resp.json["details"]) == (422, {"field": "body"})
    resp = call(client, "POST", CANCEL, order_id=order_id, data="{", content_type=JSON)
    assert resp.status_code == 400


def test_order_ids_and_methods(client):
    assert call(client, "GET", PAYMENT, order_id=424242).status_code == 404
    for bad in (0, 2**63):
        assert call(client, "GET", PAYMENT, order_id=bad).status_code == 404
        assert call(client, "POST", CANCEL, order_id=bad).status_code == 404
        assert call(client, "POST", CHARGE, order_id=bad,
                    json={"amount_cents": 1, "card": APPROVED}).status_code == 404
    assert call(client, "GET", CHARGE, order_id=1).status_code == 405
    assert call(client, "PUT", PAYMENT, order_id=1, json={}).status_code == 405
    assert call(client, "POST", AUDIT, json={}).status_code == 405


OPERATIONS = [("GET", PAYMENT), ("POST", CHARGE), ("POST", CANCEL), ("GET", AUDIT)]


@pytest.mark.parametrize(("method", "template"), OPERATIONS,
                         ids=[f"{m} {t}" for m, t in OPERATIONS])
def test_only_orders_and_the_gateway_may_call(client, method, template):
    params = {} if template == AUDIT else {"order_id": 7}
    body = {"amount_cents": 1250, "card": APPROVED} if template == CHARGE else None
    for headers in ({}, service_headers("inventory"), service_headers("catalog"),
                    service_headers("accounts"), service_headers("payments"),
                    service_headers("orders", audience="inventory"),
                    service_headers("orders", key=service_token_key("forged")),
                    service_headers("orders", ttl=-1)):
        resp = call(client, method, template, headers=headers, json=body, **params)
        assert (resp.status_code, resp.json["error"]) == (401, "unauthorized")
    for caller in ("orders", "gateway"):
        resp = call(client, method, template, headers=service_headers(caller), json=body,
                    **params)
        assert resp.status_code != 401
