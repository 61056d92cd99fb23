"""The card processor simulator on real PostgreSQL: its HTTP API through the Flask test
client, and the client library against the app served over real HTTP in a thread."""

import socket
import threading
import time
import uuid
from contextlib import closing

import psycopg2
import pytest

from archlab.config import project_root
from archlab.db import apply_sql
from cardprocessor import api
from cardprocessor.app import create_app
from cardprocessor.client import CardProcessor, Charge, ChargeFailed, OutcomeUnknown
from cardprocessor.seed import reseed
from shop.cards import LATE_ANSWER_CARD, Card
from tests import ports
from tests.integration.servicekit import serve, throwaway_cluster

pytestmark = pytest.mark.timeout(120)

SCHEMA = project_root() / "cardprocessor" / "schema.sql"
LATE_SECONDS = 1.5
APPROVED = {"number": "4242424242424242", "exp_month": 12, "exp_year": 2035, "cvc": "123",
            "holder": "Ada Lovelace"}
DECLINED = APPROVED | {"number": "4000000000000002"}
PROCESSOR_ERROR = APPROVED | {"number": "4000000000000119"}
LATE = APPROVED | {"number": LATE_ANSWER_CARD}


@pytest.fixture(scope="module")
def cluster():
    yield from throwaway_cluster(ports.CLUSTERS["cardprocessor"], "archlab_test_cardproc")


@pytest.fixture(scope="module")
def dsn(cluster) -> str:
    found = cluster.create_database("cardproc", "cardproc", "pw-cardproc")
    apply_sql(found, SCHEMA)
    return found


def config(dsn: str) -> dict:
    return {"DATABASE_URL": dsn, "POOL_SIZE": 8, "LATENCY_MS": 0, "LATE_SECONDS": LATE_SECONDS}


@pytest.fixture(scope="module")
def app(dsn):
    return create_app(config(dsn))


@pytest.fixture
def http(app, dsn):
    """The Flask test client, on an empty charges table."""
    reseed(dsn)
    return app.test_client()


@pytest.fixture(scope="module")
def served(dsn):
    """Base URL of the app (a second instance, its own pool) on a real HTTP server."""
    # Its request threads are joined when it stops, so a late answer still being held
    # back finishes (and logs) inside the test session, not after it. Every client here
    # is closed by then, so no keep-alive connection keeps a thread waiting.
    url, stop = serve(create_app(config(dsn)))
    try:
        yield url
    finally:
        stop()


@pytest.fixture
def processor(served, dsn):
    """A client of the served app, on an empty charges table."""
    reseed(dsn)
    client = CardProcessor(served)
    yield client
    client.close()


def ref() -> str:
    return f"order-{uuid.uuid4().hex[:12]}"


def charge(http, reference: str, amount_cents: int = 1250, card=APPROVED):
    return http.post("/v1/charges", json={"reference": reference,
                                          "amount_cents": amount_cents, "card": card})


def rows(dsn: str) -> list[tuple]:
    with closing(psycopg2.connect(dsn)) as conn, conn.cursor() as cur:
        cur.execute("SELECT reference, status, amount_cents, card_last4 FROM charges"
                    " ORDER BY created_at, reference")
        return cur.fetchall()


def as_card(raw: dict) -> Card:
    return Card(**raw)


# --- the API through the Flask test client -------------------------------------------------

def test_probes(http):
    assert http.get("/healthz").get_json() == {"status": "ok", "service": "card-processor"}
    resp = http.get("/readyz")
    assert resp.status_code == 200
    assert resp.get_json() == {"status": "ok", "service": "card-processor"}


def test_readyz_without_its_database_is_503():
    down = create_app({"DATABASE_URL": "postgresql://nobody:x@127.0.0.1:1/none",
                       "POOL_SIZE": 1})
    resp = down.test_client().get("/readyz")
    assert resp.status_code == 503
    assert resp.get_json()["status"] == "unavailable"
    assert resp.headers["Retry-After"] == "1"


def test_an_approved_card_is_captured(http, dsn):
    reference = ref()
    resp = charge(http, reference, 1250)
    assert resp.status_code == 200, resp.text
    body = resp.get_json()
    assert {k: body[k] for k in ("reference", "status", "amount_cents", "card_last4")} == {
        "reference": reference, "status": "captured", "amount_cents": 1250,
        "card_last4": "4242"}
    assert set(body) == {"reference", "status", "amount_cents", "card_last4", "created_at"}
    assert "T" in body["created_at"]
    assert rows(dsn) == [(reference, "captured", 1250, "4242")]


def test_a_declined_card_is_recorded_declined(http, dsn):
    reference = ref()
    resp = charge(http, reference, 990, DECLINED)
    assert resp.status_code == 200
    assert resp.get_json()["status"] == "declined"
    assert rows(dsn) == [(reference, "declined", 990, "0002")]


def test_a_processor_error_records_nothing(http, dsn):
    reference = ref()
    resp = charge(http, reference, 1250, PROCESSOR_ERROR)
    assert resp.status_code == 503
    assert resp.get_json()["error"] == "processor_error"
    assert "nothing was charged" in resp.get_json()["message"]
    assert rows(dsn) == []
    assert http.get(f"/v1/charges/{reference}").status_code == 404


def test_a_replay_charges_once(http, dsn):
    reference = ref()
    first = charge(http, reference, 1250).get_json()
    again = charge(http, reference, 1250)
    assert again.status_code == 200
    assert again.get_json() == first
    # A replay answers the record, whatever the card says now.
    assert charge(http, reference, 1250, DECLINED).get_json() == first
    assert rows(dsn) == [(reference, "captured", 1250, "4242")]


def test_a_reference_reused_with_another_amount_is_422(http, dsn):
    reference = ref()
    charge(http, reference, 1250)
    resp = charge(http, reference, 1251)
    assert resp.status_code == 422
    assert resp.get_json()["error"] == "reference_reused"
    assert rows(dsn) == [(reference, "captured", 1250, "4242")]


def test_refund_of_a_captured_charge(http, dsn):
    reference = ref()
    charge(http, reference, 1250)
    resp = http.post(f"/v1/charges/{reference}/refund")
    assert resp.status_code == 200
    assert resp.get_json()["status"] == "refunded"
    # Refunding again changes nothing; a replayed charge answers the refunded record.
    assert http.post(f"/v1/charges/{reference}/refund").get_json()["status"] == "refunded"
    assert charge(http, reference, 1250).get_json()["status"] == "refunded"
    assert rows(dsn) == [(reference, "refunded", 1250, "4242")]


def test_refund_of_a_declined_charge_leaves_it_declined(http):
    reference = ref()
    charge(http, reference, 1250, DECLINED)
    assert http.post(f"/v1/charges/{reference}/refund").get_json()["status"] == "declined"


def test_refund_of_an_unknown_reference_voids_it(http, dsn):
    reference = ref()
    resp = http.post(f"/v1/charges/{reference}/refund")
    assert resp.status_code == 200
    tombstone = resp.get_json()
    assert (tombstone["status"], tombstone["amount_cents"], tombstone["card_last4"]) == (
        "voided", 0, "")
    # The charge arriving after its cancellation captures nothing, whatever its amount.
    late = charge(http, reference, 1250)
    assert late.status_code == 200
    assert late.get_json() == tombstone
    assert rows(dsn) == [(reference, "voided", 0, "")]


def test_lookup(http):
    reference = ref()
    assert http.get(f"/v1/charges/{reference}").status_code == 404
    assert http.get(f"/v1/charges/{reference}").get_json()["error"] == "not_found"
    created = charge(http, reference, 1250).get_json()
    assert http.get(f"/v1/charges/{reference}").get_json() == created
    # No charge can have a reference over 100 characters.
    assert http.get("/v1/charges/" + "x" * 101).status_code == 404


def test_list_holds_every_record_oldest_first(http):
    references = [ref() for _ in range(3)]
    for reference in references:
        charge(http, reference, 100)
    http.post("/v1/charges/never-charged/refund")
    resp = http.get("/v1/charges")
    assert resp.status_code == 200
    items = resp.get_json()["items"]
    assert [i["reference"] for i in items] == [*references, "never-charged"]
    assert [i["status"] for i in items] == ["captured"] * 3 + ["voided"]


def test_references_with_slashes_and_dots(http):
    for reference in ("a/b", "a//b", "/lead", "..", "x/refund", "with space", "%2F?#"):
        assert charge(http, reference, 7).status_code == 200, reference
    assert http.get("/v1/charges/a%2F%2Fb").get_json()["reference"] == "a//b"
    assert http.get("/v1/charges/%2Flead").get_json()["reference"] == "/lead"
    assert http.post("/v1/charges/x%2Frefund/refund").get_json() == {
        **http.get("/v1/charges/x%2Frefund").get_json(), "status": "refunded"}
    assert http.get("/v1/charges/%252F%3F%23").get_json()["reference"] == "%2F?#"


@pytest.mark.parametrize("body", [
    [],
    "charge",
    {"amount_cents": 100, "card": APPROVED},
    {"reference": "", "amount_cents": 100, "card": APPROVED},
    {"reference": "x" * 101, "amount_cents": 100, "card": APPROVED},
    {"reference": "caf\u00e9", "amount_cents": 100, "card": APPROVED},
    {"reference": "tab\there", "amount_cents": 100, "card": APPROVED},
    {"reference": 5, "amount_cents": 100, "card": APPROVED},
    {"reference": "r", "card": APPROVED},
    {"reference": "r", "amount_cents": 0, "card": APPROVED},
    {"reference": "r", "amount_cents": -5, "card": APPROVED},
    {"reference": "r", "amount_cents": 1.5, "card": APPROVED},
    {"reference": "r", "amount_cents": "100", "card": APPROVED},
    {"reference": "r", "amount_cents": True, "card": APPROVED},
    {"reference": "r", "amount_cents": 10**30, "card": APPROVED},
    {"reference": "r", "amount_cents": 100},
    {"reference": "r", "amount_cents": 100, "card": "4242424242424242"},
    {"reference": "r", "amount_cents": 100, "card": APPROVED | {"number": "4242424242424241"}},
    {"reference": "r", "amount_cents": 100, "card": APPROVED | {"exp_year": 2001}},
    {"reference": "r", "amount_cents": 100, "card": {"number": "4242424242424242"}},
    {"reference": "r", "amount_cents": 100, "card": APPROVED, "currency": "EUR"},
])
def test_a_malformed_charge_is_422_and_records_nothing(http, dsn, body):
    resp = http.post("/v1/charges", json=body)
    assert resp.status_code == 422, resp.text
    assert resp.get_json()["error"] == "validation_error"
    assert rows(dsn) == []


def test_a_body_that_is_not_json(http):
    resp = http.post("/v1/charges", data="{not json", content_type="application/json")
    assert resp.status_code == 422
    assert resp.get_json()["error"] == "validation_error"
    resp = http.post("/v1/charges", data="reference=r", content_type="text/plain")
    assert resp.status_code == 415
    assert resp.get_json()["error"] == "unsupported_media_type"


def test_refund_of_an_invalid_reference_is_422(http, dsn):
    resp = http.post("/v1/charges/" + "x" * 101 + "/refund")
    assert resp.status_code == 422
    assert rows(dsn) == []


def test_parallel_identical_charges_make_one_record(app, dsn):
    reseed(dsn)
    reference = ref()
    barrier = threading.Barrier(8)
    answers = [None] * 8

    def run(i: int) -> None:
        client = app.test_client()
        barrier.wait()
        resp = charge(client, reference, 1250)
        answers[i] = (resp.status_code, resp.get_json())

    threads = [threading.Thread(target=run, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert all(status == 200 for status, _ in answers), answers
    assert len({tuple(sorted(body.items())) for _, body in answers}) == 1
    assert rows(dsn) == [(reference, "captured", 1250, "4242")]


def test_parallel_refunds_of_an_unknown_reference_make_one_tombstone(app, dsn):
    reseed(dsn)
    reference = ref()
    barrier = threading.Barrier(6)
    statuses = []

    def run() -> None:
        client = app.test_client()
        barrier.wait()
        statuses.append(client.post(f"/v1/charges/{reference}/refund").status_code)

    threads = [threading.Thread(target=run) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert statuses == [200] * 6
    assert rows(dsn) == [(reference, "voided", 0, "")]


def test_latency_and_the_late_answer(http, monkeypatch):
    """Which delay each answer waits for (recorded, not slept: no timing in tests)."""
    delays = []
    monkeypatch.setattr(api, "sleep", delays.append)
    reference = ref()
    assert charge(http, reference, 1250, LATE).get_json()["status"] == "captured"
    assert delays == [LATE_SECONDS]
    # The replay is answered with no late delay (LATENCY_MS is 0 here: no sleep at all).
    assert charge(http, reference, 1250, LATE).get_json()["status"] == "captured"
    assert delays == [LATE_SECONDS]

    http.application.config["LATENCY_MS"] = 30
    try:
        charge(http, ref(), 1250)
        charge(http, ref(), 1250, PROCESSOR_ERROR)
        http.post(f"/v1/charges/{reference}/refund")
        http.get(f"/v1/charges/{reference}")
        http.get("/v1/charges")
    finally:
        http.application.config["LATENCY_MS"] = 0
    # Every charge and refund answer waits; the reads do not.
    assert delays == [LATE_SECONDS, 0.03, 0.03, 0.03]


# --- the client against the served app ---------------------------------------------------

def test_client_round_trip(processor):
    reference = ref()
    card = as_card(APPROVED)
    assert processor.lookup(reference) is None
    captured = processor.charge(reference, 1250, card)
    assert captured == Charge(reference, "captured", 1250, "4242")
    assert processor.charge(reference, 1250, card) == captured
    assert processor.lookup(reference) == captured
    declined = processor.charge("declined-" + reference, 990, as_card(DECLINED))
    assert declined.status == "declined"
    assert processor.refund(reference) == Charge(reference, "refunded", 1250, "4242")
    voided = processor.refund("never-charged")
    assert voided == Charge("never-charged", "voided", 0, "")
    assert processor.charge("never-charged", 500, card) == voided
    assert processor.charges() == [Charge(reference, "refunded", 1250, "4242"), declined,
                                   voided]


def test_client_errors_from_the_real_app(processor):
    with pytest.raises(ChargeFailed):
        processor.charge(ref(), 1250, as_card(PROCESSOR_ERROR))
    reference = ref()
    processor.charge(reference, 1250, as_card(APPROVED))
    with pytest.raises(ValueError, match="reference_reused"):
        processor.charge(reference, 999, as_card(APPROVED))
    with pytest.raises(ValueError, match="validation_error"):
        processor.charge(ref(), 0, as_card(APPROVED))
    assert [c.reference for c in processor.charges()] == [reference]


def test_client_references_survive_the_path(processor):
    card = as_card(APPROVED)
    for reference in ("a/../b", "..", ".", "a//b/", "/x/refund", "sp ace", "%25?#&+"):
        created = processor.charge(reference, 7, card)
        assert processor.lookup(reference) == created, reference
        assert processor.refund(reference).status == "refunded", reference


def test_the_late_card_times_out_but_is_captured(served, processor):
    impatient = CardProcessor(served, timeout=0.5)
    reference = ref()
    try:
        with pytest.raises(OutcomeUnknown):
            impatient.charge(reference, 1250, as_card(LATE))
    finally:
        impatient.close()
    # The capture was committed before the answer was held back. Polling, not a fixed
    # wait: how soon it commits is the machine's business.
    deadline = time.monotonic() + 30
    found = processor.lookup(reference)
    while found is None and time.monotonic() < deadline:
        time.sleep(0.05)
        found = processor.lookup(reference)
    assert found == Charge(reference, "captured", 1250, LATE_ANSWER_CARD[-4:])
    # A replay answers the capture and charges nothing more.
    assert processor.charge(reference, 1250, as_card(LATE)) == found
    assert processor.charges() == [found]


def test_a_closed_port_is_charge_failed():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    client = CardProcessor(f"http://127.0.0.1:{port}")
    try:
        with pytest.raises(ChargeFailed):
            client.charge(ref(), 1250, as_card(APPROVED))
    finally:
        client.close()
