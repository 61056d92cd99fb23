"""The notifications service on real PostgreSQL, through its Flask test client: messages
stored once per key, a customer's mailbox, the audit's invoice deliveries, and the
deliberately broken variant that shows the audit can fail. Every answer is checked
against contract/internal.yaml.

Tests share one database; each uses customers, orders and keys of its own, and the
audit tests start from an empty mailbox.
"""

import itertools
from contextlib import closing

import psycopg2
import pytest

from archlab.config import project_root
from archlab.db import apply_sql
from microservices.common.security import service_token_key
from microservices.notifications.app import create_app
from microservices.notifications.seed import reseed
from plumbing import testhooks
from tests import ports
from tests.integration.servicekit import call as contract_call
from tests.integration.servicekit import service_headers as service_token_header
from tests.integration.servicekit import throwaway_cluster

pytestmark = pytest.mark.timeout(120)

ROOT = project_root()
SECRET = "notifications-test-secret"
KEY = service_token_key(SECRET)

MESSAGES = "/internal/messages"
AUDIT = "/internal/audit"
BROKEN = "notifications.messages_not_idempotent"


# --- the database and the app --------------------------------------------------------------

@pytest.fixture(scope="module")
def cluster():
    yield from throwaway_cluster(ports.CLUSTERS["notifications"], "archlab_test_notif")


@pytest.fixture(scope="module")
def dsn(cluster) -> str:
    """The notifications service's database, migrated and seeded."""
    found = cluster.create_database("notif_notifications", "notif_notifications",
                                    "pw-notifications")
    apply_sql(found, ROOT / "microservices" / "notifications" / "schema.sql")
    reseed(found)
    return found


@pytest.fixture(scope="module")
def app(dsn):
    return create_app({"DATABASE_URL": dsn, "SECRET_KEY": SECRET, "POOL_SIZE": 2})


@pytest.fixture
def client(app):
    return app.test_client()


_ids = itertools.count(1000)


@pytest.fixture
def fresh():
    """A fresh number for a customer, an order or a key: tests share the database."""
    return lambda: next(_ids)


def rows(dsn: str, statement: str, params: tuple = ()) -> list[tuple]:
    """The rows of one query, straight from the database."""
    with closing(psycopg2.connect(dsn)) as conn, conn, conn.cursor() as cur:
        cur.execute(statement, params)
        return cur.fetchall()


def stored_under(dsn: str, key: str) -> int:
    """How many messages are stored under `key` (duplicates' keys included)."""
    return rows(dsn, "SELECT count(*) FROM messages WHERE key = %s"
                " OR starts_with(key, %s)", (key, key + ":dup:"))[0][0]


# --- calling, and the contract -------------------------------------------------------------

def service_headers(caller: str = "invoices", customer_id: int | None = None,
                    audience: str = "notifications", key=KEY, ttl: int = 60) -> dict:
    """A service token header, from invoices to notifications unless told otherwise."""
    return service_token_header(key, caller, audience, customer_id, ttl)


def call(client, method: str, template: str, *, headers=None, **kw):
    """Call an operation of internal.yaml by its template (as invoices does unless told
    otherwise) and check the answer, the operation tagged notifications."""
    return contract_call(client, method, template, tag="notifications",
                         headers=service_headers() if headers is None else headers, **kw)


def message(key: str, customer_id: int, order_id: int | None = 7, kind: str = "invoice",
            **changes) -> dict:
    """A MessageRequest body."""
    body = {"key": key, "customer_id": customer_id, "order_id": order_id, "kind": kind,
            "to": f"customer{customer_id}@rackshop.test",
            "subject": f"Your Rackshop invoice for order {order_id}",
            "body": f"Invoice for order {order_id}\nTotal: EUR 12.50\n"}
    return body | changes


def send(client, body, **kw):
    """POST a message as invoices does."""
    return call(client, "POST", MESSAGES, json=body, **kw)


def mailbox(client, customer_id: int | None, **query):
    """GET a page of a customer's e-mails as the gateway does."""
    return call(client, "GET", MESSAGES, query=query or None,
                headers=service_headers("gateway", customer_id))


def audit(client):
    """GET the audit figures as the gateway does."""
    resp = call(client, "GET", AUDIT, headers=service_headers("gateway"))
    assert resp.status_code == 200
    return resp.json


def email(sent: dict, answer: dict) -> dict:
    """The Email expected for a request `sent`, with the answer's id and time."""
    return {"id": answer["id"], "to": sent["to"], "subject": sent["subject"],
            "body": sent["body"], "sent_at": answer["sent_at"], "order_id": sent["order_id"],
            "kind": sent["kind"]}


# --- probes and routes ---------------------------------------------------------------------

def test_probes(client):
    healthy = {"status": "ok", "service": "notifications"}
    assert call(client, "GET", "/healthz").json == healthy
    resp = call(client, "GET", "/readyz")
    assert (resp.status_code, resp.json) == (200, healthy)


def test_a_notifications_app_needs_its_database_url():
    with pytest.raises(RuntimeError, match="DATABASE_URL"):
        create_app({"DATABASE_URL": "", "SECRET_KEY": SECRET})


# --- sending -------------------------------------------------------------------------------

def test_a_message_is_stored_and_answered_201(client, dsn, fresh):
    customer, order = fresh(), fresh()
    body = message(f"invoice-{order}", customer, order)
    resp = send(client, body)
    assert resp.status_code == 201
    assert resp.json == email(body, resp.json)
    assert resp.json["sent_at"].endswith("+00:00")
    assert rows(dsn, "SELECT key, customer_id, order_id, kind, recipient, subject, body"
                " FROM messages WHERE id = %s", (resp.json["id"],)) == \
        [(body["key"], customer, order, "invoice", body["to"], body["subject"], body["body"])]


def test_the_same_key_again_answers_the_first_message_and_stores_nothing(client, dsn, fresh):
    customer, order = fresh(), fresh()
    first = send(client, message(f"invoice-{order}", customer, order))
    assert first.status_code == 201
    # The replay's fields are not compared: a redelivery changes nothing.
    for replay in (message(f"invoice-{order}", customer, order),
                   message(f"invoice-{order}", customer + 1, None, "invoice_copy",
                           subject="something else", body="another body")):
        again = send(client, replay)
        assert (again.status_code, again.json) == (200, first.json)
    assert stored_under(dsn, f"invoice-{order}") == 1
    assert mailbox(client, customer).json["total"] == 1
    assert mailbox(client, customer + 1).json["total"] == 0


def test_a_copy_may_name_no_order(client, fresh):
    customer = fresh()
    body = message(f"copy-{customer}", customer, None, "invoice_copy")
    resp = send(client, body)
    assert (resp.status_code, resp.json) == (201, email(body, resp.json))
    assert resp.json["order_id"] is None


# --- the mailbox ---------------------------------------------------------------------------

def test_the_mailbox_lists_the_customers_messages_newest_first(client, fresh):
    customer, other = fresh(), fresh()
    sent = []
    for i in range(5):
        order = fresh()
        kind = "invoice" if i % 2 == 0 else "invoice_copy"
        resp = send(client, message(f"m-{order}", customer, order, kind))
        assert resp.status_code == 201
        sent.append(resp.json)
    assert send(client, message(f"other-{fresh()}", other, fresh())).status_code == 201

    newest_first = sent[::-1]
    everything = mailbox(client, customer)
    assert (everything.status_code, everything.json) == \
        (200, {"items": newest_first, "page": 1, "per_page": 20, "total": 5})
    for page, expected in ((1, newest_first[:2]), (2, newest_first[2:4]),
                           (3, newest_first[4:]), (4, [])):
        resp = mailbox(client, customer, page=page, per_page=2)
        assert resp.json == {"items": expected, "page": page, "per_page": 2, "total": 5}
    theirs = mailbox(client, other).json
    assert (theirs["total"], [m["to"] for m in theirs["items"]]) == \
        (1, [f"customer{other}@rackshop.test"])
    assert mailbox(client, fresh()).json == {"items": [], "page": 1, "per_page": 20,
                                             "total": 0}


def test_the_mailbox_needs_a_customer_in_the_token(client):
    for caller in ("gateway", "invoices"):
        resp = call(client, "GET", MESSAGES, headers=service_headers(caller, None))
        assert (resp.status_code, resp.json["error"]) == (401, "unauthorized")


@pytest.mark.parametrize(("query", "field"), [
    ({"page": 0}, "page"), ({"page": 10_001}, "page"), ({"page": "x"}, "page"),
    ({"per_page": 0}, "per_page"), ({"per_page": 101}, "per_page"),
    ({"per_page": "1.5"}, "per_page"),
])
def test_bad_paging_is_422(client, query, field):
    resp = mailbox(client, 5, **query)
    assert (resp.status_code, resp.json["error"]) == (422, "validation_error")
    assert resp.json["details"] == {"field": field}


# --- requests the service refuses ----------------------------------------------------------

GOOD = message("k-1", 1, 7)


@pytest.mark.parametrize(("body", "field"), [
    ([GOOD], "body"),
    ("a string", "body"),
    (GOOD | {"cc": "x@y.z"}, "cc"),
    ({k: v for k, v in GOOD.items() if k != "subject"}, "subject"),
    ({k: v for k, v in GOOD.items() if k != "order_id"}, "order_id"),
    (GOOD | {"key": ""}, "key"),
    (GOOD | {"key": "k" * 201}, "key"),
    (GOOD | {"key": "has space"}, "key"),
    (GOOD | {"key": "caf\u00e9"}, "key"),
    (GOOD | {"key": 5}, "key"),
    (GOOD | {"customer_id": 0}, "customer_id"),
    (GOOD | {"customer_id": "1"}, "customer_id"),
    (GOOD | {"customer_id": True}, "customer_id"),
    (GOOD | {"customer_id": 2**31}, "customer_id"),
    (GOOD | {"customer_id": None}, "customer_id"),
    (GOOD | {"order_id": 0}, "order_id"),
    (GOOD | {"order_id": "7"}, "order_id"),
    (GOOD | {"order_id": 2**63}, "order_id"),
    (GOOD | {"order_id": None}, "order_id"),  # an invoice names its order
    (GOOD | {"kind": "newsletter"}, "kind"),
    (GOOD | {"kind": ["invoice"]}, "kind"),
    (GOOD | {"to": "nobody"}, "to"),
    (GOOD | {"to": "a@"}, "to"),
    (GOOD | {"to": "a@" + "b" * 253}, "to"),
    (GOOD | {"to": "a@b.c\r\nBcc: x@y.z"}, "to"),
    (GOOD | {"to": ["a@b.c"]}, "to"),
    (GOOD | {"subject": ""}, "subject"),
    (GOOD | {"subject": "s" * 201}, "subject"),
    (GOOD | {"subject": "line\nbreak"}, "subject"),
    (GOOD | {"body": ""}, "body"),
    (GOOD | {"body": "b" * 100_001}, "body"),
    (GOOD | {"body": "nul\x00"}, "body"),
    (GOOD | {"body": "\ud800"}, "body"),
    (GOOD | {"body": {"text": "x"}}, "body"),
])
def test_a_malformed_message_is_422(client, dsn, body, field):
    resp = send(client, body)
    assert (resp.status_code, resp.json["error"]) == (422, "validation_error")
    assert resp.json["details"] == {"field": field}
    assert stored_under(dsn, "k-1") == 0


def test_the_longest_fields_are_stored(client, fresh):
    customer = fresh()
    body = message("k" * 200, customer, 2**63 - 1, to="a@" + "b" * 252, subject="s" * 200,
                   body="\u00e9" * 100_000)
    resp = send(client, body)
    assert (resp.status_code, resp.json) == (201, email(body, resp.json))


JSON = "application/json"


def test_bodies_that_are_not_json(client, dsn):
    resp = call(client, "POST", MESSAGES, data="{", content_type=JSON)
    assert (resp.status_code, resp.json["error"]) == (400, "invalid_json")
    resp = call(client, "POST", MESSAGES, data="x", content_type="text/plain")
    assert (resp.status_code, resp.json["error"]) == (415, "unsupported_media_type")
    resp = call(client, "POST", MESSAGES, data="x" * (1024 * 1024 + 1), content_type=JSON)
    assert (resp.status_code, resp.json["error"]) == (413, "payload_too_large")


def test_methods(client):
    assert call(client, "PUT", MESSAGES, json=GOOD).status_code == 405
    assert call(client, "DELETE", MESSAGES).status_code == 405
    assert call(client, "POST", AUDIT, json={}).status_code == 405


OPERATIONS = [("POST", MESSAGES), ("GET", MESSAGES), ("GET", AUDIT)]


@pytest.mark.parametrize(("method", "template"), OPERATIONS,
                         ids=[f"{m} {t}" for m, t in OPERATIONS])
def test_only_invoices_and_the_gateway_may_call(client, method, template, fresh):
    body = message(f"callers-{fresh()}", 3, 9) if method == "POST" else None
    for headers in ({}, service_headers("orders", 3), service_headers("payments", 3),
                    service_headers("accounts", 3), service_headers("catalog", 3),
                    service_headers("inventory", 3), service_headers("notifications", 3),
                    service_headers("invoices", 3, audience="payments"),
                    service_headers("invoices", 3, key=service_token_key("forged")),
                    service_headers("invoices", 3, ttl=-1)):
        resp = call(client, method, template, headers=headers, json=body)
        assert (resp.status_code, resp.json["error"]) == (401, "unauthorized")
    for caller in ("invoices", "gateway"):
        resp = call(client, method, template, headers=service_headers(caller, 3), json=body)
        assert resp.status_code in (200, 201)


# --- the audit -----------------------------------------------------------------------------

def test_the_audit_counts_invoice_deliveries_per_order(client, dsn):
    reseed(dsn)
    assert audit(client) == {"invoice_deliveries": [], "messages": 0}
    for body in (message("invoice-12", 1, 12), message("invoice-12", 1, 12),  # a replay
                 message("invoice-3", 2, 3),
                 message("copy-12-a", 1, 12, "invoice_copy"),
                 message("copy-3-a", 2, 3, "invoice_copy"),
                 message("copy-40-a", 2, 40, "invoice_copy"),
                 message("copy-none", 2, None, "invoice_copy")):
        assert send(client, body).status_code in (200, 201)
    assert audit(client) == {
        "invoice_deliveries": [{"order_id": 3, "count": 1}, {"order_id": 12, "count": 1}],
        "messages": 6}


def test_a_reseed_empties_the_mailbox_without_reusing_ids(client, dsn, fresh):
    customer = fresh()
    before = send(client, message(f"before-{customer}", customer, fresh())).json["id"]
    reseed(dsn)
    assert rows(dsn, "SELECT count(*) FROM messages") == [(0,)]
    assert mailbox(client, customer).json["total"] == 0
    after = send(client, message(f"before-{customer}", customer, fresh()))
    assert after.status_code == 201
    assert after.json["id"] > before


# --- the deliberately broken variant -------------------------------------------------------

def test_the_broken_variant_stores_a_redelivery_again(client, dsn, fresh, monkeypatch,
                                                      tmp_path):
    hooks = tmp_path / "hooks.json"
    monkeypatch.setenv(testhooks.HOOKS_VAR, str(hooks))
    customer, order = fresh(), fresh()
    key = f"invoice-{order}"
    # Hooks on but the variant off: still idempotent.
    assert send(client, message(key, customer, order)).status_code == 201
    assert send(client, message(key, customer, order)).status_code == 200
    assert stored_under(dsn, key) == 1

    testhooks.arm(hooks, broken=[BROKEN])
    again = send(client, message(key, customer, order))
    assert again.status_code == 201
    assert stored_under(dsn, key) == 2
    assert {"order_id": order, "count": 2} in audit(client)["invoice_deliveries"]
    assert mailbox(client, customer).json["total"] == 2

    testhooks.clear(hooks)
    assert send(client, message(key, customer, order)).status_code == 200
    assert stored_under(dsn, key) == 2
