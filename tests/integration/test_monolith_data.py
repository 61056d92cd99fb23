"""The monolith's data tier on real PostgreSQL: repositories, unit of work, the
database's own guards, charge attempts and their sweep, invoices, the mailbox and the
audit's count of duplicate deliveries, and the worker that delivers invoices and
settles abandoned charges (against an in-memory processor)."""

import datetime

import psycopg2
import pytest

from archlab.config import project_root
from archlab.db import apply_sql, start_database
from monolith import worker
from monolith.data.seed import reseed
from monolith.data.uow import UnitOfWork
from monolith.services import checkout, emails, invoicing, payments
from monolith.worker import run_once, sweep_once
from plumbing.db import Pool, PoolTimeout
from shop.errors import PaymentUnavailable
from shop.seed import generate_products
from tests import ports
from tests.unit.fakes import FakeCardProcessor

pytestmark = pytest.mark.timeout(120)

CARD = {"number": "4242424242424242", "exp_month": 12, "exp_year": 2035, "cvc": "123",
        "holder": "Ada"}
TODAY = datetime.date(2026, 11, 25)
OFFLINE = invoicing.OfflineDevice("test device")
SEEDED = {p.id: p.initial_stock for p in generate_products()}


@pytest.fixture(scope="module")
def dsn():
    db = start_database(ports.CLUSTERS["monolith_data"], namespace="archlab_test_monolith_data")
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


def buy(pool, key="k1", customer=1, items=None, processor=None, delivery="inline"):
    body = {"items": items or [{"product_id": 1, "quantity": 2}], "card": CARD}
    return checkout.checkout(UnitOfWork(pool), processor or FakeCardProcessor(), customer,
                             key, body, today=TODAY,
                             invoice_due_in=invoicing.DUE_IN_SECONDS[delivery])


def sql(pool, statement, params=()):
    """Run one statement in autocommit; its rows, if it returns any."""
    with pool.connection() as conn, conn.cursor() as cur:
        cur.execute(statement, params)
        return cur.fetchall() if cur.description else None


def attempt_statuses(pool) -> list[str]:
    return [r[0] for r in sql(pool, "SELECT status FROM charge_attempts ORDER BY created_at")]


def age_attempts(pool) -> None:
    """Make every attempt old enough for the sweep."""
    sql(pool, "UPDATE charge_attempts SET created_at = now() - interval '1 minute'")


def test_search_matches_every_word_and_pages(pool):
    with UnitOfWork(pool, read_only=True) as uow:
        rows, total = uow.products.search("rack", None, 10, 0)
        assert len(rows) == 10 and total > 10
        # Ranked: the category the word names first, then by id among equals.
        assert {r.category for r in rows} == {"racks"}
        everything, _ = uow.products.search("rack", None, 1000, 0)
        assert len(everything) == total and everything[0].category == "racks"
        assert everything[-1].category != "racks"
        assert uow.products.search("rack", None, 10, 10)[0] == everything[10:20]
        assert [r.id for r in uow.products.search(None, "racks", 3, 0)[0]] == [1, 9, 17]
        _, narrower = uow.products.search("rack enclosed", None, 10, 0)
        assert 0 < narrower < total
        rows, total = uow.products.search(None, "ups", 200, 120)
        assert total == 125 and len(rows) == 5
        assert uow.products.search(None, "ups", 10, 500) == ([], 125)


def test_leaving_without_commit_rolls_back(pool):
    with UnitOfWork(pool) as uow:
        assert uow.products.sell(1, 5)
    with UnitOfWork(pool, read_only=True) as uow:
        assert uow.products.get_with_stock(1)[1] == SEEDED[1]


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
        assert uow.products.get_with_stock(7)[1] == SEEDED[7] - 3
        figures = uow.audit.figures()
        references = uow.audit.payment_references()
    assert figures["payments"] == {"captured": 1, "captured_total_cents": order.total_cents,
                                   "without_order": 0, "paid_orders_not_matched": 0}
    assert figures["idempotency"] == {"keys": 1, "keys_with_order": 1, "orders_without_key": 0}
    assert figures["invoices"]["pending"] == 1
    # The payment and its attempt carry the same reference, committed with the order.
    assert sql(pool, "SELECT reference, status, order_id FROM charge_attempts") == [
        (references[0], "captured", order_id)]
    assert references[0].startswith(payments.REFERENCE_PREFIX)


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


def test_an_inline_invoice_waits_a_grace_and_a_deferred_one_is_due_at_once(pool):
    inline = buy(pool, key="inline").body["id"]
    deferred = buy(pool, key="deferred", delivery="deferred").body["id"]
    with UnitOfWork(pool, read_only=True) as uow:
        assert uow.invoices.due(10) == [deferred]
    [(grace,)] = sql(pool, "SELECT extract(epoch FROM next_attempt_at - o.created_at)"
                           " FROM invoices i JOIN orders o ON o.id = i.order_id"
                           " WHERE order_id = %s", (inline,))
    assert float(grace) == invoicing.DUE_IN_SECONDS["inline"]
    assert run_once(pool, invoicing.SpoolPrinter(), invoicing.MailboxMailer()) == 1
    assert sql(pool, "SELECT order_id FROM print_spool") == [(deferred,)]


def test_worker_keeps_going_while_batches_come_back_full(pool, monkeypatch):
    monkeypatch.setattr(worker, "BATCH", 2)
    for n in range(5):
        buy(pool, key=f"k{n}", delivery="deferred")
    assert run_once(pool, invoicing.SpoolPrinter(), invoicing.MailboxMailer()) == 5
    assert sql(pool, "SELECT status, count(*) FROM invoices GROUP BY status") == [("printed", 5)]


def test_emailed_at_is_set_by_either_kind_of_email_and_only_delivery_changes_status(pool):
    order_id = buy(pool).body["id"]
    invoicing.email_invoice(UnitOfWork(pool), invoicing.MailboxMailer(), 1, order_id)
    copy = invoicing.get_invoice(UnitOfWork(pool, read_only=True), 1, order_id)
    assert (copy["status"], copy["delivered_at"]) == ("pending", None)
    assert copy["emailed_at"] is not None

    assert invoicing.deliver(UnitOfWork(pool), OFFLINE, invoicing.MailboxMailer(),
                             order_id) == "emailed"
    delivered = invoicing.get_invoice(UnitOfWork(pool, read_only=True), 1, order_id)
    assert delivered["status"] == "emailed"
    assert delivered["emailed_at"] == delivered["delivered_at"] > copy["emailed_at"]
    assert sql(pool, "SELECT kind FROM mailbox ORDER BY id") == [("invoice_copy",),
                                                                 ("invoice",)]


def test_a_mailbox_kind_outside_the_list_is_refused(pool):
    order_id = buy(pool).body["id"]
    with UnitOfWork(pool) as uow:
        with pytest.raises(psycopg2.errors.CheckViolation):
            uow.invoices.mail(order_id, "newsletter", "a@rackshop.test", "hi", "hello")


def test_emails_are_the_customers_own_newest_first(pool):
    mine, theirs = buy(pool).body["id"], buy(pool, key="k2", customer=2).body["id"]
    invoicing.deliver(UnitOfWork(pool), OFFLINE, invoicing.MailboxMailer(), mine)
    for customer, order_id in ((1, mine), (2, theirs), (1, mine)):
        invoicing.email_invoice(UnitOfWork(pool), invoicing.MailboxMailer(), customer,
                                order_id)

    page = emails.list_emails(UnitOfWork(pool, read_only=True), 1, 1, 2)
    assert (page["total"], [m["kind"] for m in page["items"]]) == (3, ["invoice_copy"] * 2)
    assert [m["id"] for m in page["items"]] == sorted((m["id"] for m in page["items"]),
                                                      reverse=True)
    [oldest] = emails.list_emails(UnitOfWork(pool, read_only=True), 1, 2, 2)["items"]
    assert (oldest["kind"], oldest["order_id"], oldest["to"]) == (
        "invoice", mine, "customer1@rackshop.test")
    assert datetime.datetime.fromisoformat(oldest["sent_at"]).tzinfo is not None
    assert emails.list_emails(UnitOfWork(pool, read_only=True), 1, 3, 2) == {
        "items": [], "page": 3, "per_page": 2, "total": 3}
    theirs_page = emails.list_emails(UnitOfWork(pool, read_only=True), 2, 1, 20)
    assert [(m["order_id"], m["kind"]) for m in theirs_page["items"]] == [
        (theirs, "invoice_copy")]
    assert emails.list_emails(UnitOfWork(pool, read_only=True), 3, 1, 20)["total"] == 0


def test_audit_counts_orders_delivered_more_than_once(pool):
    printed, emailed, copied = (buy(pool, key=k).body["id"] for k in ("a", "b", "c"))
    mailer = invoicing.MailboxMailer()
    invoicing.deliver(UnitOfWork(pool), invoicing.SpoolPrinter(), mailer, printed)
    invoicing.deliver(UnitOfWork(pool), OFFLINE, mailer, emailed)
    invoicing.deliver(UnitOfWork(pool), invoicing.SpoolPrinter(), mailer, copied)
    for _ in range(2):
        invoicing.email_invoice(UnitOfWork(pool), mailer, 1, copied)

    def duplicates() -> int:
        with UnitOfWork(pool, read_only=True) as uow:
            return uow.audit.figures()["invoices"]["duplicate_deliveries"]

    assert duplicates() == 0
    with UnitOfWork(pool) as uow:  # what a second, racing delivery would have left
        uow.invoices.spool(printed, "again")
        uow.invoices.spool(emailed, "printed after all")
        uow.invoices.mail(emailed, "invoice", "customer1@rackshop.test", "again", "again")
        uow.commit()
    assert duplicates() == 2


def test_a_payment_reference_is_unique(pool):
    order_id = buy(pool).body["id"]
    [(reference,)] = sql(pool, "SELECT reference FROM payments")
    with UnitOfWork(pool) as uow:
        with pytest.raises(psycopg2.errors.UniqueViolation):
            uow.payments.capture(order_id, 1, "4242", reference)


def test_an_attempt_status_outside_the_list_is_refused(pool):
    with UnitOfWork(pool) as uow:
        uow.charges.start("rackshop-mono-x", 1)
        with pytest.raises(psycopg2.errors.CheckViolation):
            uow.charges.finish("rackshop-mono-x", "lost")


def test_the_attempt_is_committed_and_locked_while_the_charge_runs(pool):
    seen = {}

    class Watching(FakeCardProcessor):
        """Looks at the attempt from another connection while the charge is out."""

        def charge(self, reference, amount_cents, card):
            with UnitOfWork(pool) as other:
                other.charges.cur.execute(
                    "SELECT status FROM charge_attempts WHERE reference = %s", (reference,))
                seen["status"] = other.charges.cur.fetchone()
                seen["claimed"] = other.charges.claim_abandoned(0, 10, 15)
            return super().charge(reference, amount_cents, card)

    assert buy(pool, processor=Watching()).status == 201
    # Committed before the charge went out, and skipped by a sweep while its checkout runs.
    assert seen == {"status": ("started",), "claimed": []}
    assert attempt_statuses(pool) == ["captured"]


def test_a_rolled_back_checkout_leaves_its_attempt_started(pool):
    processor = FakeCardProcessor()
    processor.script.append("failed")
    with pytest.raises(PaymentUnavailable):
        buy(pool, processor=processor)
    assert attempt_statuses(pool) == ["started"]
    assert sql(pool, "SELECT count(*) FROM orders")[0][0] == 0
    assert sql(pool, "SELECT count(*) FROM idempotency_keys")[0][0] == 0


def test_autocommitted_only_before_the_transaction_begins(pool):
    with UnitOfWork(pool) as uow:
        with uow.autocommitted():
            uow.charges.start("rackshop-mono-kept", 1)
        uow.charges.start("rackshop-mono-rolled-back", 1)
        with pytest.raises(RuntimeError), uow.autocommitted():
            pass
    assert [r[0] for r in sql(pool, "SELECT reference FROM charge_attempts")] == [
        "rackshop-mono-kept"]


def test_the_sweep_skips_attempts_another_transaction_holds(pool, dsn):
    with UnitOfWork(pool) as uow:
        with uow.autocommitted():
            uow.charges.start("rackshop-mono-held", 1)
            uow.charges.start("rackshop-mono-free", 1)
            uow.charges.start("rackshop-mono-young", 1)
    sql(pool, "UPDATE charge_attempts SET created_at = now() - interval '1 minute'"
              " WHERE reference <> 'rackshop-mono-young'")
    holder = psycopg2.connect(dsn)
    try:
        with holder.cursor() as cur:  # a transaction, as a running checkout's
            cur.execute("SELECT status FROM charge_attempts WHERE reference = %s FOR UPDATE",
                        ("rackshop-mono-held",))
            with UnitOfWork(pool) as uow:
                assert uow.charges.claim_abandoned(10, 10, 15) == ["rackshop-mono-free"]
                uow.commit()
        holder.rollback()
        with UnitOfWork(pool) as uow:
            # The free one is leased already: only the held one is claimed now.
            assert uow.charges.claim_abandoned(10, 10, 15) == ["rackshop-mono-held"]
            uow.commit()
        # Leased, and no row lock held while they are settled: a second sweeper passes
        # over them until the lease runs out, and a checkout never charges with them.
        with UnitOfWork(pool) as second:
            assert second.charges.claim_abandoned(10, 10, 15) == []
            assert second.charges.lock("rackshop-mono-held") == "claimed"
        sql(pool, "UPDATE charge_attempts SET lease_until = now() - interval '1 second'"
                  " WHERE reference = 'rackshop-mono-free'")
        with UnitOfWork(pool) as third:
            assert third.charges.claim_abandoned(10, 10, 15) == ["rackshop-mono-free"]
            third.commit()
            # The worker whose lease ran out records its result after the one that took
            # over: only the first result stands.
            assert third.charges.settle("rackshop-mono-free", "void")
            assert not third.charges.settle("rackshop-mono-free", "refunded")
            third.commit()
        assert sql(pool, "SELECT status FROM charge_attempts WHERE reference ="
                         " 'rackshop-mono-free'") == [("void",)]
    finally:
        holder.close()


def test_worker_refunds_a_capture_whose_checkout_never_committed(pool):
    processor = FakeCardProcessor()
    processor.script.extend(["unknown", "lost"])
    for key in ("k1", "k2"):
        with pytest.raises(PaymentUnavailable):
            buy(pool, key=key, processor=processor)
    assert sweep_once(pool, processor) == {}  # too young yet
    age_attempts(pool)

    assert sweep_once(pool, processor) == {"refunded": 1, "void": 1}
    assert sorted(attempt_statuses(pool)) == ["refunded", "void"]
    assert sorted(c.status for c in processor.charges()) == ["refunded", "voided"]
    assert sweep_once(pool, processor) == {}


def test_reseed_empties_the_charge_attempts(pool, dsn):
    buy(pool)
    reseed(dsn)
    assert sql(pool, "SELECT count(*) FROM charge_attempts")[0][0] == 0


def test_pool_waits_then_gives_up(pool):
    with pool.connection(), pool.connection():
        with pytest.raises(PoolTimeout):
            with pool.connection():
                pass
    with pool.connection() as conn:  # both came back
        assert conn.autocommit is True
