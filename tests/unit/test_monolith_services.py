"""The monolith's business layer against fake repositories and a fake card processor:
checkout, settling abandoned charges, invoicing, accounts, admin and catalogue, with no
database and no mocks of our own code."""

import copy
import dataclasses
import datetime
import inspect

import pytest

from cardprocessor.client import CardProcessor
from monolith import worker
from monolith.data import repositories
from monolith.services import (
    accounts,
    admin,
    catalog,
    checkout,
    emails,
    invoicing,
    orders,
    payments,
)
from monolith.services.checkout import CheckoutResult
from monolith.services.invoicing import MailboxMailer, OfflineDevice, SpoolPrinter
from monolith.web.app import create_app
from shop import accounts as shop_accounts
from shop.cards import LATE_ANSWER_CARD
from shop.errors import (
    InProgress,
    InvalidCredentials,
    InvalidToken,
    KeyMismatch,
    NotFound,
    PaymentUnavailable,
    ServiceUnavailable,
    ValidationError,
)
from shop.invoices import invoice_number
from shop.money import totals
from shop.orders import request_fingerprint
from shop.passwords import hash_password
from shop.tokens import issue_token
from tests.unit import fakes

TODAY = datetime.date(2026, 1, 15)
SECRET = "unit-test-secret"
PASSWORD = "correct horse"
# scrypt costs ~0.12 s per hash: hash once for the whole module.
PASSWORD_HASH = hash_password(PASSWORD, salt="unit-test-salt")

BUYER = 1
OTHER = 2
CARD = {"number": "4242 4242 4242 4242", "exp_month": 12, "exp_year": 2030, "cvc": "123",
        "holder": "Ada Lovelace"}
DECLINED = CARD | {"number": "4000000000000002"}
PROCESSOR_ERROR = CARD | {"number": "4000000000000119"}
LATE_ANSWER = CARD | {"number": LATE_ANSWER_CARD}
ABANDONED = datetime.timedelta(seconds=payments.ABANDONED_AFTER_SECONDS + 1)


@pytest.fixture
def db() -> fakes.FakeDatabase:
    db = fakes.FakeDatabase()
    db.add_product(1, price_cents=10_000, available=10)
    db.add_product(2, price_cents=2_499, available=5, category="cables")
    db.add_product(3, price_cents=99, available=0, category="cables")
    db.add_customer(BUYER, "ada@rackshop.test", "Ada Lovelace", PASSWORD_HASH)
    db.add_customer(OTHER, "alan@rackshop.test", "Alan Turing", PASSWORD_HASH)
    return db


@pytest.fixture
def uow(db) -> fakes.FakeUnitOfWork:
    return fakes.FakeUnitOfWork(db)


@pytest.fixture
def processor() -> fakes.FakeCardProcessor:
    return fakes.FakeCardProcessor()


@pytest.fixture
def buy(uow, processor):
    """Check out through the fixtures' unit of work and processor."""

    def buy(body, key="key-1", customer_id=BUYER, today=TODAY) -> CheckoutResult:
        return checkout.checkout(uow, processor, customer_id, key, body, today=today)

    return buy


def basket(*lines, card=CARD) -> dict:
    return {"items": [{"product_id": p, "quantity": q} for p, q in lines], "card": card}


def stock(db, product_id) -> dict:
    return dict(db.tables.stock[product_id])


def attempts(db) -> list[str]:
    """The charge attempts' statuses, oldest first."""
    return [a["status"] for a in db.tables.charge_attempts.values()]


def without_attempts(tables: fakes.Tables) -> fakes.Tables:
    return dataclasses.replace(copy.deepcopy(tables), charge_attempts={})


def charged(processor) -> int:
    """How many charge requests the processor received."""
    return sum(call == "charge" for call, _ in processor.calls)


def sweep(uow, processor, limit=10) -> dict[str, int]:
    return payments.settle_abandoned_charges(uow, processor, limit)


# --- the fakes keep the real repositories' shape ----------------------------------------

REPOSITORY_PAIRS = [
    (repositories.ProductRepository, fakes.FakeProductRepository),
    (repositories.CustomerRepository, fakes.FakeCustomerRepository),
    (repositories.OrderRepository, fakes.FakeOrderRepository),
    (repositories.PaymentRepository, fakes.FakePaymentRepository),
    (repositories.ChargeAttemptRepository, fakes.FakeChargeAttemptRepository),
    (repositories.IdempotencyRepository, fakes.FakeIdempotencyRepository),
    (repositories.InvoiceRepository, fakes.FakeInvoiceRepository),
    (repositories.AuditRepository, fakes.FakeAuditRepository),
]


def _public_methods(cls) -> dict[str, list[str]]:
    # Inherited methods count too: the real repositories build on the shared queries.
    return {name: list(inspect.signature(fn).parameters)
            for name, fn in inspect.getmembers(cls, inspect.isfunction)
            if not name.startswith("_")}


@pytest.mark.parametrize(("real", "fake"), REPOSITORY_PAIRS, ids=lambda c: c.__name__)
def test_fake_repository_has_the_real_methods(real, fake):
    assert _public_methods(fake) == _public_methods(real)


@pytest.mark.parametrize("name", ["charge", "refund", "lookup", "charges"])
def test_fake_processor_has_the_clients_methods(name):
    real, fake = getattr(CardProcessor, name), getattr(fakes.FakeCardProcessor, name)
    assert list(inspect.signature(fake).parameters) == list(inspect.signature(real).parameters)


def test_fake_unit_of_work_rolls_back_without_commit(db, uow):
    with uow:
        uow.products.sell(1, 2)
    assert stock(db, 1)["available"] == 10
    with uow:
        uow.products.sell(1, 2)
        uow.commit()
        uow.products.sell(1, 1)  # after the commit, in a transaction never committed
    assert stock(db, 1)["available"] == 8


# --- checkout ---------------------------------------------------------------------------

def test_checkout_sells_records_payment_invoice_and_key(db, uow, processor, buy):
    body = basket((2, 3), (1, 1))
    result = buy(body)

    assert (result.status, result.replayed) == (201, False)
    order = result.body
    expected = totals(3 * 2_499 + 10_000)
    assert order["status"] == "PAID"
    assert [(i["product_id"], i["quantity"]) for i in order["items"]] == [(1, 1), (2, 3)]
    assert (order["subtotal_cents"], order["vat_cents"], order["total_cents"]) == (
        expected.subtotal_cents, expected.vat_cents, expected.total_cents)
    assert (order["card_last4"], order["invoice_status"]) == ("4242", "pending")

    assert stock(db, 1) == {"initial": 10, "available": 9, "sold": 1}
    assert stock(db, 2) == {"initial": 5, "available": 2, "sold": 3}
    assert list(db.tables.orders) == [order["id"]]
    assert db.tables.orders[order["id"]]["status"] == "PAID"
    [reference] = db.tables.charge_attempts
    assert reference.startswith(payments.REFERENCE_PREFIX)
    assert db.tables.payments == [{"order_id": order["id"], "status": "captured",
                                   "amount_cents": expected.total_cents, "card_last4": "4242",
                                   "reference": reference}]
    attempt = db.tables.charge_attempts[reference]
    assert (attempt["customer_id"], attempt["status"], attempt["order_id"]) == (
        BUYER, "captured", order["id"])
    assert processor.records[reference] == fakes.Charge(reference, "captured",
                                                        expected.total_cents, "4242")
    assert db.tables.invoices[order["id"]]["status"] == "pending"
    saved = db.tables.idempotency_keys[(BUYER, "key-1")]
    assert (saved["status_code"], saved["order_id"], saved["response"]) == (
        201, order["id"], order)
    assert saved["request_hash"] == request_fingerprint(body)
    # The attempt on its own before the transaction; everything else in one commit.
    assert (uow.autocommits, uow.commits) == (1, 1)


def test_every_checkout_charges_under_a_fresh_reference(db, buy):
    buy(basket((1, 1)), key="a")
    buy(basket((1, 1)), key="b")
    references = [p["reference"] for p in db.tables.payments]
    assert len(set(references)) == 2


def test_checkout_replay_answers_the_same_and_sells_nothing_more(db, processor, buy):
    first = buy(basket((1, 2)))
    tables = copy.deepcopy(db.tables)

    again = buy(basket((1, 2)))

    assert again == CheckoutResult(201, first.body, replayed=True)
    assert without_attempts(db.tables) == without_attempts(tables)
    assert len(db.tables.orders) == 1
    # The replay's attempt never charged: closed as void, nothing sent.
    assert attempts(db) == ["captured", "void"]
    assert charged(processor) == 1


def test_checkout_replays_a_stored_answer_even_once_the_card_has_expired(db, processor, buy):
    first = buy(basket((1, 2)))
    later = datetime.date(CARD["exp_year"] + 1, 1, 1)
    assert buy(basket((1, 2)), today=later) == CheckoutResult(201, first.body, replayed=True)
    # An invalid body never reaches the charge, so it gets no attempt.
    assert attempts(db) == ["captured"]
    with pytest.raises(ValidationError):
        buy(basket((1, 2)), key="key-2", today=later)
    assert attempts(db) == ["captured"] and charged(processor) == 1


def test_checkout_key_reused_for_another_body_is_refused(db, processor, buy):
    buy(basket((1, 2)))
    tables = copy.deepcopy(db.tables)
    with pytest.raises(KeyMismatch) as caught:
        buy(basket((1, 3)))
    assert caught.value.code == "idempotency_key_mismatch"
    assert without_attempts(db.tables) == without_attempts(tables)
    assert attempts(db) == ["captured", "void"]
    assert charged(processor) == 1


def test_checkout_keys_are_scoped_to_the_customer(db, buy):
    buy(basket((1, 1)))
    other = buy(basket((1, 1)), customer_id=OTHER)
    assert (other.status, other.replayed) == (201, False)
    assert len(db.tables.orders) == 2


def test_checkout_while_the_key_is_held_elsewhere_is_in_progress(db, processor, buy):
    db.held_keys.add((BUYER, "key-1"))
    tables = copy.deepcopy(db.tables)
    with pytest.raises(InProgress) as caught:
        buy(basket((1, 1)))
    assert caught.value.code == "in_progress"
    assert without_attempts(db.tables) == without_attempts(tables)
    assert attempts(db) == ["void"]
    assert charged(processor) == 0


def test_checkout_declined_card_is_a_stored_402_and_sells_nothing(db, processor, buy):
    result = buy(basket((1, 2), card=DECLINED))

    assert result.status == 402
    assert result.body["error"] == "payment_declined"
    assert stock(db, 1) == {"initial": 10, "available": 10, "sold": 0}
    assert (db.tables.orders, db.tables.payments, db.tables.invoices) == ({}, [], {})
    saved = db.tables.idempotency_keys[(BUYER, "key-1")]
    assert (saved["status_code"], saved["order_id"], saved["response"]) == (
        402, None, result.body)
    [(reference, attempt)] = db.tables.charge_attempts.items()
    assert (attempt["status"], attempt["order_id"]) == ("declined", None)
    assert processor.records[reference].status == "declined"
    assert buy(basket((1, 2), card=DECLINED)) == CheckoutResult(402, result.body, True)
    assert charged(processor) == 1


def test_checkout_processor_error_is_unavailable_and_stores_nothing(db, processor, buy):
    tables = copy.deepcopy(db.tables)
    with pytest.raises(PaymentUnavailable) as caught:
        buy(basket((1, 2), card=PROCESSOR_ERROR))
    assert "nothing was charged" in caught.value.message
    assert without_attempts(db.tables) == without_attempts(tables)
    # Rolled back: the attempt stays 'started', for the worker to settle.
    assert attempts(db) == ["started"]
    # Not final: the same key goes through once the processor answers, with a new attempt.
    assert buy(basket((1, 2))).status == 201
    assert attempts(db) == ["started", "captured"]


@pytest.mark.parametrize("how", ["scripted", "late-card"])
def test_checkout_outcome_unknown_is_unavailable_and_sells_nothing(db, uow, processor, buy,
                                                                   how):
    tables = copy.deepcopy(db.tables)
    if how == "scripted":
        processor.script.append("unknown")
    card = CARD if how == "scripted" else LATE_ANSWER
    with pytest.raises(PaymentUnavailable) as caught:
        buy(basket((1, 2), card=card))
    assert "refunded" in caught.value.message

    # The processor captured, but the order did not take effect in the shop.
    assert without_attempts(db.tables) == without_attempts(tables)
    [(reference, attempt)] = db.tables.charge_attempts.items()
    assert attempt["status"] == "started"
    assert processor.records[reference].status == "captured"
    assert admin.audit_figures(uow, processor)["processor"]["captures_without_payment"] == 1

    db.now += ABANDONED
    assert sweep(uow, processor) == {"refunded": 1}
    assert attempts(db) == ["refunded"]
    assert processor.records[reference].status == "refunded"
    assert admin.audit_figures(uow, processor)["processor"] == {
        "captures": 0, "captured_total_cents": 0, "refunds": 1,
        "captures_without_payment": 0, "payments_without_capture": 0}


def test_checkout_answered_voided_is_unavailable_and_sells_nothing(db, processor, buy):
    # The worker voided the reference first: the charge captures nothing.
    processor.script.append("voided")
    tables = copy.deepcopy(db.tables)
    with pytest.raises(PaymentUnavailable) as caught:
        buy(basket((1, 2)))
    assert "nothing was charged" in caught.value.message
    assert without_attempts(db.tables) == without_attempts(tables)
    assert attempts(db) == ["started"]


def test_a_crash_between_capture_and_commit_leaves_the_capture_for_the_worker(
        db, uow, processor, buy, monkeypatch):
    class Died(BaseException):
        """The process ended at the crash point (os._exit in a real stack)."""

    def crash_point(name):
        if name == "monolith.after_charge":
            raise Died(name)

    monkeypatch.setattr(checkout, "crash_point", crash_point)
    tables = copy.deepcopy(db.tables)
    with pytest.raises(Died):
        buy(basket((1, 2)))
    assert without_attempts(db.tables) == without_attempts(tables)
    [(reference, attempt)] = db.tables.charge_attempts.items()
    assert attempt["status"] == "started"
    assert processor.records[reference].status == "captured"

    db.now += ABANDONED
    assert sweep(uow, processor) == {"refunded": 1}
    assert processor.records[reference].status == "refunded"


def test_checkout_out_of_stock_is_a_stored_409_and_sells_nothing(db, processor, buy):
    result = buy(basket((1, 1), (2, 6), (3, 1)))

    assert result.status == 409
    assert result.body["error"] == "out_of_stock"
    assert result.body["details"] == {"product_ids": [2, 3]}
    assert [stock(db, p)["sold"] for p in (1, 2, 3)] == [0, 0, 0]
    assert (db.tables.orders, db.tables.payments, db.tables.invoices) == ({}, [], {})
    assert db.tables.idempotency_keys[(BUYER, "key-1")]["status_code"] == 409
    assert attempts(db) == ["void"]
    assert charged(processor) == 0


def test_checkout_unknown_product_is_a_validation_error(db, processor, buy):
    tables = copy.deepcopy(db.tables)
    with pytest.raises(ValidationError) as caught:
        buy(basket((1, 1), (99, 1)))
    assert caught.value.details == {"field": "items", "product_ids": [99]}
    assert without_attempts(db.tables) == without_attempts(tables)
    assert attempts(db) == ["void"]
    assert charged(processor) == 0


@pytest.mark.parametrize(("body", "field"), [
    (["not", "an", "object"], "body"),
    ({"items": [{"product_id": 1, "quantity": 1}], "card": CARD, "coupon": "FREE"}, "body"),
    ({"card": CARD}, "items"),
    (basket(), "items"),
    (basket((1, 0)), "items[0].quantity"),
    (basket((1, 1), (1, 2)), "items[1].product_id"),
    ({"items": [{"product_id": True, "quantity": 1}], "card": CARD}, "items[0].product_id"),
    ({"items": [{"product_id": 1, "quantity": 1}]}, "card"),
    (basket((1, 1), card=CARD | {"number": "4242424242424241"}), "card.number"),
    (basket((1, 1), card=CARD | {"exp_year": 2025}), "card.exp_year"),
    (basket((1, 1), card={k: v for k, v in CARD.items() if k != "cvc"}), "card.cvc"),
], ids=["list", "extra-key", "no-items", "empty-items", "zero-quantity", "duplicate-product",
        "bool-product-id", "no-card", "luhn", "expired", "no-cvc"])
def test_checkout_invalid_body_is_a_validation_error_and_stores_nothing(db, processor, buy,
                                                                        body, field):
    tables = copy.deepcopy(db.tables)
    with pytest.raises(ValidationError) as caught:
        buy(body)
    assert caught.value.details["field"] == field
    # Not even a charge attempt: an invalid body never reaches the charge.
    assert db.tables == tables
    assert processor.calls == []


# --- purchase: checkout, then the invoice -------------------------------------------------

def purchase(uow, processor, body, printer=None, key="key-1",
             delivery="inline") -> CheckoutResult:
    return checkout.purchase(uow, processor, printer or SpoolPrinter(), MailboxMailer(),
                             BUYER, key, body, today=TODAY, delivery=delivery)


def test_purchase_delivers_the_invoice_right_away(db, uow, processor):
    result = purchase(uow, processor, basket((1, 1)))
    assert result.status == 201
    assert db.tables.invoices[result.body["id"]]["status"] == "printed"
    # The answer was made before delivery: it says what was true at the commit.
    assert result.body["invoice_status"] == "pending"


def test_purchase_inline_leaves_the_worker_a_grace_before_it_steps_in(db, uow, processor):
    class BrokenPrinter:
        def print_document(self, uow, order_id, document):
            raise RuntimeError("paper jam in the driver")

    order_id = purchase(uow, processor, basket((1, 1)), printer=BrokenPrinter()).body["id"]
    # The request's own delivery failed: the worker takes over once the grace is over.
    invoice = db.tables.invoices[order_id]
    assert invoice["next_attempt_at"] == db.now + datetime.timedelta(
        seconds=invoicing.DUE_IN_SECONDS["inline"])
    assert invoicing.due_invoices(uow, 10) == []
    db.now = invoice["next_attempt_at"]
    assert invoicing.due_invoices(uow, 10) == [order_id]


def test_purchase_deferred_leaves_the_invoice_to_the_worker_at_once(db, uow, processor):
    result = purchase(uow, processor, basket((1, 1)), delivery="deferred")
    assert result.status == 201
    order_id = result.body["id"]
    invoice = db.tables.invoices[order_id]
    assert (invoice["status"], invoice["attempts"], invoice["next_attempt_at"]) == (
        "pending", 0, db.now)
    assert (db.tables.print_spool, db.tables.mailbox) == ([], [])
    # One transaction for the checkout; no second one for a delivery.
    assert uow.commits == 1
    # Due at once: the worker's next round delivers it.
    assert invoicing.due_invoices(uow, 10) == [order_id]
    assert deliver(uow, order_id) == "printed"
    assert len(db.tables.print_spool) == 1


def test_purchase_deferred_replay_registers_nothing_more(db, uow, processor):
    first = purchase(uow, processor, basket((1, 1)), delivery="deferred")
    again = purchase(uow, processor, basket((1, 1)), delivery="deferred")
    assert again.replayed and again.body == first.body
    assert list(db.tables.invoices) == [first.body["id"]]


def test_purchase_replay_delivers_nothing_again(db, uow, processor):
    purchase(uow, processor, basket((1, 1)))
    assert purchase(uow, processor, basket((1, 1))).replayed
    assert len(db.tables.print_spool) == 1


def test_purchase_without_an_order_delivers_nothing(db, uow, processor):
    assert purchase(uow, processor, basket((1, 1), card=DECLINED)).status == 402
    assert (db.tables.invoices, db.tables.print_spool) == ({}, [])


def test_purchase_survives_a_failing_invoice_delivery(db, uow, processor):
    class BrokenPrinter:
        def print_document(self, uow, order_id, document):
            raise RuntimeError("paper jam in the driver")

    result = purchase(uow, processor, basket((1, 1)), printer=BrokenPrinter())
    assert result.status == 201
    assert db.tables.orders[result.body["id"]]["status"] == "PAID"
    assert db.tables.invoices[result.body["id"]]["status"] == "pending"


# --- settling abandoned charge attempts ---------------------------------------------------

def started(db, uow, reference, customer_id=BUYER) -> str:
    """An attempt left 'started' by a checkout that never committed."""
    with uow:
        with uow.autocommitted():
            uow.charges.start(reference, customer_id)
    return reference


def test_sweep_refunds_a_capture_no_order_took(db, uow, processor):
    ref = started(db, uow, "rackshop-mono-captured")
    processor.add(ref, "captured", 12_100)
    db.now += ABANDONED
    assert sweep(uow, processor) == {"refunded": 1}
    assert db.tables.charge_attempts[ref]["status"] == "refunded"
    assert processor.records[ref].status == "refunded"
    assert sweep(uow, processor) == {}


def test_sweep_voids_a_reference_never_charged_so_a_late_charge_captures_nothing(
        db, uow, processor, buy):
    processor.script.append("lost")
    with pytest.raises(PaymentUnavailable):
        buy(basket((1, 1)))
    [ref] = db.tables.charge_attempts
    assert ref not in processor.records  # the request is still on its way

    db.now += ABANDONED
    assert sweep(uow, processor) == {"void": 1}
    assert db.tables.charge_attempts[ref]["status"] == "void"
    assert processor.records[ref] == fakes.Charge(ref, "voided", 0, "")
    # The request in flight arrives at last, and finds the tombstone.
    assert processor.arrive(ref).status == "voided"
    assert admin.audit_figures(uow, processor)["processor"]["captures"] == 0


@pytest.mark.parametrize(("on_file", "final"), [
    ("declined", "declined"), ("refunded", "refunded"), ("voided", "void")])
def test_sweep_records_what_the_processor_already_settled(db, uow, processor, on_file, final):
    ref = started(db, uow, "rackshop-mono-" + on_file)
    processor.add(ref, on_file)
    db.now += ABANDONED
    assert sweep(uow, processor) == {final: 1}
    assert db.tables.charge_attempts[ref]["status"] == final
    assert processor.records[ref].status == on_file


def test_sweep_leaves_young_and_locked_attempts_alone(db, uow, processor):
    running = started(db, uow, "rackshop-mono-running")
    db.locked_attempts.add(running)  # its checkout still holds the row
    db.now += ABANDONED
    young = started(db, uow, "rackshop-mono-young")
    assert sweep(uow, processor) == {}
    assert attempts(db) == ["started", "started"] and processor.calls == []
    db.now += ABANDONED
    db.locked_attempts.clear()
    assert sweep(uow, processor) == {"void": 2}
    assert young in processor.records and running in processor.records


def test_sweep_takes_the_oldest_first_up_to_the_limit(db, uow, processor):
    for n in range(3):
        started(db, uow, f"rackshop-mono-{n}")
        db.now += datetime.timedelta(seconds=1)
    db.now += ABANDONED
    assert sweep(uow, processor, limit=2) == {"void": 2}
    assert attempts(db) == ["void", "void", "started"]


def test_sweep_waits_while_the_processor_is_unreachable(db, uow, processor):
    ref = started(db, uow, "rackshop-mono-waiting")
    db.now += ABANDONED
    processor.down = True
    assert sweep(uow, processor) == {}
    assert db.tables.charge_attempts[ref]["status"] == "started"
    processor.down = False
    assert sweep(uow, processor) == {"void": 1}


def test_a_paused_sweepers_attempts_are_taken_over_when_its_lease_runs_out(db, uow,
                                                                             processor):
    ref = started(db, uow, "rackshop-mono-paused")
    db.now += ABANDONED
    with uow:  # a sweeper claims it, then stops (paused, or killed) before settling it
        assert uow.charges.claim_abandoned(payments.ABANDONED_AFTER_SECONDS, 10,
                                           payments.LEASE_SECONDS) == [ref]
        uow.commit()
    assert sweep(uow, processor) == {}  # leased: the other sweeper passes over it
    with uow:
        assert uow.charges.lock(ref) == "claimed"  # and no checkout charges with it
    db.now += datetime.timedelta(seconds=payments.LEASE_SECONDS + 1)
    assert sweep(uow, processor) == {"void": 1}
    assert processor.records[ref].status == "voided"


def test_an_attempt_the_sweep_cannot_settle_is_listed_undecided_with_why(db, uow, processor):
    ref = started(db, uow, "rackshop-mono-stuck")
    assert admin.audit_figures(uow, processor)["undecided"]["count"] == 0  # still young
    db.now += ABANDONED
    processor.down = True
    sweep(uow, processor)
    sweep(uow, processor)
    processor.down = False
    undecided = admin.audit_figures(uow, processor)["undecided"]
    assert undecided["count"] == 1
    [item] = undecided["items"]
    assert item["kind"] == "charge_attempt" and item["id"] == ref and item["attempts"] == 2
    assert item["last_error"].startswith("the card processor cannot be reached")
    assert item["age_seconds"] == ABANDONED.total_seconds()
    sweep(uow, processor)
    assert admin.audit_figures(uow, processor)["undecided"]["count"] == 0


# --- invoicing --------------------------------------------------------------------------

@pytest.fixture
def order_id(buy) -> int:
    return buy(basket((1, 1), (2, 2))).body["id"]


def deliver(uow, order_id, printer=None, mailer=None) -> str:
    return invoicing.deliver(uow, printer or SpoolPrinter(), mailer or MailboxMailer(),
                             order_id)


def test_deliver_prints_when_the_printer_works(db, uow, order_id):
    assert deliver(uow, order_id) == "printed"

    number = invoice_number(order_id, fakes.START)
    [printed] = db.tables.print_spool
    assert printed["order_id"] == order_id and number in printed["document"]
    assert db.tables.mailbox == []
    invoice = db.tables.invoices[order_id]
    assert (invoice["status"], invoice["attempts"], invoice["delivered_at"]) == (
        "printed", 1, db.now)
    assert invoice["emailed_at"] is None
    assert orders.get_order(uow, BUYER, order_id)["invoice_status"] == "printed"


def test_deliver_emails_when_the_printer_is_offline(db, uow, order_id):
    assert deliver(uow, order_id, printer=OfflineDevice("printer")) == "emailed"

    [mail] = db.tables.mailbox
    assert (mail["recipient"], mail["kind"]) == ("ada@rackshop.test", "invoice")
    assert invoice_number(order_id, fakes.START) in mail["subject"]
    assert db.tables.print_spool == []
    invoice = db.tables.invoices[order_id]
    assert invoice["status"] == "emailed"
    assert invoice["emailed_at"] == invoice["delivered_at"] == db.now


def test_deliver_retries_later_when_both_are_offline(db, uow, order_id):
    offline = {"printer": OfflineDevice("printer"), "mailer": OfflineDevice("mailer")}

    assert deliver(uow, order_id, **offline) == "pending"

    invoice = db.tables.invoices[order_id]
    assert (invoice["status"], invoice["attempts"]) == ("pending", 1)
    assert invoice["last_error"]
    assert invoice["next_attempt_at"] == db.now + datetime.timedelta(
        seconds=invoicing.RETRY_BASE_SECONDS)
    assert (db.tables.print_spool, db.tables.mailbox) == ([], [])
    assert invoicing.due_invoices(uow, 10) == []

    db.now = invoice["next_attempt_at"]
    assert invoicing.due_invoices(uow, 10) == [order_id]
    assert deliver(uow, order_id) == "printed"
    assert db.tables.invoices[order_id]["attempts"] == 2
    assert invoicing.due_invoices(uow, 10) == []


def test_deliver_backs_off_exponentially_up_to_the_cap(db, uow, order_id):
    offline = {"printer": OfflineDevice("printer"), "mailer": OfflineDevice("mailer")}
    delays = []
    for _ in range(8):
        deliver(uow, order_id, **offline)
        delays.append((db.tables.invoices[order_id]["next_attempt_at"] - db.now).seconds)
    assert delays == [2, 4, 8, 16, 32, 60, 60, 60]


def test_deliver_skips_an_invoice_already_delivered(db, uow, order_id):
    deliver(uow, order_id)
    assert deliver(uow, order_id) == "skipped"
    assert len(db.tables.print_spool) == 1
    assert db.tables.invoices[order_id]["attempts"] == 1


def test_deliver_skips_an_invoice_another_worker_holds(db, uow, order_id):
    db.locked_invoices.add(order_id)
    assert deliver(uow, order_id) == "skipped"
    assert db.tables.invoices[order_id]["status"] == "pending"


def test_get_invoice_is_the_customers_own(uow, order_id):
    invoice = invoicing.get_invoice(uow, BUYER, order_id)
    assert list(invoice) == ["order_id", "number", "status", "delivered_at", "emailed_at",
                             "text", "html"]
    assert (invoice["order_id"], invoice["status"], invoice["delivered_at"],
            invoice["emailed_at"]) == (order_id, "pending", None, None)
    assert invoice["number"] in invoice["text"] and invoice["number"] in invoice["html"]
    with pytest.raises(NotFound):
        invoicing.get_invoice(uow, OTHER, order_id)


def test_email_invoice_on_request(db, uow, order_id):
    assert invoicing.email_invoice(uow, MailboxMailer(), BUYER, order_id) == {
        "order_id": order_id, "to": "ada@rackshop.test", "status": "accepted"}
    [mail] = db.tables.mailbox
    assert invoice_number(order_id, fakes.START) in mail["subject"]
    assert mail["kind"] == "invoice_copy"
    with pytest.raises(NotFound):
        invoicing.email_invoice(uow, MailboxMailer(), OTHER, order_id)
    assert len(db.tables.mailbox) == 1


def test_email_on_request_sets_emailed_at_and_leaves_the_status(db, uow, order_id):
    deliver(uow, order_id)
    printed = invoicing.get_invoice(uow, BUYER, order_id)
    assert (printed["status"], printed["emailed_at"]) == ("printed", None)

    db.now += datetime.timedelta(minutes=5)
    invoicing.email_invoice(uow, MailboxMailer(), BUYER, order_id)

    after = invoicing.get_invoice(uow, BUYER, order_id)
    assert (after["status"], after["delivered_at"]) == ("printed", printed["delivered_at"])
    assert after["emailed_at"] == db.now.isoformat()
    assert orders.get_order(uow, BUYER, order_id)["invoice_status"] == "printed"


def test_a_copy_on_request_is_no_delivery(db, uow, order_id):
    invoicing.email_invoice(uow, MailboxMailer(), BUYER, order_id)
    invoice = db.tables.invoices[order_id]
    assert (invoice["status"], invoice["attempts"]) == ("pending", 0)
    assert invoice["emailed_at"] == db.now
    # The invoice still needs delivering, and gets it.
    db.now += datetime.timedelta(minutes=1)
    assert invoicing.due_invoices(uow, 10) == [order_id]
    assert deliver(uow, order_id, printer=OfflineDevice("printer")) == "emailed"
    assert [m["kind"] for m in db.tables.mailbox] == ["invoice_copy", "invoice"]


def test_email_on_request_with_the_mailer_offline_changes_nothing(db, uow, order_id):
    with pytest.raises(ServiceUnavailable):
        invoicing.email_invoice(uow, OfflineDevice("mailer"), BUYER, order_id)
    assert db.tables.mailbox == []
    assert db.tables.invoices[order_id]["emailed_at"] is None


# --- the customer's e-mails ---------------------------------------------------------------

def test_emails_list_the_customers_mailbox_newest_first(db, uow, buy, order_id):
    deliver(uow, order_id, printer=OfflineDevice("printer"))
    db.now += datetime.timedelta(minutes=1)
    invoicing.email_invoice(uow, MailboxMailer(), BUYER, order_id)
    others = buy(basket((1, 1)), key="other", customer_id=OTHER).body["id"]
    invoicing.email_invoice(uow, MailboxMailer(), OTHER, others)

    page = emails.list_emails(uow, BUYER, 1, 20)

    assert (page["page"], page["per_page"], page["total"]) == (1, 20, 2)
    copy_mail, delivery_mail = page["items"]
    assert list(copy_mail) == ["id", "to", "subject", "body", "sent_at", "order_id", "kind"]
    assert (copy_mail["kind"], delivery_mail["kind"]) == ("invoice_copy", "invoice")
    assert copy_mail["sent_at"] == db.now.isoformat()
    assert delivery_mail["sent_at"] == fakes.START.isoformat()
    number = invoice_number(order_id, fakes.START)
    for mail in page["items"]:
        assert (mail["to"], mail["order_id"]) == ("ada@rackshop.test", order_id)
        assert number in mail["subject"] and number in mail["body"]
    assert [m["order_id"] for m in emails.list_emails(uow, OTHER, 1, 20)["items"]] == [others]


def test_emails_page_through_and_past_the_end(db, uow, order_id):
    for _ in range(3):
        invoicing.email_invoice(uow, MailboxMailer(), BUYER, order_id)
    ids = [m["id"] for m in db.tables.mailbox]
    # Sent in one instant: the newest is the one sent last.
    assert [m["id"] for m in emails.list_emails(uow, BUYER, 1, 2)["items"]] == ids[:0:-1]
    assert [m["id"] for m in emails.list_emails(uow, BUYER, 2, 2)["items"]] == ids[:1]
    assert emails.list_emails(uow, BUYER, 3, 2) == {"items": [], "page": 3, "per_page": 2,
                                                     "total": 3}


def test_a_customer_without_emails_has_an_empty_mailbox(uow, order_id):
    assert emails.list_emails(uow, OTHER, 1, 20) == {"items": [], "page": 1, "per_page": 20,
                                                      "total": 0}


# --- settings ---------------------------------------------------------------------------

@pytest.mark.parametrize(("make", "name"), [
    (invoicing.printer_from_config, "laser"),
    (invoicing.printer_from_config, ""),
    (invoicing.delivery_from_config, "later"),
    (invoicing.delivery_from_config, "Inline"),
])
def test_unknown_invoice_settings_are_refused(make, name):
    with pytest.raises(RuntimeError, match="INVOICE_"):
        make(name)


def test_known_invoice_settings():
    assert isinstance(invoicing.printer_from_config("spool"), SpoolPrinter)
    assert isinstance(invoicing.printer_from_config("offline"), OfflineDevice)
    assert [invoicing.delivery_from_config(n) for n in ("inline", "deferred")] == [
        "inline", "deferred"]


APP_CONFIG = {"DATABASE_URL": "postgresql://unused", "SECRET_KEY": "s", "ADMIN_TOKEN": "t"}


@pytest.mark.parametrize(("setting", "value"), [("INVOICE_PRINTER", "laser"),
                                                ("INVOICE_DELIVERY", "sometimes")])
def test_the_web_app_and_the_worker_refuse_to_start_on_a_bad_setting(monkeypatch, setting,
                                                                     value):
    monkeypatch.setenv(setting, value)
    with pytest.raises(RuntimeError, match=setting):
        create_app(APP_CONFIG)
    # Before the worker connects anywhere or starts its loop.
    monkeypatch.delenv("DATABASE_URL", raising=False)
    with pytest.raises(RuntimeError, match=setting):
        worker.main()


def test_the_web_app_reads_the_invoice_settings(monkeypatch):
    monkeypatch.setenv("INVOICE_PRINTER", "offline")
    monkeypatch.setenv("INVOICE_DELIVERY", "deferred")
    ext = create_app(APP_CONFIG).extensions["archlab"]
    assert isinstance(ext["printer"], OfflineDevice) and ext["delivery"] == "deferred"
    monkeypatch.delenv("INVOICE_PRINTER")
    monkeypatch.delenv("INVOICE_DELIVERY")
    ext = create_app(APP_CONFIG).extensions["archlab"]
    assert isinstance(ext["printer"], SpoolPrinter) and ext["delivery"] == "inline"


# --- orders -----------------------------------------------------------------------------

def test_orders_are_the_customers_own(uow, order_id):
    assert orders.get_order(uow, BUYER, order_id)["id"] == order_id
    with pytest.raises(NotFound):
        orders.get_order(uow, OTHER, order_id)
    page = orders.list_orders(uow, BUYER, 1, 20)
    assert [(o["id"], o["item_count"]) for o in page["items"]] == [(order_id, 3)]
    assert orders.list_orders(uow, OTHER, 1, 20)["total"] == 0


def test_a_placed_order_reads_back_as_it_was_answered(uow, buy):
    placed = buy(basket((2, 2), (1, 1))).body
    assert orders.get_order(uow, BUYER, placed["id"]) == placed


# --- accounts ---------------------------------------------------------------------------

def test_login_with_the_right_password(uow):
    result = accounts.login(uow, "  Ada@Rackshop.TEST ", PASSWORD, SECRET)
    assert result["customer"] == {"id": BUYER, "email": "ada@rackshop.test",
                                  "name": "Ada Lovelace"}
    assert (result["token_type"], result["expires_in"]) == ("bearer",
                                                            shop_accounts.TOKEN_TTL_SECONDS)
    assert accounts.customer_id_from_token(result["token"], SECRET) == BUYER
    with pytest.raises(InvalidToken):
        accounts.customer_id_from_token(result["token"], "another-secret")


@pytest.mark.parametrize(("email", "password"), [
    ("ada@rackshop.test", "wrong horse"),
    ("nobody@rackshop.test", PASSWORD),
], ids=["wrong-password", "unknown-email"])
def test_login_refused(uow, email, password):
    with pytest.raises(InvalidCredentials):
        accounts.login(uow, email, password, SECRET)


def test_token_whose_subject_is_not_a_customer_id_is_invalid():
    token = issue_token(SECRET, "admin", issuer=shop_accounts.ISSUER,
                        audience=shop_accounts.AUDIENCE, ttl_seconds=60)
    with pytest.raises(InvalidToken):
        accounts.customer_id_from_token(token, SECRET)


# --- admin ------------------------------------------------------------------------------

@pytest.mark.parametrize("body", [
    {"available": True},
    {"available": -1},
    {"available": 100_000_001},
    {"available": 5.5},
    {"available": "5"},
    {"available": 5, "reason": "restock"},
    {},
    [5],
    None,
], ids=["bool", "negative", "too-many", "fraction", "string", "extra-key", "missing", "list",
        "null"])
def test_set_stock_rejects_bad_bodies(db, uow, body):
    with pytest.raises(ValidationError) as caught:
        admin.set_stock(uow, 1, body)
    assert caught.value.details == {"field": "available"}
    assert uow.entered == 0
    assert stock(db, 1) == {"initial": 10, "available": 10, "sold": 0}


def test_set_stock_moves_initial_with_available(db, uow, buy):
    buy(basket((1, 3)))

    restocked = admin.set_stock(uow, 1, {"available": 20})
    assert restocked == {"product_id": 1, "initial": 23, "available": 20, "reserved": 0,
                         "sold": 3}
    written_off = admin.set_stock(uow, 1, {"available": 0})
    assert written_off == {"product_id": 1, "initial": 3, "available": 0, "reserved": 0,
                           "sold": 3}
    assert stock(db, 1) == {"initial": 3, "available": 0, "sold": 3}


def test_set_stock_of_an_unknown_product_is_not_found(uow):
    with pytest.raises(NotFound):
        admin.set_stock(uow, 99, {"available": 1})
    assert uow.commits == 0


def test_audit_figures_after_a_sale(uow, processor, buy):
    order = buy(basket((1, 2))).body
    figures = admin.audit_figures(uow, processor)
    assert list(figures) == ["architecture", "generated_at", "stock", "orders", "payments",
                             "processor", "reservations", "idempotency", "invoices",
                             "undecided"]
    assert figures["undecided"] == {"count": 0, "items": [],
                                    "bound_seconds": payments.decision_bound_seconds(3.0)}
    assert figures["architecture"] == "monolith"
    assert figures["stock"][0] == {"product_id": 1, "initial": 10, "available": 8,
                                   "reserved": 0, "sold": 2}
    assert figures["orders"] == {"PENDING": 0, "PAID": 1, "FAILED": 0,
                                 "paid_total_cents": order["total_cents"], "paid_units": 2}
    assert figures["payments"] == {"captured": 1, "captured_total_cents": order["total_cents"],
                                   "without_order": 0, "paid_orders_not_matched": 0}
    assert figures["processor"] == {"captures": 1, "captured_total_cents": order["total_cents"],
                                    "refunds": 0, "captures_without_payment": 0,
                                    "payments_without_capture": 0}
    assert figures["reservations"] == {"held": 0, "held_units": 0, "held_for_final_orders": 0}
    assert figures["idempotency"] == {"keys": 1, "keys_with_order": 1, "orders_without_key": 0}
    assert figures["invoices"] == {"pending": 1, "printed": 0, "emailed": 0,
                                   "paid_orders_without_invoice": 0, "duplicate_deliveries": 0}


def test_audit_counts_duplicate_deliveries_from_what_was_printed_and_mailed(db, uow, processor,
                                                                            buy):
    printed = buy(basket((1, 1)), key="a").body["id"]
    emailed = buy(basket((1, 1)), key="b").body["id"]
    deliver(uow, printed)
    deliver(uow, emailed, printer=OfflineDevice("printer"))
    # Copies on request are no deliveries, however many.
    for order_id in (printed, emailed, printed):
        invoicing.email_invoice(uow, MailboxMailer(), BUYER, order_id)
    assert admin.audit_figures(uow, processor)["invoices"]["duplicate_deliveries"] == 0

    # A second print and a print on top of the e-mailed delivery: the status cannot tell.
    with uow:
        uow.invoices.spool(printed, "again")
        uow.invoices.spool(emailed, "late print")
        uow.commit()
    invoices = admin.audit_figures(uow, processor)["invoices"]
    assert (invoices["printed"], invoices["emailed"]) == (1, 1)
    assert invoices["duplicate_deliveries"] == 2

    with uow:
        uow.invoices.mail(printed, "invoice", "ada@rackshop.test", "again", "again")
        uow.commit()
    assert admin.audit_figures(uow, processor)["invoices"]["duplicate_deliveries"] == 2


def test_audit_reconciles_only_this_shops_charges(uow, processor, buy):
    buy(basket((1, 1)))
    processor.add("rackshop-ms-order-7", "captured", 5_000)
    processor.add("rackshop-ms-order-8", "refunded", 5_000)
    figures = admin.audit_figures(uow, processor)["processor"]
    assert (figures["captures"], figures["refunds"], figures["captures_without_payment"]) == (
        1, 0, 0)


def test_audit_counts_a_payment_the_processor_does_not_hold_as_captured(db, uow, processor,
                                                                        buy):
    buy(basket((1, 1)))
    [payment] = db.tables.payments
    processor.add(payment["reference"], "refunded", payment["amount_cents"])
    figures = admin.audit_figures(uow, processor)["processor"]
    assert figures == {"captures": 0, "captured_total_cents": 0, "refunds": 1,
                       "captures_without_payment": 0, "payments_without_capture": 1}


def test_audit_without_the_processor_is_unavailable(uow, processor):
    processor.down = True
    with pytest.raises(ServiceUnavailable):
        admin.audit_figures(uow, processor)


# --- catalogue --------------------------------------------------------------------------

def test_search_in_an_unknown_category_is_empty_without_reading(uow):
    assert catalog.search_products(uow, "cable", "no-such-category", 2, 10) == {
        "items": [], "page": 2, "per_page": 10, "total": 0}
    assert uow.entered == 0


def test_search_in_a_category(uow):
    page = catalog.search_products(uow, "  ", " cables ", 1, 1)
    assert [p["id"] for p in page["items"]] == [2]
    assert (page["page"], page["per_page"], page["total"]) == (1, 1, 2)
    assert page["items"][0] == {"id": 2, "sku": "TST-00002", "name": "Test product 2",
                                "category": "cables", "price_cents": 2_499, "currency": "EUR"}


def test_product_with_its_stock(uow):
    assert catalog.get_product(uow, 1)["stock"] == {"available": 10, "status": "in_stock"}
    assert catalog.get_product(uow, 3)["stock"] == {"available": 0, "status": "out_of_stock"}
    with pytest.raises(NotFound):
        catalog.get_product(uow, 99)
