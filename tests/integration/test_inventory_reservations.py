"""The inventory service's reservations for the checkout saga, on real PostgreSQL through
its Flask test client: reserve, commit and release, each idempotent by order id; stock
never below zero and initial = available + reserved + sold throughout; races for one
order and for scarce stock; every answer against contract/internal.yaml; and the broken
variant that proves the consistency check can fail."""

import threading

import psycopg2
import pytest

from archlab.config import project_root
from archlab.db import apply_sql
from microservices.common.client import fill_path
from microservices.common.security import service_token_key
from microservices.inventory import seed
from microservices.inventory.app import create_app
from plumbing import testhooks
from shop.seed import PRODUCT_COUNT, generate_products
from tests import ports
from tests.integration.servicekit import call as contract_call
from tests.integration.servicekit import check_contract, service_headers, throwaway_cluster

pytestmark = pytest.mark.timeout(180)

ROOT = project_root()
SECRET = "inventory-reservations-secret"
KEY = service_token_key(SECRET)
MAX_ORDER_ID = 2**63 - 1

ONE = "/internal/reservations/{order_id}"
HELD = "/internal/reservations"
COMMIT = "/internal/reservations/{order_id}/commit"
RELEASE = "/internal/reservations/{order_id}/release"


@pytest.fixture(scope="module")
def cluster():
    yield from throwaway_cluster(ports.CLUSTERS["inventory"], "archlab_test_inv")


@pytest.fixture(scope="module")
def dsn(cluster) -> str:
    """The inventory service's database, migrated and seeded."""
    found = cluster.create_database("inv_reservations", "inv_reservations", "pw-inv")
    apply_sql(found, ROOT / "microservices" / "inventory" / "schema.sql")
    seed.reseed(found)
    return found


@pytest.fixture(scope="module")
def app(dsn):
    return create_app({"DATABASE_URL": dsn, "SECRET_KEY": SECRET, "POOL_SIZE": 4})


@pytest.fixture
def client(app):
    return app.test_client()


def execute(dsn: str, statement: str, params=()) -> list[tuple]:
    """Run one statement in its own transaction; its rows, if it returns any."""
    conn = psycopg2.connect(dsn)
    try:
        with conn, conn.cursor() as cur:
            cur.execute(statement, params)
            return cur.fetchall() if cur.description else []
    finally:
        conn.close()


# Every product's units in these tests: the same for all (the seed's differ), so the
# expected figures read simply.
S = 1000


@pytest.fixture(autouse=True)
def fresh(dsn):
    """Before each test: no reservations, every product at S units, all available (two
    statements: a full reseed would cost a second per test)."""
    execute(dsn, "TRUNCATE reservation_lines, reservations")
    execute(dsn, "UPDATE stock SET initial = %s, available = %s, reserved = 0, sold = 0",
            (S, S))
    yield


# --- helpers -----------------------------------------------------------------------------

def headers(caller: str = "orders") -> dict:
    """A service token header from `caller` for the inventory service."""
    return service_headers(KEY, caller, "inventory")


def call(client, method: str, template: str, *, caller="orders", **kw):
    """Call an operation of internal.yaml by its template as `caller` and check the answer."""
    return contract_call(client, method, template, headers=headers(caller), **kw)


def reserve(client, order_id: int, *lines: tuple[int, int]):
    """Reserve (product id, quantity) lines for the order; the answer, which must be 200."""
    body = {"items": [{"product_id": p, "quantity": q} for p, q in lines]}
    resp = call(client, "POST", ONE, json=body, order_id=order_id)
    assert resp.status_code == 200, resp.json
    return resp.json


def step(client, template: str, order_id: int) -> dict:
    """Commit or release the order's reservation; the answer, which must be 200."""
    # The orders service sends {} as the body of commit and release; it is ignored.
    resp = call(client, "POST", template, json={}, order_id=order_id)
    assert resp.status_code == 200, resp.json
    return resp.json


def commit(client, order_id: int) -> dict:
    return step(client, COMMIT, order_id)


def release(client, order_id: int) -> dict:
    return step(client, RELEASE, order_id)


def reservation(order_id: int, status: str, *lines: tuple[int, int], short=()) -> dict:
    """The Reservation answer expected."""
    return {"order_id": order_id, "status": status,
            "items": [{"product_id": p, "quantity": q} for p, q in sorted(lines)],
            "short_product_ids": list(short)}


def levels(dsn: str) -> dict[int, tuple[int, int, int, int]]:
    """product id -> (initial, available, reserved, sold), for every product."""
    rows = execute(dsn, "SELECT product_id, initial, available, reserved, sold FROM stock")
    return {row[0]: row[1:] for row in rows}


def set_stock(dsn: str, product_id: int, units: int) -> None:
    """Give a product `units` units, all available."""
    execute(dsn, "UPDATE stock SET initial = %s, available = %s, reserved = 0, sold = 0"
                 " WHERE product_id = %s", (units, units, product_id))


def inconsistencies(dsn: str) -> list[str]:
    """What the reservations and the stock disagree on: per product, reserved must be the
    units of the 'reserved' reservations and sold those of the committed ones (every test
    starts with nothing reserved or sold), and initial = available + reserved + sold."""
    rows = execute(dsn, """
        SELECT s.product_id, s.initial, s.available, s.reserved, s.sold,
               coalesce(sum(l.quantity) FILTER (WHERE r.status = 'reserved'), 0),
               coalesce(sum(l.quantity) FILTER (WHERE r.status = 'committed'), 0)
        FROM stock s
        LEFT JOIN reservation_lines l ON l.product_id = s.product_id
        LEFT JOIN reservations r ON r.order_id = l.order_id
        GROUP BY s.product_id ORDER BY s.product_id""")
    found = []
    for product_id, initial, available, reserved, sold, held, committed in rows:
        if min(available, reserved, sold) < 0 or initial != available + reserved + sold:
            found.append(f"product {product_id}: figures {initial, available, reserved, sold}")
        if reserved != held or sold != committed:
            found.append(f"product {product_id}: reserved {reserved} sold {sold}, but "
                         f"reservations hold {held} and committed {committed}")
    return found


def moved(before: dict, after: dict) -> dict:
    """product id -> (before, after) for every product whose figures changed."""
    return {p: (before[p], after[p]) for p in before if before[p] != after[p]}


# --- the saga's steps --------------------------------------------------------------------

def test_reserve_moves_units_from_available_to_reserved(client, dsn):
    before = levels(dsn)
    answer = reserve(client, 1, (5, 3), (1, 2))
    assert answer == reservation(1, "reserved", (1, 2), (5, 3))
    assert moved(before, levels(dsn)) == {1: ((S, S, 0, 0), (S, S - 2, 2, 0)),
                                          5: ((S, S, 0, 0), (S, S - 3, 3, 0))}
    assert call(client, "GET", ONE, order_id=1).json == answer
    assert inconsistencies(dsn) == []


def test_reserve_then_commit_moves_units_from_reserved_to_sold(client, dsn):
    reserve(client, 2, (3, 4), (4, 1))
    assert commit(client, 2) == reservation(2, "committed", (3, 4), (4, 1))
    after = levels(dsn)
    assert (after[3], after[4]) == ((S, S - 4, 0, 4), (S, S - 1, 0, 1))
    assert call(client, "GET", ONE, order_id=2).json["status"] == "committed"
    assert inconsistencies(dsn) == []


def test_reserve_then_release_gives_the_units_back(client, dsn):
    before = levels(dsn)
    reserve(client, 3, (6, 7))
    assert release(client, 3) == reservation(3, "released", (6, 7))
    assert levels(dsn) == before
    assert inconsistencies(dsn) == []


@pytest.mark.parametrize("replayed", ["reserve", "commit", "release"])
def test_a_replayed_step_changes_nothing(client, dsn, replayed):
    first = reserve(client, 4, (10, 5), (11, 1))
    if replayed == "commit":
        first = commit(client, 4)
    elif replayed == "release":
        first = release(client, 4)
    before = levels(dsn)
    for _ in range(3):
        again = {"reserve": lambda: reserve(client, 4, (10, 5), (11, 1)),
                 "commit": lambda: commit(client, 4),
                 "release": lambda: release(client, 4)}[replayed]()
        assert again == first
        assert levels(dsn) == before
    # The items of a replayed reserve are not compared: the reservation is answered.
    assert reserve(client, 4, (12, 9)) == first
    assert levels(dsn) == before
    assert inconsistencies(dsn) == []


def test_out_of_stock_reserves_nothing_and_names_the_short_products(client, dsn):
    set_stock(dsn, 7, 1)
    before = levels(dsn)
    missing = PRODUCT_COUNT + 5
    # Product 8 could be held; it is rolled back with the rest.
    answer = reserve(client, 5, (7, 2), (8, 1), (missing, 1), (9, 3))
    assert answer == reservation(5, "out_of_stock", short=[7, missing])
    assert levels(dsn) == before
    # A replay, the reservation itself, and the later steps all keep that answer.
    assert reserve(client, 5, (7, 1)) == answer
    assert call(client, "GET", ONE, order_id=5).json == answer
    assert commit(client, 5) == answer
    assert release(client, 5) == answer
    assert levels(dsn) == before
    assert call(client, "GET", HELD).json == {"items": []}


def test_release_before_reserve_leaves_a_tombstone(client, dsn):
    before = levels(dsn)
    tombstone = reservation(6, "released")
    assert release(client, 6) == tombstone
    # The reserve that was still in flight arrives: it holds nothing.
    assert reserve(client, 6, (20, 2)) == tombstone
    assert commit(client, 6) == tombstone
    assert release(client, 6) == tombstone
    assert levels(dsn) == before
    assert call(client, "GET", ONE, order_id=6).json == tombstone


def test_commit_of_a_released_reservation_leaves_the_stock_alone(client, dsn):
    reserve(client, 7, (21, 2))
    released = release(client, 7)
    before = levels(dsn)
    assert commit(client, 7) == released == reservation(7, "released", (21, 2))
    assert levels(dsn) == before


def test_release_of_a_committed_reservation_leaves_the_stock_alone(client, dsn):
    reserve(client, 8, (22, 2))
    committed = commit(client, 8)
    before = levels(dsn)
    assert release(client, 8) == committed
    assert levels(dsn) == before
    assert inconsistencies(dsn) == []


def test_unknown_reservations_are_404(client):
    for method, template in [("GET", ONE), ("POST", COMMIT)]:
        resp = call(client, method, template, order_id=999)
        assert (resp.status_code, resp.json["error"]) == (404, "not_found")
    # Order ids outside 1..2^63-1 match no route, for every operation.
    for order_id in (0, MAX_ORDER_ID + 1, "abc", -1):
        for method, template in [("GET", ONE), ("POST", ONE), ("POST", COMMIT),
                                 ("POST", RELEASE)]:
            body = {"items": [{"product_id": 1, "quantity": 1}]} \
                if (method, template) == ("POST", ONE) else None
            resp = call(client, method, template, json=body, order_id=order_id)
            assert (resp.status_code, resp.json["error"]) == (404, "not_found")
    assert reserve(client, MAX_ORDER_ID, (1, 1))["order_id"] == MAX_ORDER_ID


def test_the_held_list_shows_only_reservations_holding_stock(client, dsn):
    reserve(client, 30, (1, 2), (2, 3))
    reserve(client, 31, (3, 1))
    commit(client, 31)
    reserve(client, 32, (4, 1))
    release(client, 32)
    set_stock(dsn, 5, 0)
    reserve(client, 33, (5, 1))
    release(client, 34)
    reserve(client, 12, (6, 4))
    assert call(client, "GET", HELD).json == {"items": [{"order_id": 12, "units": 4},
                                                        {"order_id": 30, "units": 5}]}
    assert inconsistencies(dsn) == []


# --- races -------------------------------------------------------------------------------

def run_together(app, jobs: list) -> list:
    """Run each job(client) in a thread of its own, released together by a barrier."""
    barrier = threading.Barrier(len(jobs))
    results: list = [None] * len(jobs)

    def run(index, job):
        client = app.test_client()
        barrier.wait()
        try:
            results[index] = job(client)
        except BaseException as exc:  # handed to the test's thread below
            results[index] = exc

    threads = [threading.Thread(target=run, args=(i, job)) for i, job in enumerate(jobs)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    for result in results:
        if isinstance(result, BaseException):
            raise result
    return results


def test_parallel_reserves_of_one_order_hold_the_units_once(app, dsn):
    before = levels(dsn)
    answers = run_together(app, [lambda c: reserve(c, 40, (50, 3), (51, 2))] * 16)
    assert answers == [reservation(40, "reserved", (50, 3), (51, 2))] * 16
    assert moved(before, levels(dsn)) == {50: ((S, S, 0, 0), (S, S - 3, 3, 0)),
                                          51: ((S, S, 0, 0), (S, S - 2, 2, 0))}
    assert execute(dsn, "SELECT count(*) FROM reservations") == [(1,)]
    assert inconsistencies(dsn) == []


def test_parallel_reserves_of_one_order_short_of_stock_all_answer_the_refusal(app, dsn):
    set_stock(dsn, 52, 1)
    before = levels(dsn)
    answers = run_together(app, [lambda c: reserve(c, 41, (52, 2), (53, 1))] * 16)
    assert answers == [reservation(41, "out_of_stock", short=[52])] * 16
    assert levels(dsn) == before
    assert execute(dsn, "SELECT count(*) FROM reservations") == [(1,)]


def test_more_orders_than_stock_hold_exactly_the_stock(app, dsn):
    set_stock(dsn, 60, 3)
    answers = run_together(app, [lambda c, o=o: reserve(c, o, (60, 1))
                                 for o in range(100, 110)])
    statuses = sorted(a["status"] for a in answers)
    assert statuses == ["out_of_stock"] * 7 + ["reserved"] * 3
    assert all(a["short_product_ids"] == [60] for a in answers if a["status"] != "reserved")
    assert levels(dsn)[60] == (3, 0, 3, 0)
    assert inconsistencies(dsn) == []


def test_a_release_racing_its_reserve_always_ends_released(app, dsn):
    """The saga cancels a reserve whose outcome it does not know: whichever arrives
    first, the order ends released and holds nothing."""
    before = levels(dsn)
    orders = range(200, 208)
    jobs = [lambda c, o=o: reserve(c, o, (70, 1), (71, 2)) for o in orders] + \
        [lambda c, o=o: release(c, o) for o in orders]
    answers = run_together(app, jobs)
    assert {a["status"] for a in answers[:len(orders)]} <= {"reserved", "released"}
    assert all(a["status"] == "released" for a in answers[len(orders):])
    for o in orders:
        assert call(app.test_client(), "GET", ONE, order_id=o).json["status"] == "released"
    assert levels(dsn) == before
    assert inconsistencies(dsn) == []


# --- requests ----------------------------------------------------------------------------

@pytest.mark.parametrize(("body", "field"), [
    ([{"product_id": 1, "quantity": 1}], "body"),
    ({}, "items"),
    ({"items": []}, "items"),
    ({"items": {"product_id": 1, "quantity": 1}}, "items"),
    ({"items": [{"product_id": p, "quantity": 1} for p in range(1, 52)]}, "items"),
    ({"items": [{"product_id": 1, "quantity": 1}], "note": "x"}, "note"),
    ({"items": [7]}, "items[0]"),
    ({"items": [{"product_id": 1}]}, "items[0].quantity"),
    ({"items": [{"product_id": 1, "quantity": 1, "colour": "red"}]}, "items[0].colour"),
    ({"items": [{"product_id": 1, "quantity": 0}]}, "items[0].quantity"),
    ({"items": [{"product_id": 1, "quantity": 101}]}, "items[0].quantity"),
    ({"items": [{"product_id": 1, "quantity": 1.5}]}, "items[0].quantity"),
    ({"items": [{"product_id": 1, "quantity": True}]}, "items[0].quantity"),
    ({"items": [{"product_id": 0, "quantity": 1}]}, "items[0].product_id"),
    ({"items": [{"product_id": "1", "quantity": 1}]}, "items[0].product_id"),
    ({"items": [{"product_id": 2**31, "quantity": 1}]}, "items[0].product_id"),
    ({"items": [{"product_id": 2, "quantity": 1}, {"product_id": 2, "quantity": 3}]},
     "items[1].product_id"),
], ids=lambda v: v if isinstance(v, str) else None)
def test_invalid_reserves_are_422_and_hold_nothing(client, dsn, body, field):
    resp = call(client, "POST", ONE, json=body, order_id=50)
    assert (resp.status_code, resp.json["error"]) == (422, "validation_error")
    assert resp.json["details"]["field"] == field
    assert execute(dsn, "SELECT count(*) FROM reservations") == [(0,)]


def test_the_largest_valid_reserve(client, dsn):
    lines = [(p, 100) for p in range(1, 51)]
    assert reserve(client, 51, *lines) == reservation(51, "reserved", *lines)
    assert inconsistencies(dsn) == []


def test_body_and_method_errors(client):
    resp = call(client, "POST", ONE, data="items", content_type="text/plain", order_id=1)
    assert (resp.status_code, resp.json["error"]) == (415, "unsupported_media_type")
    resp = call(client, "POST", ONE, data="{", content_type="application/json", order_id=1)
    assert (resp.status_code, resp.json["error"]) == (400, "invalid_json")
    resp = call(client, "POST", ONE, data="x" * (1024 * 1024 + 1),
                content_type="application/json", order_id=1)
    assert (resp.status_code, resp.json["error"]) == (413, "payload_too_large")
    for method, template in [("PUT", ONE), ("GET", COMMIT), ("GET", RELEASE),
                             ("POST", HELD), ("DELETE", ONE)]:
        params = {} if template == HELD else {"order_id": 1}
        resp = call(client, method, template, **params)
        assert (resp.status_code, resp.json["error"]) == (405, "method_not_allowed")


@pytest.mark.parametrize(("method", "template"), [
    ("GET", HELD), ("GET", ONE), ("POST", ONE), ("POST", COMMIT), ("POST", RELEASE)])
def test_reservations_need_an_allowed_callers_token(client, dsn, method, template):
    params = {} if template == HELD else {"order_id": 60}
    body = {"items": [{"product_id": 1, "quantity": 1}]} \
        if (method, template) == ("POST", ONE) else None
    for caller in ("payments", "accounts"):
        resp = call(client, method, template, json=body, caller=caller, **params)
        assert (resp.status_code, resp.json["error"]) == (401, "unauthorized")
    resp = client.open(fill_path(template, params), method=method, json=body)
    assert (resp.status_code, resp.json["error"]) == (401, "unauthorized")
    check_contract(template, method, resp)
    assert execute(dsn, "SELECT count(*) FROM reservations") == [(0,)]
    # The gateway may call too (it reads the held reservations for the audit).
    assert call(client, "GET", HELD, caller="gateway").status_code == 200


# --- the seed and the schema -------------------------------------------------------------

def test_a_reseed_empties_the_reservations(client, dsn):
    reserve(client, 70, (1, 1))
    reserve(client, 71, (2, 1))
    commit(client, 71)
    seed.reseed(dsn)
    assert execute(dsn, "SELECT count(*) FROM reservations") == [(0,)]
    assert execute(dsn, "SELECT count(*) FROM reservation_lines") == [(0,)]
    assert levels(dsn) == {p.id: (p.initial_stock, p.initial_stock, 0, 0)
                           for p in generate_products()}
    # The schema can be applied again over a database that has it.
    apply_sql(dsn, ROOT / "microservices" / "inventory" / "schema.sql")


def test_the_database_refuses_what_the_api_never_does(dsn):
    with pytest.raises(psycopg2.errors.CheckViolation):
        execute(dsn, "INSERT INTO reservations (order_id, status) VALUES (1, 'pending')")
    with pytest.raises(psycopg2.errors.ForeignKeyViolation):
        execute(dsn, "INSERT INTO reservation_lines VALUES (1, 1, 1)")
    execute(dsn, "INSERT INTO reservations (order_id, status) VALUES (1, 'reserved')")
    with pytest.raises(psycopg2.errors.CheckViolation):
        execute(dsn, "INSERT INTO reservation_lines VALUES (1, 1, 101)")
    with pytest.raises(psycopg2.errors.CheckViolation):
        execute(dsn, "UPDATE stock SET available = available - 1, reserved = reserved + 2"
                     " WHERE product_id = 1")


# --- the broken variant ------------------------------------------------------------------

@pytest.mark.parametrize("broken", [False, True], ids=["correct", "broken"])
def test_the_check_catches_a_reserve_that_is_not_idempotent(client, dsn, tmp_path,
                                                            monkeypatch, broken):
    hooks = tmp_path / "hooks.json"
    monkeypatch.setenv(testhooks.HOOKS_VAR, str(hooks))
    testhooks.arm(hooks, broken=["inventory.reserve_not_idempotent"] if broken else [])
    first = reserve(client, 80, (90, 4))
    again = reserve(client, 80, (90, 4))
    # The answer is the same either way: only the stock tells the broken variant apart.
    assert again == first
    if broken:
        assert levels(dsn)[90] == (S, S - 8, 8, 0)
        assert inconsistencies(dsn) == [
            "product 90: reserved 8 sold 0, but reservations hold 4 and committed 0"]
    else:
        assert levels(dsn)[90] == (S, S - 4, 4, 0)
        assert inconsistencies(dsn) == []
