"""The monolith's business layer against fake repositories: checkout, invoicing,
accounts, admin and catalogue, with no database and no mocks of our own code."""

import copy
import datetime
import inspect

import pytest

from monolith.data import repositories
from monolith.services import accounts, admin, catalog, checkout, invoicing, orders
from monolith.services.checkout import CheckoutResult, InProgress, KeyMismatch
from monolith.services.invoicing import MailboxMailer, OfflineDevice, SpoolPrinter
from shop import accounts as shop_accounts
from shop.errors import (
    InvalidCredentials,
    InvalidToken,
    NotFound,
    PaymentUnavailable,
    ValidationError,
)
from shop.invoices import invoice_number
from shop.money import totals
from shop.passwords import hash_password
from shop.tokens import issue_token
from tests.unit import fakes

TODAY = datetime.date(2026, 1, 15)
SECRET = "unit-test-secret"
PASSWORD = "correct horse"
# scrypt costs ~72 ms per hash: hash once for the whole module.
PASSWORD_HASH = hash_password(PASSWORD, salt="unit-test-salt")

BUYER = 1
OTHER = 2
CARD = {"number": "4242 4242 4242 4242", "exp_month": 12, "exp_year": 2030, "cvc": "123",
        "holder": "Ada Lovelace"}
DECLINED = CARD | {"number": "4000000000000002"}
PROCESSOR_ERROR = CARD | {"number": "4000000000000119"}


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


def basket(*lines, card=CARD) -> dict:
    return {"items": [{"product_id": p, "quantity": q} for p, q in lines], "card": card}


def buy(uow, body, key="key-1", customer_id=BUYER) -> CheckoutResult:
    return checkout.checkout(uow, customer_id, key, body, today=TODAY)


def stock(db, product_id) -> dict:
    return dict(db.tables.stock[product_id])


# --- the fakes keep the real repositories' shape ----------------------------------------

REPOSITORY_PAIRS = [
    (repositories.ProductRepository, fakes.FakeProductRepository),
    (repositories.CustomerRepository, fakes.FakeCustomerRepository),
    (repositories.OrderRepository, fakes.FakeOrderRepository),
    (repositories.PaymentRepository, fakes.FakePaymentRepository),
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

def test_checkout_sells_records_payment_invoice_and_key(db, uow):
    body = basket((2, 3), (1, 1))
    result = buy(uow, body)

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
    assert db.tables.payments == [{"order_id": order["id"], "status": "captured",
                                   "amount_cents": expected.total_cents, "card_last4": "4242"}]
    assert db.tables.invoices[order["id"]]["status"] == "pending"
    saved = db.tables.idempotency_keys[(BUYER, "key-1")]
    assert (saved["status_code"], saved["order_id"], saved["response"]) == (
        201, order["id"], order)
    assert saved["request_hash"] == checkout.fingerprint(body)
    assert uow.commits == 1


def test_checkout_replay_answers_the_same_and_sells_nothing_more(db, uow):
    first = buy(uow, basket((1, 2)))
    tables = copy.deepcopy(db.tables)

    again = buy(uow, basket((1, 2)))

    assert again == CheckoutResult(201, first.body, replayed=True)
    assert db.tables == tables
    assert len(db.tables.orders) == 1


def test_checkout_key_reused_for_another_body_is_refused(db, uow):
    buy(uow, basket((1, 2)))
    tables = copy.deepcopy(db.tables)
    with pytest.raises(KeyMismatch):
        buy(uow, basket((1, 3)))
    assert db.tables == tables


def test_checkout_keys_are_scoped_to_the_customer(db, uow):
    buy(uow, basket((1, 1)))
    other = buy(uow, basket((1, 1)), customer_id=OTHER)
    assert (other.status, other.replayed) == (201, False)
    assert len(db.tables.orders) == 2


def test_checkout_while_the_key_is_held_elsewhere_is_in_progress(db, uow):
    db.held_keys.add((BUYER, "key-1"))
    tables = copy.deepcopy(db.tables)
    with pytest.raises(InProgress):
        buy(uow, basket((1, 1)))
    assert db.tables == tables


def test_checkout_declined_card_is_a_stored_402_and_sells_nothing(db, uow):
    result = buy(uow, basket((1, 2), card=DECLINED))

    assert result.status == 402
    assert result.body["error"] == "payment_declined"
    assert stock(db, 1) == {"initial": 10, "available": 10, "sold": 0}
    assert (db.tables.orders, db.tables.payments, db.tables.invoices) == ({}, [], {})
    saved = db.tables.idempotency_keys[(BUYER, "key-1")]
    assert (saved["status_code"], saved["order_id"], saved["response"]) == (
        402, None, result.body)
    assert buy(uow, basket((1, 2), card=DECLINED)) == CheckoutResult(402, result.body, True)


def test_checkout_processor_error_is_unavailable_and_stores_nothing(db, uow):
    tables = copy.deepcopy(db.tables)
    with pytest.raises(PaymentUnavailable):
        buy(uow, basket((1, 2), card=PROCESSOR_ERROR))
    assert db.tables == tables
    # Not final: the same key goes through once the processor answers.
    assert buy(uow, basket((1, 2))).status == 201


def test_checkout_out_of_stock_is_a_stored_409_and_sells_nothing(db, uow):
    result = buy(uow, basket((1, 1), (2, 6), (3, 1)))

    assert result.status == 409
    assert result.body["error"] == "out_of_stock"
    assert result.body["details"] == {"product_ids": [2, 3]}
    assert [stock(db, p)["sold"] for p in (1, 2, 3)] == [0, 0, 0]
    assert (db.tables.orders, db.tables.payments, db.tables.invoices) == ({}, [], {})
    assert db.tables.idempotency_keys[(BUYER, "key-1")]["status_code"] == 409


def test_checkout_unknown_product_is_a_validation_error(db, uow):
    tables = copy.deepcopy(db.tables)
    with pytest.raises(ValidationError) as caught:
        buy(uow, basket((1, 1), (99, 1)))
    assert caught.value.details == {"field": "items", "product_ids": [99]}
    assert db.tables == tables


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
def test_checkout_invalid_body_is_a_validation_error_and_stores_nothing(db, uow, body, field):
    tables = copy.deepcopy(db.tables)
    with pytest.raises(ValidationError) as caught:
        buy(uow, body)
    assert caught.value.details["field"] == field
    assert db.tables == tables


# --- invoicing --------------------------------------------------------------------------

@pytest.fixture
def order_id(uow) -> int:
    return buy(uow, basket((1, 1), (2, 2))).body["id"]


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
    assert orders.get_order(uow, BUYER, order_id)["invoice_status"] == "printed"


def test_deliver_emails_when_the_printer_is_offline(db, uow, order_id):
    assert deliver(uow, order_id, printer=OfflineDevice("printer")) == "emailed"

    [mail] = db.tables.mailbox
    assert mail["recipient"] == "ada@rackshop.test"
    assert invoice_number(order_id, fakes.START) in mail["subject"]
    assert db.tables.print_spool == []
    assert db.tables.invoices[order_id]["status"] == "emailed"


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
    assert (invoice["order_id"], invoice["status"], invoice["delivered_at"]) == (
        order_id, "pending", None)
    assert invoice["number"] in invoice["text"] and invoice["number"] in invoice["html"]
    with pytest.raises(NotFound):
        invoicing.get_invoice(uow, OTHER, order_id)


def test_email_invoice_on_request(db, uow, order_id):
    assert invoicing.email_invoice(uow, MailboxMailer(), BUYER, order_id) == {
        "order_id": order_id, "to": "ada@rackshop.test", "status": "accepted"}
    [mail] = db.tables.mailbox
    assert invoice_number(order_id, fakes.START) in mail["subject"]
    with pytest.raises(NotFound):
        invoicing.email_invoice(uow, MailboxMailer(), OTHER, order_id)
    assert len(db.tables.mailbox) == 1


# --- orders -----------------------------------------------------------------------------

def test_orders_are_the_customers_own(uow, order_id):
    assert orders.get_order(uow, BUYER, order_id)["id"] == order_id
    with pytest.raises(NotFound):
        orders.get_order(uow, OTHER, order_id)
    page = orders.list_orders(uow, BUYER, 1, 20)
    assert [(o["id"], o["item_count"]) for o in page["items"]] == [(order_id, 3)]
    assert orders.list_orders(uow, OTHER, 1, 20)["total"] == 0


def test_a_placed_order_reads_back_as_it_was_answered(uow):
    placed = buy(uow, basket((2, 2), (1, 1))).body
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


def test_set_stock_moves_initial_with_available(db, uow):
    buy(uow, basket((1, 3)))

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


def test_audit_figures_after_a_sale(uow):
    order = buy(uow, basket((1, 2))).body
    figures = admin.audit_figures(uow)
    assert figures["architecture"] == "monolith"
    assert figures["stock"][0] == {"product_id": 1, "initial": 10, "available": 8,
                                   "reserved": 0, "sold": 2}
    assert figures["orders"] == {"PENDING": 0, "PAID": 1, "FAILED": 0,
                                 "paid_total_cents": order["total_cents"], "paid_units": 2}
    assert figures["payments"] == {"captured": 1, "captured_total_cents": order["total_cents"],
                                   "without_order": 0, "paid_orders_not_matched": 0}
    assert figures["idempotency"] == {"keys": 1, "keys_with_order": 1, "orders_without_key": 0}
    assert figures["invoices"] == {"pending": 1, "printed": 0, "emailed": 0,
                                   "paid_orders_without_invoice": 0}


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
