"""The invoices service on real PostgreSQL against the real notifications and accounts
services: those two apps served over real HTTP in threads (each with its own database),
the invoices app through its Flask test client. Every answer is checked against
contract/internal.yaml.

The invoices app finds its upstreams through NOTIFICATIONS_URL and ACCOUNTS_URL and its
printer through INVOICE_PRINTER, set in the environment before it is made (as a stack
sets them). "Down" is a port nobody listens on.
"""

import datetime
import threading
from contextlib import closing

import psycopg2
import pytest

from archlab.config import project_root
from archlab.db import apply_sql
from microservices.accounts.app import create_app as create_accounts
from microservices.accounts.seed import reseed as reseed_accounts
from microservices.common.client import ServiceClient
from microservices.common.security import service_token_key
from microservices.common.upstreams import app_upstreams
from microservices.invoices import delivery, worker
from microservices.invoices.api import TARGETS
from microservices.invoices.app import create_app
from microservices.invoices.delivery import Deliverer
from microservices.invoices.seed import reseed as reseed_invoices
from microservices.notifications.app import create_app as create_notifications
from monolith.services.invoicing import RETRY_BASE_SECONDS, RETRY_MAX_SECONDS
from plumbing import testhooks
from plumbing.db import Pool
from shop.invoices import InvoiceData, invoice_number, render_html, render_text
from shop.money import totals
from shop.orders import PricedLine
from shop.seed import generate_customers
from tests import ports
from tests.integration.servicekit import call as contract_call
from tests.integration.servicekit import serve, service_headers, throwaway_cluster

pytestmark = pytest.mark.timeout(120)

ROOT = project_root()
SECRET = "invoices-test-secret"
KEY = service_token_key(SECRET)
# Nothing listens here: a connection is refused at once.
DOWN = "http://127.0.0.1:9"

EVENTS = "/internal/invoices"
INVOICE = "/internal/invoices/{order_id}"
EMAIL = "/internal/invoices/{order_id}/email"
AUDIT = "/internal/audit"

CUSTOMERS = {c.id: c for c in generate_customers()[:3]}
PLACED_AT = "2026-03-14T09:26:53.589793+00:00"
LINES = [
    {"product_id": 3, "sku": "RS-00003", "name": "Rack shelf 1U, vented", "quantity": 2,
     "unit_price_cents": 1250, "line_total_cents": 2500},
    {"product_id": 17, "sku": "RS-00017", "name": "Patch cable Cat6a 2 m", "quantity": 1,
     "unit_price_cents": 399, "line_total_cents": 399},
]


# --- the stack: a cluster, three databases, notifications and accounts over HTTP ---------

@pytest.fixture(scope="module")
def cluster():
    yield from throwaway_cluster(ports.CLUSTERS["invoices"], "archlab_test_inv2")


@pytest.fixture(scope="module")
def dsns(cluster) -> dict[str, str]:
    """The invoices, notifications and accounts databases, migrated (accounts seeded)."""
    found = {}
    for name in ("invoices", "notifications", "accounts"):
        found[name] = cluster.create_database(f"inv2_{name}", f"inv2_{name}", f"pw-{name}")
        apply_sql(found[name], ROOT / "microservices" / name / "schema.sql")
    reseed_accounts(found["accounts"])
    return found


def service_config(dsn: str, callers: set[str]) -> dict:
    return {"DATABASE_URL": dsn, "SECRET_KEY": SECRET, "POOL_SIZE": 4,
            "ALLOWED_CALLERS": callers}


@pytest.fixture(scope="module")
def notifications_url(dsns):
    """The real notifications service."""
    url, stop = serve(create_notifications(service_config(dsns["notifications"],
                                                          {"invoices", "gateway"})))
    yield url
    stop()


@pytest.fixture(scope="module")
def accounts_url(dsns):
    """The real accounts service, which lets the invoices service look customers up."""
    url, stop = serve(create_accounts(service_config(dsns["accounts"],
                                                     {"gateway", "invoices"})))
    yield url
    stop()


def _close(app) -> None:
    ext = app.extensions["archlab"]
    if ext.get("upstreams") is not None:
        ext["upstreams"].close()
    ext["pools"].get().close()


@pytest.fixture
def make_app(dsns, notifications_url, accounts_url, monkeypatch):
    """make_app(printer, notifications=URL, accounts=URL): an invoices app set up from the
    environment as a stack sets it up; the real services unless told otherwise."""
    apps = []

    def make(printer: str = "spool", *, notifications: str | None = None,
             accounts: str | None = None):
        monkeypatch.setenv("NOTIFICATIONS_URL", notifications or notifications_url)
        monkeypatch.setenv("ACCOUNTS_URL", accounts or accounts_url)
        monkeypatch.setenv("INVOICE_PRINTER", printer)
        app = create_app({"DATABASE_URL": dsns["invoices"], "SECRET_KEY": SECRET,
                          "POOL_SIZE": 4})
        # The upstreams read the environment when first used: made now, while it says so.
        with app.app_context():
            app_upstreams(TARGETS)
        apps.append(app)
        return app

    yield make
    for app in apps:
        _close(app)


@pytest.fixture
def client(make_app):
    """The invoices app with a working printer and every upstream up."""
    return make_app().test_client()


@pytest.fixture
def deliverers(dsns, notifications_url):
    """make(printer, notifications=URL): a Deliverer as the worker makes one (its own pool,
    its own notifications client), with the real notifications unless told otherwise."""
    made = []

    def make(printer: str = "spool", notifications: str | None = None) -> Deliverer:
        pool = Pool(dsns["invoices"], 1, application_name="invoices-test-worker")
        client = ServiceClient("invoices", "notifications", notifications or notifications_url,
                               KEY, threads=1)
        made.append((pool, client))
        return Deliverer(pool, client, printer)

    yield make
    for pool, client in made:
        client.close()
        pool.close()


_next_order = iter(range(1000, 10**6))


@pytest.fixture
def order_id() -> int:
    """A fresh order id: tests share the databases, never an order."""
    return next(_next_order)


# --- calling, and the contract -----------------------------------------------------------

def token(caller: str = "orders", customer_id: int | None = None, *,
          audience: str = "invoices", key=KEY, ttl: int = 60) -> dict:
    """A service token header: orders' relay (no customer) unless told otherwise."""
    return service_headers(key, caller, audience, customer_id, ttl)


def gateway(customer_id: int) -> dict:
    """The gateway's token for a customer's call."""
    return token("gateway", customer_id)


def call(client, method: str, template: str, *, headers=None, **kw):
    """Call an operation of internal.yaml by its template (as orders' relay does unless told
    otherwise) and check the answer, the operation tagged invoices."""
    return contract_call(client, method, template, tag="invoices",
                         headers=token() if headers is None else headers, **kw)


def paid_order(order_id: int, **changes) -> dict:
    """The public Order of a PAID order, as the orders service answers its checkout."""
    figures = totals(sum(line["line_total_cents"] for line in LINES))
    return {"id": order_id, "status": "PAID", "created_at": PLACED_AT,
            "items": [dict(line) for line in LINES],
            "subtotal_cents": figures.subtotal_cents, "vat_cents": figures.vat_cents,
            "total_cents": figures.total_cents, "currency": "EUR", "card_last4": "4242",
            "invoice_status": "pending"} | changes


def event(order_id: int, customer_id: int = 1, **changes) -> dict:
    """The "order paid" event the outbox relay posts."""
    return {"customer_id": customer_id, "order": paid_order(order_id, **changes)}


def post_event(client, order_id: int, customer_id: int = 1, **kw):
    """POST the order's event as the relay does."""
    return call(client, "POST", EVENTS, json=event(order_id, customer_id), **kw)


def expected_data(order_id: int, customer_id: int = 1) -> InvoiceData:
    """What the invoice must show: the order's figures and the customer's record."""
    customer = CUSTOMERS[customer_id]
    figures = totals(sum(line["line_total_cents"] for line in LINES))
    return InvoiceData(order_id=order_id,
                       created_at=datetime.datetime.fromisoformat(PLACED_AT),
                       customer_name=customer.name, customer_email=customer.email,
                       lines=tuple(PricedLine(**line) for line in LINES), totals=figures,
                       card_last4="4242")


# --- what the databases hold ---------------------------------------------------------------

def query(dsn: str, statement: str, params: tuple = ()) -> list[tuple]:
    """The rows of one statement, with bound parameters."""
    with closing(psycopg2.connect(dsn)) as conn, conn, conn.cursor() as cur:
        cur.execute(statement, params)
        return cur.fetchall()


def execute(dsn: str, statement: str, params: tuple) -> None:
    """Run one statement, with bound parameters, and commit it."""
    with closing(psycopg2.connect(dsn)) as conn, conn, conn.cursor() as cur:
        cur.execute(statement, params)


def invoice_row(dsns, order_id: int) -> dict | None:
    """The invoice's delivery columns, read straight from the database."""
    rows = query(dsns["invoices"],
                 "SELECT status, attempts, last_error, delivered_at, emailed_at,"
                 " next_attempt_at - now() FROM invoices WHERE order_id = %s", (order_id,))
    if not rows:
        return None
    names = ("status", "attempts", "last_error", "delivered_at", "emailed_at", "due_in")
    return dict(zip(names, rows[0], strict=True))


def spooled(dsns, order_id: int) -> list[str]:
    """The documents printed for the order."""
    return [r[0] for r in query(dsns["invoices"], "SELECT document FROM print_spool"
                                " WHERE order_id = %s ORDER BY id", (order_id,))]


def messages(dsns, order_id: int) -> list[dict]:
    """The e-mails notifications stored about the order."""
    rows = query(dsns["notifications"],
                 "SELECT key, kind, customer_id, recipient, subject, body FROM messages"
                 " WHERE order_id = %s ORDER BY id", (order_id,))
    names = ("key", "kind", "customer_id", "to", "subject", "body")
    return [dict(zip(names, row, strict=True)) for row in rows]


def make_due(dsns, order_id: int) -> None:
    """Bring the invoice's next attempt forward to now (instead of waiting for it)."""
    execute(dsns["invoices"], "UPDATE invoices SET next_attempt_at = now()"
            " WHERE order_id = %s", (order_id,))


@pytest.fixture
def stuck(make_app):
    """An invoices app whose printer is offline and whose notifications is down: every
    invoice it creates stays pending."""
    return make_app("offline", notifications=DOWN).test_client()


def pending_invoice(stuck, order_id: int, customer_id: int = 1) -> None:
    """Create an invoice that stays pending."""
    resp = post_event(stuck, order_id, customer_id)
    assert (resp.status_code, resp.json) == (201, {"order_id": order_id, "status": "pending"})


# --- probes and settings -------------------------------------------------------------------

def test_probes(client):
    assert call(client, "GET", "/healthz").json == {"status": "ok", "service": "invoices"}
    resp = call(client, "GET", "/readyz")
    assert (resp.status_code, resp.json) == (200, {"status": "ok", "service": "invoices"})


def test_an_invoices_app_needs_its_database_and_a_known_printer(dsns, monkeypatch):
    with pytest.raises(RuntimeError, match="DATABASE_URL"):
        create_app({"DATABASE_URL": "", "SECRET_KEY": SECRET})
    monkeypatch.setenv("INVOICE_PRINTER", "laser")
    with pytest.raises(RuntimeError, match="INVOICE_PRINTER"):
        create_app({"DATABASE_URL": dsns["invoices"], "SECRET_KEY": SECRET})


# --- the event -----------------------------------------------------------------------------

def test_an_event_creates_the_invoice_and_prints_it(client, dsns, order_id):
    resp = post_event(client, order_id)
    assert (resp.status_code, resp.json) == (201, {"order_id": order_id, "status": "printed"})

    data = expected_data(order_id)
    assert spooled(dsns, order_id) == [render_text(data)]
    row = invoice_row(dsns, order_id)
    assert (row["status"], row["attempts"], row["last_error"]) == ("printed", 1, None)
    assert row["delivered_at"] is not None and row["emailed_at"] is None
    assert messages(dsns, order_id) == []

    # The customer reads it as the monolith renders it.
    resp = call(client, "GET", INVOICE, headers=gateway(1), order_id=order_id)
    assert resp.status_code == 200
    assert resp.json == {
        "order_id": order_id, "number": invoice_number(order_id, data.created_at),
        "status": "printed", "delivered_at": row["delivered_at"].astimezone(
            datetime.UTC).isoformat(),
        "emailed_at": None, "text": render_text(data), "html": render_html(data)}
    assert resp.json["number"] == f"RS-2026-{order_id:06d}"


def test_a_redelivered_event_changes_nothing(make_app, client, dsns, order_id):
    assert post_event(client, order_id).json["status"] == "printed"
    before = invoice_row(dsns, order_id)

    # The relay did not hear the answer and sends the event again - even to a process
    # whose upstreams are down and whose printer is offline: nothing is looked up,
    # nothing printed or e-mailed, nothing written.
    down = make_app("offline", notifications=DOWN, accounts=DOWN).test_client()
    for replay in (client, down):
        resp = post_event(replay, order_id)
        assert (resp.status_code, resp.json) == (200, {"order_id": order_id,
                                                       "status": "printed"})
    changed = call(client, "POST", EVENTS, json=event(order_id, total_cents=1))
    assert (changed.status_code, changed.json["status"]) == (200, "printed")
    assert len(spooled(dsns, order_id)) == 1
    assert messages(dsns, order_id) == []
    after = invoice_row(dsns, order_id)
    assert {k: v for k, v in after.items() if k != "due_in"} == \
        {k: v for k, v in before.items() if k != "due_in"}


def test_concurrent_deliveries_of_one_event_print_once(make_app, dsns, order_id):
    app = make_app()
    barrier = threading.Barrier(4)
    answers = []

    def deliver():
        barrier.wait()
        resp = app.test_client().post(EVENTS, json=event(order_id), headers=token())
        answers.append((resp.status_code, resp.json))

    threads = [threading.Thread(target=deliver) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert sorted(status for status, _ in answers) == [200, 200, 200, 201]
    assert all(body == {"order_id": order_id, "status": "printed"} for _, body in answers
               if body["status"] != "pending")
    assert len(spooled(dsns, order_id)) == 1


def test_an_offline_printer_has_the_invoice_emailed(make_app, dsns, order_id):
    client = make_app("offline").test_client()
    resp = post_event(client, order_id, customer_id=2)
    assert (resp.status_code, resp.json) == (201, {"order_id": order_id, "status": "emailed"})

    data = expected_data(order_id, customer_id=2)
    number = invoice_number(order_id, data.created_at)
    assert messages(dsns, order_id) == [
        {"key": f"invoice-{order_id}", "kind": "invoice", "customer_id": 2,
         "to": CUSTOMERS[2].email, "subject": f"Your Rackshop invoice {number}",
         "body": render_text(data)}]
    assert spooled(dsns, order_id) == []
    row = invoice_row(dsns, order_id)
    assert (row["status"], row["attempts"]) == ("emailed", 1)
    assert row["delivered_at"] is not None and row["emailed_at"] == row["delivered_at"]

    invoice = call(client, "GET", INVOICE, headers=gateway(2), order_id=order_id).json
    assert invoice["status"] == "emailed"
    assert invoice["emailed_at"] == invoice["delivered_at"] is not None

    # Redelivered: still one e-mail.
    assert post_event(client, order_id, customer_id=2).json["status"] == "emailed"
    assert len(messages(dsns, order_id)) == 1


def test_with_notifications_down_it_stays_pending_until_a_retry_delivers_it(
        stuck, deliverers, dsns, order_id):
    pending_invoice(stuck, order_id)
    row = invoice_row(dsns, order_id)
    assert (row["status"], row["attempts"], row["delivered_at"]) == ("pending", 1, None)
    assert "notifications unavailable" in row["last_error"]
    # Retried after 2 s (the monolith's backoff), by the worker.
    assert datetime.timedelta(seconds=1) < row["due_in"] <= datetime.timedelta(seconds=2)

    # A round before it is due leaves it alone.
    worker.run_once(deliverers("offline"))
    assert invoice_row(dsns, order_id)["attempts"] == 1

    # Due, but notifications still down: a second failed attempt, retried after 4 s.
    make_due(dsns, order_id)
    worker.run_once(deliverers("offline", notifications=DOWN))
    row = invoice_row(dsns, order_id)
    assert (row["status"], row["attempts"]) == ("pending", 2)
    assert datetime.timedelta(seconds=3) < row["due_in"] <= datetime.timedelta(seconds=4)
    assert messages(dsns, order_id) == []

    # Notifications is back: the next due round e-mails it, once.
    make_due(dsns, order_id)
    outcomes = worker.run_once(deliverers("offline"))
    assert outcomes.get("emailed", 0) >= 1
    row = invoice_row(dsns, order_id)
    assert (row["status"], row["attempts"], row["last_error"]) == ("emailed", 3, None)
    assert [m["kind"] for m in messages(dsns, order_id)] == ["invoice"]
    # Delivered: no round takes it again.
    make_due(dsns, order_id)
    worker.run_once(deliverers("offline"))
    assert len(messages(dsns, order_id)) == 1
    assert invoice_row(dsns, order_id)["attempts"] == 3


def test_the_backoff_is_the_monolith_s():
    assert (delivery.RETRY_BASE_SECONDS, delivery.RETRY_MAX_SECONDS) == \
        (RETRY_BASE_SECONDS, RETRY_MAX_SECONDS)
    assert [delivery.retry_delay(n) for n in (1, 2, 3, 5, 6, 7, 20)] == \
        [2, 4, 8, 32, 60, 60, 60]


@pytest.mark.parametrize("printer", ["spool", "offline"])
def test_two_deliveries_racing_deliver_once(stuck, deliverers, dsns, printer):
    order_ids = [next(_next_order) for _ in range(5)]
    for oid in order_ids:
        pending_invoice(stuck, oid)
    first, second = deliverers(printer), deliverers(printer)
    for oid in order_ids:
        barrier = threading.Barrier(2)
        outcomes = []

        def deliver(deliverer, oid=oid, barrier=barrier, outcomes=outcomes):
            barrier.wait()
            outcomes.append(deliverer.deliver(oid))

        threads = [threading.Thread(target=deliver, args=(d,)) for d in (first, second)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(30)
        delivered = "printed" if printer == "spool" else "emailed"
        assert sorted(outcomes) == [delivered, "skipped"]
        assert len(spooled(dsns, oid)) == (1 if printer == "spool" else 0)
        assert len(messages(dsns, oid)) == (0 if printer == "spool" else 1)
        assert invoice_row(dsns, oid)["status"] == delivered


def _crash(name: str) -> None:
    raise RuntimeError(f"crashed at {name}")


def test_a_delivery_that_dies_before_its_commit_is_redone_once(stuck, deliverers, dsns,
                                                               monkeypatch):
    """The crash point sits right before the COMMIT: dying there records nothing, and the
    retry delivers once - the e-mail too, because notifications already holds its key."""
    printed, emailed = next(_next_order), next(_next_order)
    for oid in (printed, emailed):
        pending_invoice(stuck, oid)
    monkeypatch.setattr(delivery, "crash_point", _crash)
    for oid, printer in ((printed, "spool"), (emailed, "offline")):
        with pytest.raises(RuntimeError, match="invoices.after_print"):
            deliverers(printer).deliver(oid)
        assert invoice_row(dsns, oid)["status"] == "pending"
        assert spooled(dsns, printed) == []
    # Notifications accepted the e-mail before the process died.
    assert [m["kind"] for m in messages(dsns, emailed)] == ["invoice"]

    monkeypatch.setattr(delivery, "crash_point", lambda name: None)
    assert deliverers("spool").deliver(printed) == "printed"
    assert deliverers("offline").deliver(emailed) == "emailed"
    assert len(spooled(dsns, printed)) == 1
    assert len(messages(dsns, emailed)) == 1
    assert (invoice_row(dsns, printed)["status"], invoice_row(dsns, emailed)["status"]) == \
        ("printed", "emailed")


# --- e-mail on request, reading ------------------------------------------------------------

def test_a_copy_on_request_sets_emailed_at_and_not_the_status(make_app, client, dsns,
                                                              order_id):
    assert post_event(client, order_id, customer_id=3).json["status"] == "printed"
    before = invoice_row(dsns, order_id)

    resp = call(client, "POST", EMAIL, headers=gateway(3), order_id=order_id, json={})
    assert (resp.status_code, resp.json) == \
        (202, {"order_id": order_id, "to": CUSTOMERS[3].email, "status": "accepted"})
    # No body at all is the same.
    assert call(client, "POST", EMAIL, headers=gateway(3), order_id=order_id).status_code == 202

    sent = messages(dsns, order_id)
    assert [m["kind"] for m in sent] == ["invoice_copy", "invoice_copy"]
    assert len({m["key"] for m in sent}) == 2
    assert all(m["key"].startswith(f"invoice-copy-{order_id}-") for m in sent)
    assert sent[0]["body"] == render_text(expected_data(order_id, customer_id=3))
    after = invoice_row(dsns, order_id)
    assert (after["status"], after["delivered_at"], after["attempts"]) == \
        ("printed", before["delivered_at"], 1)
    assert after["emailed_at"] is not None
    invoice = call(client, "GET", INVOICE, headers=gateway(3), order_id=order_id).json
    assert (invoice["status"], invoice["emailed_at"]) == \
        ("printed", after["emailed_at"].astimezone(datetime.UTC).isoformat())
    assert len(spooled(dsns, order_id)) == 1

    # Notifications down: 503, nothing recorded.
    down = make_app(notifications=DOWN).test_client()
    resp = call(down, "POST", EMAIL, headers=gateway(3), order_id=order_id)
    assert (resp.status_code, resp.json["error"]) == (503, "service_unavailable")
    assert invoice_row(dsns, order_id)["emailed_at"] == after["emailed_at"]
    assert len(messages(dsns, order_id)) == 2

    resp = call(client, "POST", EMAIL, headers=gateway(3), order_id=order_id,
                json={"to": "someone@else.test"})
    assert (resp.status_code, resp.json["details"]) == (422, {"field": "body"})


def test_another_customers_invoice_is_not_found(client, dsns, order_id):
    assert post_event(client, order_id, customer_id=1).status_code == 201
    for template in (INVOICE, EMAIL):
        method = "GET" if template == INVOICE else "POST"
        resp = call(client, method, template, headers=gateway(2), order_id=order_id)
        assert (resp.status_code, resp.json["error"]) == (404, "not_found")
        # An order without an invoice is the same.
        resp = call(client, method, template, headers=gateway(1), order_id=order_id + 500_000)
        assert resp.status_code == 404
        # A call made for no customer is refused.
        resp = call(client, method, template, headers=token("gateway"), order_id=order_id)
        assert (resp.status_code, resp.json["error"]) == (401, "unauthorized")
    assert messages(dsns, order_id) == []
    assert invoice_row(dsns, order_id)["emailed_at"] is None


# --- the audit ------------------------------------------------------------------------------

def test_the_audit(make_app, client, stuck, dsns):
    reseed_invoices(dsns["invoices"])
    empty = call(client, "GET", AUDIT, headers=token("gateway"))
    assert (empty.status_code, empty.json) == \
        (200, {"invoices": {"pending": 0, "printed": 0, "emailed": 0}, "order_ids": [],
               "spooled": []})

    printed, emailed, pending = (next(_next_order) for _ in range(3))
    assert post_event(client, printed).json["status"] == "printed"
    offline = make_app("offline").test_client()
    assert post_event(offline, emailed).json["status"] == "emailed"
    pending_invoice(stuck, pending)

    resp = call(client, "GET", AUDIT, headers=token("gateway"))
    assert resp.json == {"invoices": {"pending": 1, "printed": 1, "emailed": 1},
                         "order_ids": [printed, emailed, pending],
                         "spooled": [{"order_id": printed, "count": 1}]}


def test_the_broken_variant_prints_a_redelivered_event_again(client, dsns, order_id,
                                                             tmp_path, monkeypatch):
    hooks = tmp_path / "hooks.json"
    monkeypatch.setenv(testhooks.HOOKS_VAR, str(hooks))
    assert post_event(client, order_id).json["status"] == "printed"
    testhooks.arm(hooks, broken=["invoices.event_not_idempotent"])

    resp = post_event(client, order_id)
    assert (resp.status_code, resp.json) == (200, {"order_id": order_id, "status": "printed"})
    assert len(spooled(dsns, order_id)) == 2
    figures = call(client, "GET", AUDIT, headers=token("gateway")).json
    assert {"order_id": order_id, "count": 2} in figures["spooled"]

    testhooks.clear(hooks)
    post_event(client, order_id)
    assert len(spooled(dsns, order_id)) == 2


# --- requests the service refuses ------------------------------------------------------------

def _without(name: str) -> dict:
    order = paid_order(7)
    del order[name]
    return order


@pytest.mark.parametrize(("body", "field"), [
    ({"customer_id": 1}, "order"),
    ({"order": paid_order(7)}, "customer_id"),
    ({"customer_id": 0, "order": paid_order(7)}, "customer_id"),
    ({"customer_id": True, "order": paid_order(7)}, "customer_id"),
    ({"customer_id": "1", "order": paid_order(7)}, "customer_id"),
    ({"customer_id": 1, "order": paid_order(7), "extra": 1}, "extra"),
    ({"customer_id": 1, "order": paid_order(7, status="PENDING")}, "order.status"),
    ({"customer_id": 1, "order": paid_order(7, status="FAILED")}, "order.status"),
    ({"customer_id": 1, "order": _without("created_at")}, "order.created_at"),
    ({"customer_id": 1, "order": paid_order(7, created_at="2026-03-14T09:26:53")},
     "order.created_at"),
    ({"customer_id": 1, "order": paid_order(7, created_at="yesterday")}, "order.created_at"),
    ({"customer_id": 1, "order": paid_order(7, items=[])}, "order.items"),
    ({"customer_id": 1, "order": paid_order(7, items=[LINES[0] | {"quantity": 0}])},
     "order.items[0].quantity"),
    ({"customer_id": 1, "order": paid_order(7, items=[LINES[0] | {"name": "a\x00b"}])},
     "order.items[0].name"),
    ({"customer_id": 1, "order": paid_order(7, id=0)}, "order.id"),
    ({"customer_id": 1, "order": paid_order(7, total_cents=-1)}, "order.total_cents"),
    ({"customer_id": 1, "order": paid_order(7, card_last4="42")}, "order.card_last4"),
    ({"customer_id": 1, "order": paid_order(7, currency="USD")}, "order.currency"),
    ({"customer_id": 1, "order": paid_order(7) | {"note": "x"}}, "order.note"),
    ({"customer_id": 1, "order": "7"}, "order"),
    ([1, 2], "body"),
])
def test_a_malformed_event_is_422(client, dsns, body, field):
    resp = call(client, "POST", EVENTS, json=body)
    assert (resp.status_code, resp.json["error"]) == (422, "validation_error")
    assert resp.json["details"] == {"field": field}


def test_an_unknown_customer_is_422_and_accounts_out_of_reach_503(make_app, client, dsns,
                                                                  order_id):
    resp = post_event(client, order_id, customer_id=999_999)
    assert (resp.status_code, resp.json["details"]) == (422, {"field": "customer_id"})
    assert invoice_row(dsns, order_id) is None

    down = make_app(accounts=DOWN).test_client()
    resp = post_event(down, order_id)
    assert (resp.status_code, resp.json["error"]) == (503, "service_unavailable")
    assert invoice_row(dsns, order_id) is None
    # The relay's retry, once accounts answers again.
    assert post_event(client, order_id).status_code == 201


JSON = "application/json"


def test_bodies_that_are_not_json(client, order_id):
    resp = call(client, "POST", EVENTS, data="{", content_type=JSON)
    assert (resp.status_code, resp.json["error"]) == (400, "invalid_json")
    resp = call(client, "POST", EVENTS, data="x", content_type="text/plain")
    assert (resp.status_code, resp.json["error"]) == (415, "unsupported_media_type")
    resp = call(client, "POST", EVENTS, data="x" * (1024 * 1024 + 1), content_type=JSON)
    assert (resp.status_code, resp.json["error"]) == (413, "payload_too_large")
    resp = call(client, "POST", EMAIL, headers=gateway(1), order_id=order_id, data="{",
                content_type=JSON)
    assert resp.status_code == 400


def test_order_ids_and_methods(client):
    for bad in (0, 2**63):
        assert call(client, "GET", INVOICE, headers=gateway(1), order_id=bad).status_code == 404
        assert call(client, "POST", EMAIL, headers=gateway(1), order_id=bad).status_code == 404
    assert call(client, "GET", EVENTS).status_code == 405
    assert call(client, "PUT", INVOICE, headers=gateway(1), order_id=1, json={}).status_code \
        == 405
    assert call(client, "GET", EMAIL, headers=gateway(1), order_id=1).status_code == 405
    assert call(client, "POST", AUDIT, json={}).status_code == 405


OPERATIONS = [("POST", EVENTS), ("GET", INVOICE), ("POST", EMAIL), ("GET", AUDIT)]


@pytest.mark.parametrize(("method", "template"), OPERATIONS,
                         ids=[f"{m} {t}" for m, t in OPERATIONS])
def test_only_orders_and_the_gateway_may_call(client, method, template):
    params = {} if template in (EVENTS, AUDIT) else {"order_id": 7}
    body = event(7) if template == EVENTS else None
    for refused in ({}, token("inventory"), token("payments"), token("accounts"),
                    token("notifications"), token("invoices"),
                    token("orders", audience="payments"),
                    token("orders", key=service_token_key("forged")),
                    token("orders", ttl=-1)):
        resp = call(client, method, template, headers=refused, json=body, **params)
        assert (resp.status_code, resp.json["error"]) == (401, "unauthorized")
    for caller in ("orders", "gateway"):
        resp = call(client, method, template, headers=token(caller, 1), json=body, **params)
        assert resp.status_code != 401
