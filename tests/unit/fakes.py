"""In-memory stand-ins for monolith/data and the card processor: a fake unit of work
over plain Python tables, and a fake processor with scripted outcomes.

Each fake repository has the method names, signatures and return shapes of its real
counterpart in monolith/data/repositories.py, so the services run against them
unchanged. The tables live in one FakeDatabase that tests set up and inspect; leaving
a `with uow:` block without `uow.commit()` restores them, as a rollback would.
FakeCardProcessor keeps cardprocessor.client.CardProcessor's interface and the
simulator's rules (idempotent by reference, tombstones), without HTTP.
"""

import contextlib
import copy
import datetime
import json
from collections.abc import Iterator
from dataclasses import dataclass, field, fields

from cardprocessor.client import Charge, ChargeFailed, OutcomeUnknown, ProcessorUnavailable
from monolith.data.repositories import EmailRow, OrderRow, SavedOutcome
from shop.cards import LATE_ANSWER_CARD, Card, Outcome, authorize
from shop.catalog import CATEGORIES
from shop.orders import PricedOrder
from shopdata.catalog import ProductRow

# A fixed clock: tests move it forward explicitly to reach retry times.
START = datetime.datetime(2026, 1, 15, 12, 0, tzinfo=datetime.UTC)


class IntegrityError(Exception):
    """A write the real schema's constraints would refuse (e.g. a second row for a key)."""


@dataclass
class Tables:
    """The database's rows; everything in here is rolled back with the transaction."""

    products: dict[int, ProductRow] = field(default_factory=dict)
    stock: dict[int, dict] = field(default_factory=dict)
    customers: dict[int, tuple[int, str, str, str]] = field(default_factory=dict)
    orders: dict[int, dict] = field(default_factory=dict)
    payments: list[dict] = field(default_factory=list)
    charge_attempts: dict[str, dict] = field(default_factory=dict)
    idempotency_keys: dict[tuple[int, str], dict] = field(default_factory=dict)
    invoices: dict[int, dict] = field(default_factory=dict)
    print_spool: list[dict] = field(default_factory=list)
    mailbox: list[dict] = field(default_factory=list)
    next_order_id: int = 1
    next_mail_id: int = 1


@dataclass
class FakeDatabase:
    """Tables plus what lives outside any transaction: the clock and locks held elsewhere."""

    tables: Tables = field(default_factory=Tables)
    now: datetime.datetime = START
    # (customer_id, key) pairs whose advisory lock another request holds.
    held_keys: set[tuple[int, str]] = field(default_factory=set)
    # Invoices another worker has locked (SKIP LOCKED passes over them).
    locked_invoices: set[int] = field(default_factory=set)
    # Charge attempts whose row lock another transaction holds (a running checkout).
    locked_attempts: set[str] = field(default_factory=set)

    def add_product(self, product_id: int, price_cents: int, available: int, *,
                    category: str = "servers", name: str | None = None,
                    description: str = "A test product.") -> ProductRow:
        """Insert a product with `available` units in stock (none sold yet)."""
        row = ProductRow(id=product_id, sku=f"TST-{product_id:05d}",
                         name=name or f"Test product {product_id}", category=category,
                         description=description, price_cents=price_cents)
        self.tables.products[product_id] = row
        self.tables.stock[product_id] = {"initial": available, "available": available,
                                         "sold": 0}
        return row

    def add_customer(self, customer_id: int, email: str, name: str,
                     password_hash: str) -> None:
        """Insert a customer."""
        self.tables.customers[customer_id] = (customer_id, email, name, password_hash)


class FakeProductRepository:
    """Products, categories and stock."""

    def __init__(self, db: FakeDatabase):
        self.db = db

    def categories(self) -> list[tuple[str, str, int]]:
        """(slug, name, product count) in display order."""
        products = self.db.tables.products.values()
        return [(slug, name, sum(p.category == slug for p in products))
                for slug, name in CATEGORIES]

    def search(self, q: str | None, category: str | None, limit: int,
               offset: int) -> tuple[list[ProductRow], int]:
        """One page of products matching every word of `q` and the category, and the total."""
        words = (q or "").lower().split()
        hits = [p for _, p in sorted(self.db.tables.products.items())
                if (category is None or p.category == category)
                and all(w in f"{p.name} {p.sku} {p.description}".lower() for w in words)]
        return hits[offset:offset + limit], len(hits)

    def get(self, product_id: int) -> ProductRow | None:
        """A product, or None."""
        return self.db.tables.products.get(product_id)

    def by_ids(self, product_ids: list[int]) -> list[ProductRow]:
        """The products with these ids that exist, by id."""
        products = self.db.tables.products
        return [products[pid] for pid in sorted(set(product_ids)) if pid in products]

    def get_with_stock(self, product_id: int) -> tuple[ProductRow, int] | None:
        """A product and its available units, or None."""
        t = self.db.tables
        if product_id not in t.products:
            return None
        return t.products[product_id], t.stock[product_id]["available"]

    def lock_for_sale(self, product_ids: list[int]) -> dict[int, tuple[ProductRow, int]]:
        """Each existing product of `product_ids` with its available units."""
        t = self.db.tables
        return {pid: (t.products[pid], t.stock[pid]["available"])
                for pid in sorted(product_ids) if pid in t.products}

    def sell(self, product_id: int, quantity: int) -> bool:
        """Move units from available to sold; False when not enough are available."""
        row = self.db.tables.stock.get(product_id)
        if row is None or row["available"] < quantity:
            return False
        row["available"] -= quantity
        row["sold"] += quantity
        return True

    def set_stock(self, product_id: int, available: int) -> tuple[int, int, int] | None:
        """Set available units; `initial` moves by the same amount. (initial, available, sold)."""
        row = self.db.tables.stock.get(product_id)
        if row is None:
            return None
        row["initial"] += available - row["available"]
        row["available"] = available
        return row["initial"], row["available"], row["sold"]

    def stock_levels(self) -> list[tuple[int, int, int, int]]:
        """(product_id, initial, available, sold) for every product."""
        return [(pid, s["initial"], s["available"], s["sold"])
                for pid, s in sorted(self.db.tables.stock.items())]


class FakeCustomerRepository:
    """Customers and their credentials."""

    def __init__(self, db: FakeDatabase):
        self.db = db

    def by_email(self, email: str) -> tuple[int, str, str, str] | None:
        """(id, email, name, password_hash) or None."""
        return next((c for c in self.db.tables.customers.values() if c[1] == email), None)

    def get(self, customer_id: int) -> tuple[int, str, str] | None:
        """(id, email, name) or None."""
        row = self.db.tables.customers.get(customer_id)
        return row[:3] if row else None


class FakeOrderRepository:
    """Orders with their lines."""

    def __init__(self, db: FakeDatabase):
        self.db = db

    def add(self, customer_id: int, status: str, priced: PricedOrder,
            card_last4: str) -> tuple[int, datetime.datetime]:
        """Insert an order and its lines; returns (id, created_at)."""
        t = self.db.tables
        order_id, t.next_order_id = t.next_order_id, t.next_order_id + 1
        t.orders[order_id] = {
            "id": order_id, "customer_id": customer_id, "status": status,
            "created_at": self.db.now, "subtotal_cents": priced.totals.subtotal_cents,
            "vat_cents": priced.totals.vat_cents, "total_cents": priced.totals.total_cents,
            "card_last4": card_last4,
            "lines": [{"product_id": ln.product_id, "sku": ln.sku, "name": ln.name,
                       "quantity": ln.quantity, "unit_price_cents": ln.unit_price_cents,
                       "line_total_cents": ln.line_total_cents} for ln in priced.lines],
        }
        return order_id, self.db.now

    def get(self, order_id: int, customer_id: int | None = None) -> OrderRow | None:
        """An order (only if it belongs to `customer_id`, when given)."""
        o = self.db.tables.orders.get(order_id)
        if o is None or customer_id is not None and o["customer_id"] != customer_id:
            return None
        invoice = self.db.tables.invoices.get(order_id)
        lines = sorted(o["lines"], key=lambda ln: ln["product_id"])
        return OrderRow(
            id=o["id"], customer_id=o["customer_id"], status=o["status"],
            created_at=o["created_at"], subtotal_cents=o["subtotal_cents"],
            vat_cents=o["vat_cents"], total_cents=o["total_cents"], card_last4=o["card_last4"],
            invoice_status=invoice["status"] if invoice else "pending",
            invoice_delivered_at=invoice["delivered_at"] if invoice else None,
            invoice_emailed_at=invoice["emailed_at"] if invoice else None,
            lines=tuple(dict(ln) for ln in lines))

    def page_for_customer(self, customer_id: int, limit: int,
                          offset: int) -> tuple[list[tuple], int]:
        """(id, status, created_at, total_cents, item_count) newest first, and the total."""
        mine = [o for _, o in sorted(self.db.tables.orders.items(), reverse=True)
                if o["customer_id"] == customer_id]
        page = [(o["id"], o["status"], o["created_at"], o["total_cents"],
                 sum(ln["quantity"] for ln in o["lines"])) for o in mine[offset:offset + limit]]
        return page, len(mine)


class FakePaymentRepository:
    """Captured card payments."""

    def __init__(self, db: FakeDatabase):
        self.db = db

    def capture(self, order_id: int, amount_cents: int, card_last4: str,
                reference: str) -> None:
        """Record a payment the card processor captured under `reference` for an order."""
        payments = self.db.tables.payments
        if any(p["reference"] == reference for p in payments):
            raise IntegrityError(f"duplicate payment reference {reference}")
        payments.append({"order_id": order_id, "status": "captured",
                         "amount_cents": amount_cents, "card_last4": card_last4,
                         "reference": reference})


class FakeChargeAttemptRepository:
    """Charge attempts, one per reference sent (or about to be sent) to the processor."""

    def __init__(self, db: FakeDatabase):
        self.db = db

    def start(self, reference: str, customer_id: int) -> None:
        """Record an attempt about to charge under `reference`."""
        attempts = self.db.tables.charge_attempts
        if reference in attempts:
            raise IntegrityError(f"duplicate charge attempt {reference}")
        attempts[reference] = {"customer_id": customer_id, "status": "started",
                               "order_id": None, "attempts": 0, "last_error": None,
                               "lease_until": None, "created_at": self.db.now,
                               "updated_at": self.db.now}

    def lock(self, reference: str) -> str | None:
        """An attempt's status, "claimed" once a worker took it for abandoned (its row
        lock is the test's to model); None if unknown."""
        attempt = self.db.tables.charge_attempts.get(reference)
        if attempt is None:
            return None
        return "claimed" if attempt["lease_until"] is not None else attempt["status"]

    def finish(self, reference: str, status: str, order_id: int | None = None) -> None:
        """Record an attempt's final status (and the order its capture paid for)."""
        attempt = self.db.tables.charge_attempts.get(reference)
        if attempt is not None:
            attempt.update(status=status, order_id=order_id, updated_at=self.db.now)

    def note_error(self, reference: str, error: str) -> None:
        """Count a failed try to settle an abandoned attempt, and keep why it failed."""
        attempt = self.db.tables.charge_attempts[reference]
        attempt.update(attempts=attempt["attempts"] + 1, last_error=error[:500],
                       lease_until=self.db.now, updated_at=self.db.now)

    def claim_abandoned(self, older_than_seconds: float, limit: int,
                        lease_seconds: float) -> list[str]:
        """Lease up to `limit` attempts still 'started' after `older_than_seconds`, oldest
        first, passing over those another transaction holds or another worker leased."""
        cutoff = self.db.now - datetime.timedelta(seconds=older_than_seconds)
        found = sorted((a["created_at"], ref)
                       for ref, a in self.db.tables.charge_attempts.items()
                       if a["status"] == "started" and a["created_at"] < cutoff
                       and ref not in self.db.locked_attempts
                       and (a["lease_until"] is None or a["lease_until"] <= self.db.now))
        claimed = [ref for _, ref in found[:limit]]
        for ref in claimed:
            self.db.tables.charge_attempts[ref]["lease_until"] = (
                self.db.now + datetime.timedelta(seconds=lease_seconds))
        return claimed

    def settle(self, reference: str, status: str) -> bool:
        """Record an abandoned attempt's final status, unless it was settled already."""
        attempt = self.db.tables.charge_attempts[reference]
        if attempt["status"] != "started":
            return False
        attempt.update(status=status, updated_at=self.db.now)
        return True


class FakeIdempotencyRepository:
    """Idempotency keys and the final outcomes they replay."""

    def __init__(self, db: FakeDatabase):
        self.db = db

    def try_lock(self, customer_id: int, key: str) -> bool:
        """Take the lock on (customer, key); False if another request holds it."""
        return (customer_id, key) not in self.db.held_keys

    def get(self, customer_id: int, key: str) -> SavedOutcome | None:
        """The stored final outcome for this key, if any."""
        row = self.db.tables.idempotency_keys.get((customer_id, key))
        if row is None:
            return None
        return SavedOutcome(row["request_hash"], row["status_code"],
                            copy.deepcopy(row["response"]))

    def save(self, customer_id: int, key: str, request_hash: str, status_code: int,
             response: dict, order_id: int | None) -> None:
        """Store a final outcome; a second one for the key fails like the primary key."""
        keys = self.db.tables.idempotency_keys
        if (customer_id, key) in keys:
            raise IntegrityError(f"duplicate idempotency key {(customer_id, key)}")
        # Through JSON, as the real jsonb column does: what comes back is what a replay sends.
        keys[(customer_id, key)] = {"request_hash": request_hash, "status_code": status_code,
                                    "response": json.loads(json.dumps(response)),
                                    "order_id": order_id}


class FakeInvoiceRepository:
    """Invoice delivery state, the print spool and the mailbox."""

    def __init__(self, db: FakeDatabase):
        self.db = db

    def add_pending(self, order_id: int, due_in_seconds: float) -> None:
        """Register an order's invoice as pending delivery, due in `due_in_seconds`."""
        invoices = self.db.tables.invoices
        if order_id in invoices:
            raise IntegrityError(f"duplicate invoice for order {order_id}")
        invoices[order_id] = {
            "status": "pending",
            "next_attempt_at": self.db.now + datetime.timedelta(seconds=due_in_seconds),
            "attempts": 0, "last_error": None, "delivered_at": None, "emailed_at": None}

    def lock_pending(self, order_id: int) -> bool:
        """Lock a pending invoice for delivery; False if delivered or taken by another."""
        invoice = self.db.tables.invoices.get(order_id)
        return (invoice is not None and invoice["status"] == "pending"
                and order_id not in self.db.locked_invoices)

    def due(self, limit: int) -> list[int]:
        """Up to `limit` pending invoices whose retry time has come, earliest first."""
        due = sorted((inv["next_attempt_at"], order_id)
                     for order_id, inv in self.db.tables.invoices.items()
                     if inv["status"] == "pending" and inv["next_attempt_at"] <= self.db.now)
        return [order_id for _, order_id in due[:limit]]

    def mark_delivered(self, order_id: int, status: str) -> None:
        """Record delivery: status 'printed' or 'emailed'."""
        invoice = self.db.tables.invoices.get(order_id)
        if invoice is not None:
            invoice.update(status=status, delivered_at=self.db.now,
                           attempts=invoice["attempts"] + 1, last_error=None)

    def mark_failed(self, order_id: int, error: str, retry_in_seconds: float) -> None:
        """Record a failed attempt and when to retry."""
        invoice = self.db.tables.invoices.get(order_id)
        if invoice is not None:
            invoice.update(attempts=invoice["attempts"] + 1, last_error=error[:500],
                           next_attempt_at=self.db.now
                           + datetime.timedelta(seconds=retry_in_seconds))

    def attempts(self, order_id: int) -> int:
        """How many delivery attempts an invoice has had."""
        invoice = self.db.tables.invoices.get(order_id)
        return invoice["attempts"] if invoice else 0

    def spool(self, order_id: int, document: str) -> None:
        """Put a document on the print spool."""
        self.db.tables.print_spool.append({"order_id": order_id, "document": document})

    def mail(self, order_id: int, kind: str, recipient: str, subject: str, body: str) -> None:
        """Put a message of `kind` ('invoice' or 'invoice_copy') in the outgoing mailbox."""
        t = self.db.tables
        if kind not in ("invoice", "invoice_copy"):
            raise IntegrityError(f"mailbox kind {kind!r} is not allowed")
        mail_id, t.next_mail_id = t.next_mail_id, t.next_mail_id + 1
        t.mailbox.append({"id": mail_id, "order_id": order_id, "kind": kind,
                          "recipient": recipient, "subject": subject, "body": body,
                          "created_at": self.db.now})

    def mark_emailed(self, order_id: int) -> None:
        """Record that the invoice was e-mailed just now (its delivery status stays)."""
        invoice = self.db.tables.invoices.get(order_id)
        if invoice is not None:
            invoice["emailed_at"] = self.db.now

    def emails_for_customer(self, customer_id: int, limit: int,
                            offset: int) -> tuple[list[EmailRow], int]:
        """The mailbox's messages about the customer's orders, newest first, and the total."""
        t = self.db.tables
        mine = sorted((m for m in t.mailbox
                       if t.orders.get(m["order_id"], {}).get("customer_id") == customer_id),
                      key=lambda m: (m["created_at"], m["id"]), reverse=True)
        page = [EmailRow(id=m["id"], order_id=m["order_id"], kind=m["kind"],
                         recipient=m["recipient"], subject=m["subject"], body=m["body"],
                         created_at=m["created_at"]) for m in mine[offset:offset + limit]]
        return page, len(mine)


class FakeAuditRepository:
    """The raw figures behind the invariants."""

    def __init__(self, db: FakeDatabase):
        self.db = db

    def undecided(self, older_than_seconds: float, limit: int) -> tuple[int, list[dict]]:
        """Charge attempts still 'started' after `older_than_seconds`, oldest first: how
        many, and up to `limit` of them."""
        cutoff = self.db.now - datetime.timedelta(seconds=older_than_seconds)
        found = sorted((a["created_at"], ref, a)
                       for ref, a in self.db.tables.charge_attempts.items()
                       if a["status"] == "started" and a["created_at"] < cutoff)
        return len(found), [
            {"kind": "charge_attempt", "id": ref,
             "age_seconds": round((self.db.now - a["created_at"]).total_seconds(), 1),
             "attempts": a["attempts"], "last_error": a["last_error"]}
            for _, ref, a in found[:limit]]

    def payment_references(self) -> list[str]:
        """The processor reference of every captured payment."""
        return [p["reference"] for p in self.db.tables.payments if p["status"] == "captured"]

    def figures(self) -> dict:
        """Counts of orders, payments, keys and invoices (stock comes from products)."""
        t = self.db.tables
        paid = {oid: o for oid, o in t.orders.items() if o["status"] == "PAID"}
        by_status = {"PENDING": 0, "PAID": 0, "FAILED": 0}
        for o in t.orders.values():
            by_status[o["status"]] = by_status.get(o["status"], 0) + 1
        captured = [p for p in t.payments if p["status"] == "captured"]
        not_matched = sum(
            1 for oid, o in paid.items()
            if sum(p["order_id"] == oid and p["amount_cents"] == o["total_cents"]
                   for p in captured) != 1
            or any(p["order_id"] == oid and p["amount_cents"] != o["total_cents"]
                   for p in t.payments))
        keyed_orders = {k["order_id"] for k in t.idempotency_keys.values()}
        invoices = {"pending": 0, "printed": 0, "emailed": 0}
        for inv in t.invoices.values():
            invoices[inv["status"]] += 1
        invoices["paid_orders_without_invoice"] = sum(oid not in t.invoices for oid in paid)
        deliveries: dict[int, int] = {}
        for row in [*t.print_spool, *(m for m in t.mailbox if m["kind"] == "invoice")]:
            deliveries[row["order_id"]] = deliveries.get(row["order_id"], 0) + 1
        invoices["duplicate_deliveries"] = sum(n > 1 for n in deliveries.values())
        return {
            "orders": by_status | {
                "paid_total_cents": sum(o["total_cents"] for o in paid.values()),
                "paid_units": sum(ln["quantity"] for o in paid.values() for ln in o["lines"])},
            "payments": {"captured": len(captured),
                         "captured_total_cents": sum(p["amount_cents"] for p in captured),
                         "without_order": sum(p["order_id"] not in paid for p in captured),
                         "paid_orders_not_matched": not_matched},
            "idempotency": {"keys": len(t.idempotency_keys),
                            "keys_with_order": sum(k["order_id"] is not None
                                                   for k in t.idempotency_keys.values()),
                            "orders_without_key": sum(oid not in keyed_orders
                                                      for oid in t.orders)},
            "invoices": invoices,
        }


class FakeUnitOfWork:
    """One transaction over a FakeDatabase: commit keeps the writes, anything else undoes them."""

    def __init__(self, db: FakeDatabase | None = None):
        self.db = db if db is not None else FakeDatabase()
        self.entered = 0
        self.commits = 0
        self.autocommits = 0
        self._snapshot: Tables | None = None
        self.products = FakeProductRepository(self.db)
        self.customers = FakeCustomerRepository(self.db)
        self.orders = FakeOrderRepository(self.db)
        self.payments = FakePaymentRepository(self.db)
        self.charges = FakeChargeAttemptRepository(self.db)
        self.idempotency = FakeIdempotencyRepository(self.db)
        self.invoices = FakeInvoiceRepository(self.db)
        self.audit = FakeAuditRepository(self.db)

    def __enter__(self) -> "FakeUnitOfWork":
        if self._snapshot is not None:
            raise RuntimeError("a unit of work is one transaction; it does not nest")
        self.entered += 1
        self._snapshot = copy.deepcopy(self.db.tables)
        return self

    @contextlib.contextmanager
    def autocommitted(self) -> Iterator["FakeUnitOfWork"]:
        """Keep the block's writes at once, before the transaction begins."""
        if self.db.tables != self._snapshot:
            raise RuntimeError("the transaction has already begun")
        try:
            yield self
        finally:
            self.autocommits += 1
            self._snapshot = copy.deepcopy(self.db.tables)

    def commit(self) -> None:
        """Make the transaction's writes durable."""
        self.commits += 1
        self._snapshot = copy.deepcopy(self.db.tables)

    def rollback(self) -> None:
        """Throw away the writes since the last commit."""
        # In place, so a test's reference to db.tables stays the live one.
        restored = copy.deepcopy(self._snapshot)
        for f in fields(Tables):
            setattr(self.db.tables, f.name, getattr(restored, f.name))

    def __exit__(self, exc_type, exc, tb):
        self.rollback()
        self._snapshot = None
        return False


class FakeCardProcessor:
    """The card processor in memory, with CardProcessor's interface.

    Without a script a charge follows the simulator's test cards (shop.cards): captured,
    declined, ChargeFailed for the processor-error card, and for the late card a capture
    whose answer never arrives (OutcomeUnknown). `script` overrides that, one outcome per
    charge: "captured", "declined", "failed" (ChargeFailed, nothing recorded), "unknown"
    (captured, then OutcomeUnknown), "lost" (OutcomeUnknown, nothing recorded - the
    request is still on its way; `arrive` delivers it later) or "voided" (the reference
    was voided before the request arrived). `down` makes every call fail as an
    unreachable processor does.
    """

    timeout = 3.0

    def __init__(self):
        self.records: dict[str, Charge] = {}
        self.script: list[str] = []
        self.down = False
        self.calls: list[tuple[str, str]] = []
        self.in_flight: dict[str, tuple[int, Card]] = {}

    def charge(self, reference: str, amount_cents: int, card: Card) -> Charge:
        """Charge `card` once for `reference` (a replay answers the first record)."""
        self.calls.append(("charge", reference))
        if self.down:
            raise ChargeFailed("card processor not reached")
        if self.script:
            outcome = self.script.pop(0)
        elif card.number == LATE_ANSWER_CARD:
            outcome = "unknown"
        else:
            outcome = {Outcome.APPROVED: "captured", Outcome.DECLINED: "declined",
                       Outcome.PROCESSOR_ERROR: "failed"}[authorize(card, amount_cents)]
        if outcome == "failed":
            raise ChargeFailed("processor_error: the card processor failed")
        if outcome == "lost":
            self.in_flight[reference] = (amount_cents, card)
            raise OutcomeUnknown(f"charge {reference!r}: read timeout")
        if outcome == "voided":
            self.records.setdefault(reference, Charge(reference, "voided", 0, ""))
        status = "declined" if outcome == "declined" else "captured"
        charge = self._record(reference, status, amount_cents, card.number[-4:])
        if outcome == "unknown":
            raise OutcomeUnknown(f"charge {reference!r}: read timeout")
        return charge

    def arrive(self, reference: str) -> Charge:
        """A "lost" charge request reaches the processor at last."""
        amount_cents, card = self.in_flight.pop(reference)
        return self._record(reference, "captured", amount_cents, card.number[-4:])

    def refund(self, reference: str) -> Charge:
        """Refund a captured charge; void a reference never charged (a tombstone)."""
        self.calls.append(("refund", reference))
        self._reachable()
        found = self.records.get(reference)
        if found is None:
            found = self.records[reference] = Charge(reference, "voided", 0, "")
        elif found.status == "captured":
            found = self.records[reference] = Charge(reference, "refunded",
                                                     found.amount_cents, found.card_last4)
        return found

    def lookup(self, reference: str) -> Charge | None:
        """The record for `reference`, or None."""
        self.calls.append(("lookup", reference))
        self._reachable()
        return self.records.get(reference)

    def charges(self) -> list[Charge]:
        """Every record, oldest first."""
        self.calls.append(("charges", ""))
        self._reachable()
        return list(self.records.values())

    def add(self, reference: str, status: str, amount_cents: int = 1_000,
            card_last4: str = "4242") -> Charge:
        """Put a record on file directly (another merchant's, or one from the past)."""
        charge = self.records[reference] = Charge(reference, status, amount_cents, card_last4)
        return charge

    def _record(self, reference: str, status: str, amount_cents: int,
                card_last4: str) -> Charge:
        # Idempotent by reference: a replay, or a charge after a tombstone, finds the record.
        if reference not in self.records:
            self.records[reference] = Charge(reference, status, amount_cents, card_last4)
        return self.records[reference]

    def _reachable(self) -> None:
        if self.down:
            raise ProcessorUnavailable("card processor not reached")
