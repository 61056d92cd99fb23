"""The monolith's data tier on real PostgreSQL: repositories, unit of work, the
database's own guards, and the worker that retries invoice deliveries."""

import datetime

import psycopg2
import pytest

from archlab.config import project_root
from archlab.db import apply_sql, start_database
from monolith.data.seed import reseed
from monolith.data.uow import UnitOfWork
from monolith.services import checkout, invoicing
from monolith.worker import run_once
from plumbing.db import Pool, PoolTimeout

pytestmark = pytest.mark.timeout(120)

CARD = {"number": "4242424242424242", "exp_month": 12, "exp_year": 2035, "cvc": "123",
        "holder": "Ada"}
TODAY = datetime.date(2026, 11, 25)
OFFLINE = invoicing.OfflineDevice("test device")


@pytest.fixture(scope="module")
def dsn():
    db = start_database(18900, namespace="archlab_test_monolith_data")
    try:
        url = db.create_database("monolith_data", "monolith_data", "pw-monolith-data")
        apply_sql(url, project_root() / "monolith" / "data" / "schema.sql")
        yield url
    finally:
        db.stop()


@pytest.fixture
def pool(dsn):
    reseed(dsn)
    p = Pool(dsn, 2, wait_seconds=0.5)
    yield p
    p.close()


def buy(pool, key="k1", customer=1, items=None):
    body = {"items": items or [{"product_id": 1, "quantity": 2}], "card": CARD}
    return checkout.checkout(UnitOfWork(pool), customer, key, body, today=TODAY)


def test_search_matches_every_word_and_pages(pool):
    with UnitOfWork(pool, read_only=True) as uow:
        rows, total = uow.products.search("rack", None, 10, 0)
        assert len(rows) == 10 and total > 10
        _, narrower = uow.products.search("rack enclosed", None, 10, 0)
        assert 0 < narrower < total
        rows, total = uow.products.search(None, "ups", 200, 120)
        assert total == 125 and len(rows) == 5
        assert uow.products.search(None, "ups", 10, 500) == ([], 125)


def test_leaving_without_commit_rolls_back(pool):
    with UnitOfWork(pool) as uow:
        assert uow.products.sell(1, 5)
    with UnitOfWork(pool, read_only=True) as uow:
        assert uow.products.get_with_stock(1)[1] == 1_000_000


def test_the_database_refuses_negative_stock(pool):
    with UnitOfWork(pool) as uow:
        uow.products.set_stock(3, 1)
        uow.commit()
    with UnitOfWork(pool) as uow:
        assert uow.products.sell(3, 2) is False
        with pytest.raises(psycopg2.errors.CheckViolation):
            uow.products.cur.execute("UPDATE stock SET available = -1, sold = sold + 2"
                                     " WHERE product_id = 3")


def test_a_key_is_stored_once(pool):
    assert buy(pool).status == 201
    with UnitOfWork(pool) as uow:
        with pytest.raises(psycopg2.errors.UniqueViolation):
            uow.idempotency.save(1, "k1", "other", 201, {}, None)


def test_checkout_commits_everything_together(pool):
    result = buy(pool, items=[{"product_id": 7, "quantity": 3}, {"product_id": 2, "quantity": 1}])
    order_id = result.body["id"]
    with UnitOfWork(pool, read_only=True) as uow:
        order = uow.orders.get(order_id, 1)
        assert order.status == "PAID" and len(order.lines) == 2
        assert uow.orders.get(order_id, 2) is None
        assert uow.products.get_with_stock(7)[1] == 1_000_000 - 3
        figures = uow.audit.figures()
    assert figures["payments"] == {"captured": 1, "captured_total_cents": order.total_cents,
                                   "without_order": 0, "paid_orders_not_matched": 0}
    assert figures["idempotency"] == {"keys": 1, "keys_with_order": 1, "orders_without_key": 0}
    assert figures["invoices"]["pending"] == 1


def test_worker_delivers_what_stayed_pending(pool):
    order_id = buy(pool).body["id"]
    assert invoicing.deliver(UnitOfWork(pool), OFFLINE, OFFLINE, order_id) == "pending"
    with UnitOfWork(pool) as uow:  # make the retry due now
        uow.products.cur.execute("UPDATE invoices SET next_attempt_at = now()")
        uow.commit()
    assert run_once(pool, OFFLINE, invoicing.MailboxMailer()) == 1
    with UnitOfWork(pool, read_only=True) as uow:
        assert uow.orders.get(order_id).invoice_status == "emailed"
        assert uow.invoices.attempts(order_id) == 2
    assert run_once(pool, invoicing.SpoolPrinter(), invoicing.MailboxMailer()) == 0


def test_pool_waits_then_gives_up(pool):
    with pool.connection(), pool.connection():
        with pytest.raises(PoolTimeout):
            with pool.connection():
                pass
    with pool.connection() as conn:  # both came back
        assert conn.autocommit is True


def test_pool_drops_broken_connections(pool, dsn):
    with pool.connection() as a, pool.connection() as b, a.cursor() as ca, b.cursor() as cb:
        ca.execute("SELECT pg_backend_pid()")
        cb.execute("SELECT pg_backend_pid()")
        pids = [ca.fetchone()[0], cb.fetchone()[0]]
    killer = psycopg2.connect(dsn)
    killer.autocommit = True
    with killer.cursor() as cur:
        cur.execute("SELECT pg_terminate_backend(pid) FROM unnest(%s) AS pid", (pids,))
    killer.close()
    failures = 0
    for _ in range(2):
        try:
            with pool.connection() as conn, conn.cursor() as cur:
                cur.execute("SELECT 1")
        except (psycopg2.OperationalError, psycopg2.InterfaceError):
            failures += 1
    assert failures == 2
    assert pool.ping()  # new connections took their place
