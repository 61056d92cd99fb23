"""Repositories: small classes over SQL with bound parameters, one per aggregate.

Each takes a psycopg2 cursor from the unit of work; none commits.
"""

import json
from dataclasses import dataclass
from datetime import datetime

from psycopg2.extras import execute_values

from shop.orders import PricedOrder
from shopdata.catalog import PRODUCT_COLUMNS, CatalogQueries, ProductRow
from shopdata.customers import CustomerQueries
from shopdata.stock import StockQueries


@dataclass(frozen=True)
class OrderRow:
    id: int
    customer_id: int
    status: str
    created_at: datetime
    subtotal_cents: int
    vat_cents: int
    total_cents: int
    card_last4: str
    invoice_status: str
    invoice_delivered_at: datetime | None
    invoice_emailed_at: datetime | None
    lines: tuple[dict, ...]


@dataclass(frozen=True)
class EmailRow:
    id: int
    order_id: int
    kind: str
    recipient: str
    subject: str
    body: str
    created_at: datetime


@dataclass(frozen=True)
class SavedOutcome:
    request_hash: str
    status_code: int
    response: dict


class ProductRepository(CatalogQueries):
    """Products and categories (the shared catalogue queries) and their stock."""

    def get_with_stock(self, product_id: int) -> tuple[ProductRow, int] | None:
        """A product and its available units, or None (the shared read its floor runs)."""
        return StockQueries(self.cur).product_with_stock(product_id)

    def lock_for_sale(self, product_ids: list[int]) -> dict[int, tuple[ProductRow, int]]:
        """Lock the stock rows of these products in id order (so overlapping orders
        never deadlock) and return each product with its available units."""
        self.cur.execute(
            f"SELECT {PRODUCT_COLUMNS}, s.available FROM stock s"
            " JOIN products p ON p.id = s.product_id"
            " WHERE s.product_id = ANY(%s) ORDER BY s.product_id FOR UPDATE OF s",
            (list(product_ids),))
        return {r[0]: (ProductRow(*r[:6]), r[6]) for r in self.cur.fetchall()}

    def sell(self, product_id: int, quantity: int) -> bool:
        """Move units from available to sold; False when not enough are available."""
        self.cur.execute(
            "UPDATE stock SET available = available - %s, sold = sold + %s"
            " WHERE product_id = %s AND available >= %s",
            (quantity, quantity, product_id, quantity))
        return self.cur.rowcount == 1

    def set_stock(self, product_id: int, available: int) -> tuple[int, int, int] | None:
        """Set available units; `initial` moves by the same amount (a restock or a
        write-off), so initial = available + sold keeps holding. (initial, available, sold)."""
        self.cur.execute(
            "UPDATE stock SET initial = initial + (%s - available), available = %s"
            " WHERE product_id = %s RETURNING initial, available, sold",
            (available, available, product_id))
        return self.cur.fetchone()

    def stock_levels(self) -> list[tuple[int, int, int, int]]:
        """(product_id, initial, available, sold) for every product."""
        self.cur.execute("SELECT product_id, initial, available, sold FROM stock"
                         " ORDER BY product_id")
        return self.cur.fetchall()


class CustomerRepository(CustomerQueries):
    """Customers and their credentials (the shared customer queries)."""


_ORDER_SELECT = (
    "SELECT o.id, o.customer_id, o.status, o.created_at, o.subtotal_cents, o.vat_cents,"
    " o.total_cents, o.card_last4, coalesce(i.status, 'pending'), i.delivered_at, i.emailed_at,"
    " (SELECT json_agg(json_build_object('product_id', l.product_id, 'sku', l.sku,"
    "   'name', l.name, 'quantity', l.quantity, 'unit_price_cents', l.unit_price_cents,"
    "   'line_total_cents', l.line_total_cents) ORDER BY l.product_id)"
    "  FROM order_lines l WHERE l.order_id = o.id)"
    " FROM orders o LEFT JOIN invoices i ON i.order_id = o.id")


class OrderRepository:
    """Orders with their lines."""

    def __init__(self, cur):
        self.cur = cur

    def add(self, customer_id: int, status: str, priced: PricedOrder,
            card_last4: str) -> tuple[int, datetime]:
        """Insert an order and its lines; returns (id, created_at)."""
        t = priced.totals
        self.cur.execute(
            "INSERT INTO orders (customer_id, status, subtotal_cents, vat_cents, total_cents,"
            " card_last4) VALUES (%s, %s, %s, %s, %s, %s) RETURNING id, created_at",
            (customer_id, status, t.subtotal_cents, t.vat_cents, t.total_cents, card_last4))
        order_id, created_at = self.cur.fetchone()
        execute_values(
            self.cur,
            "INSERT INTO order_lines (order_id, product_id, sku, name, quantity,"
            " unit_price_cents, line_total_cents) VALUES %s",
            [(order_id, ln.product_id, ln.sku, ln.name, ln.quantity, ln.unit_price_cents,
              ln.line_total_cents) for ln in priced.lines])
        return order_id, created_at

    def get(self, order_id: int, customer_id: int | None = None) -> OrderRow | None:
        """An order (only if it belongs to `customer_id`, when given)."""
        sql, params = _ORDER_SELECT + " WHERE o.id = %s", [order_id]
        if customer_id is not None:
            sql += " AND o.customer_id = %s"
            params.append(customer_id)
        self.cur.execute(sql, params)
        row = self.cur.fetchone()
        return OrderRow(*row[:11], tuple(row[11] or ())) if row else None

    def page_for_customer(self, customer_id: int, limit: int,
                          offset: int) -> tuple[list[tuple], int]:
        """(id, status, created_at, total_cents, item_count) newest first, and the total."""
        self.cur.execute(
            "SELECT o.id, o.status, o.created_at, o.total_cents,"
            " (SELECT coalesce(sum(quantity), 0)::int FROM order_lines l WHERE l.order_id = o.id),"
            " count(*) OVER () FROM orders o WHERE o.customer_id = %s"
            " ORDER BY o.id DESC LIMIT %s OFFSET %s", (customer_id, limit, offset))
        rows = self.cur.fetchall()
        if rows:
            return [r[:5] for r in rows], rows[0][5]
        self.cur.execute("SELECT count(*) FROM orders WHERE customer_id = %s", (customer_id,))
        return [], self.cur.fetchone()[0]


class PaymentRepository:
    """Captured card payments."""

    def __init__(self, cur):
        self.cur = cur

    def capture(self, order_id: int, amount_cents: int, card_last4: str,
                reference: str) -> None:
        """Record a payment the card processor captured under `reference` for an order."""
        self.cur.execute(
            "INSERT INTO payments (order_id, status, amount_cents, card_last4, reference)"
            " VALUES (%s, 'captured', %s, %s, %s)",
            (order_id, amount_cents, card_last4, reference))


class ChargeAttemptRepository:
    """Charge attempts: one row per reference sent (or about to be sent) to the card
    processor, so no capture is ever left without the shop knowing of it."""

    def __init__(self, cur):
        self.cur = cur

    def start(self, reference: str, customer_id: int) -> None:
        """Record an attempt about to charge under `reference`."""
        self.cur.execute("INSERT INTO charge_attempts (reference, customer_id, status)"
                         " VALUES (%s, %s, 'started')", (reference, customer_id))

    def lock(self, reference: str) -> str | None:
        """An attempt's status ("claimed" once a worker took it for abandoned), its row
        locked until the transaction ends; None if unknown."""
        self.cur.execute("SELECT CASE WHEN lease_until IS NULL THEN status ELSE 'claimed' END"
                         " FROM charge_attempts WHERE reference = %s FOR UPDATE", (reference,))
        row = self.cur.fetchone()
        return row[0] if row else None

    def finish(self, reference: str, status: str, order_id: int | None = None) -> None:
        """Record an attempt's final status (and the order its capture paid for)."""
        self.cur.execute("UPDATE charge_attempts SET status = %s, order_id = %s,"
                         " updated_at = now() WHERE reference = %s",
                         (status, order_id, reference))

    def note_error(self, reference: str, error: str) -> None:
        """Count a failed try to settle an abandoned attempt, keep why it failed, and end
        its lease so the next round tries again (it stays claimed: no checkout charges
        with it)."""
        self.cur.execute("UPDATE charge_attempts SET attempts = attempts + 1,"
                         " last_error = %s, lease_until = now(), updated_at = now()"
                         " WHERE reference = %s", (error[:500], reference))

    def claim_abandoned(self, older_than_seconds: float, limit: int,
                        lease_seconds: float) -> list[str]:
        """Lease up to `limit` attempts still 'started' after `older_than_seconds`, oldest
        first, to settle them outside this transaction. A checkout still running holds its
        attempt's row lock, so SKIP LOCKED passes over it; one that locks it later finds
        it claimed and does not charge. An attempt another worker leased is passed over
        until its lease runs out."""
        self.cur.execute(
            "UPDATE charge_attempts SET lease_until = now() + make_interval(secs => %s)"
            " WHERE reference IN (SELECT reference FROM charge_attempts"
            "  WHERE status = 'started' AND created_at < now() - make_interval(secs => %s)"
            "  AND (lease_until IS NULL OR lease_until <= now())"
            "  ORDER BY created_at LIMIT %s FOR UPDATE SKIP LOCKED)"
            " RETURNING reference, created_at",
            (lease_seconds, older_than_seconds, limit))
        return [reference for reference, _ in sorted(self.cur.fetchall(), key=lambda r: r[1])]

    def settle(self, reference: str, status: str) -> bool:
        """Record the final status of an abandoned attempt, unless it was settled already
        (by another worker whose lease ran out meanwhile)."""
        self.cur.execute("UPDATE charge_attempts SET status = %s, updated_at = now()"
                         " WHERE reference = %s AND status = 'started'", (status, reference))
        return self.cur.rowcount == 1


class IdempotencyRepository:
    """Idempotency keys and the final outcomes they replay."""

    def __init__(self, cur):
        self.cur = cur

    def try_lock(self, customer_id: int, key: str) -> bool:
        """Take a transaction-scoped lock on (customer, key); False if another holds it."""
        self.cur.execute("SELECT pg_try_advisory_xact_lock(%s, hashtext(%s))",
                         (customer_id, key))
        return self.cur.fetchone()[0]

    def get(self, customer_id: int, key: str) -> SavedOutcome | None:
        """The stored final outcome for this key, if any."""
        self.cur.execute("SELECT request_hash, status_code, response FROM idempotency_keys"
                         " WHERE customer_id = %s AND key = %s", (customer_id, key))
        row = self.cur.fetchone()
        return SavedOutcome(*row) if row else None

    def save(self, customer_id: int, key: str, request_hash: str, status_code: int,
             response: dict, order_id: int | None) -> None:
        """Store a final outcome; the primary key makes a second one for the key fail."""
        self.cur.execute(
            "INSERT INTO idempotency_keys (customer_id, key, request_hash, status_code,"
            " response, order_id) VALUES (%s, %s, %s, %s, %s, %s)",
            (customer_id, key, request_hash, status_code, json.dumps(response), order_id))


class InvoiceRepository:
    """Invoice delivery state, the print spool and the mailbox."""

    def __init__(self, cur):
        self.cur = cur

    def add_pending(self, order_id: int, due_in_seconds: float) -> None:
        """Register an order's invoice as pending delivery, due for the worker in
        `due_in_seconds` (0: at once)."""
        self.cur.execute("INSERT INTO invoices (order_id, status, next_attempt_at)"
                         " VALUES (%s, 'pending', now() + make_interval(secs => %s))",
                         (order_id, due_in_seconds))

    def lock_pending(self, order_id: int) -> bool:
        """Lock a pending invoice for delivery; False if delivered or taken by another."""
        self.cur.execute("SELECT 1 FROM invoices WHERE order_id = %s AND status = 'pending'"
                         " FOR UPDATE SKIP LOCKED", (order_id,))
        return self.cur.fetchone() is not None

    def due(self, limit: int) -> list[int]:
        """Up to `limit` pending invoices whose retry time has come. Delivery locks each
        one with SKIP LOCKED, so two workers never deliver the same invoice."""
        self.cur.execute(
            "SELECT order_id FROM invoices WHERE status = 'pending' AND next_attempt_at <= now()"
            " ORDER BY next_attempt_at LIMIT %s", (limit,))
        return [r[0] for r in self.cur.fetchall()]

    def mark_delivered(self, order_id: int, status: str) -> None:
        """Record delivery: status 'printed' or 'emailed'."""
        self.cur.execute(
            "UPDATE invoices SET status = %s, delivered_at = now(), attempts = attempts + 1,"
            " last_error = NULL WHERE order_id = %s", (status, order_id))

    def mark_failed(self, order_id: int, error: str, retry_in_seconds: float) -> None:
        """Record a failed attempt and when to retry."""
        self.cur.execute(
            "UPDATE invoices SET attempts = attempts + 1, last_error = %s,"
            " next_attempt_at = now() + make_interval(secs => %s) WHERE order_id = %s",
            (error[:500], retry_in_seconds, order_id))

    def attempts(self, order_id: int) -> int:
        """How many delivery attempts an invoice has had."""
        self.cur.execute("SELECT attempts FROM invoices WHERE order_id = %s", (order_id,))
        row = self.cur.fetchone()
        return row[0] if row else 0

    def spool(self, order_id: int, document: str) -> None:
        """Put a document on the print spool."""
        self.cur.execute("INSERT INTO print_spool (order_id, document) VALUES (%s, %s)",
                         (order_id, document))

    def mail(self, order_id: int, kind: str, recipient: str, subject: str, body: str) -> None:
        """Put a message of `kind` ('invoice' or 'invoice_copy') in the outgoing mailbox."""
        self.cur.execute("INSERT INTO mailbox (order_id, kind, recipient, subject, body)"
                         " VALUES (%s, %s, %s, %s, %s)", (order_id, kind, recipient, subject, body))

    def mark_emailed(self, order_id: int) -> None:
        """Record that the invoice was e-mailed just now (its delivery status stays)."""
        self.cur.execute("UPDATE invoices SET emailed_at = now() WHERE order_id = %s",
                         (order_id,))

    def emails_for_customer(self, customer_id: int, limit: int,
                            offset: int) -> tuple[list[EmailRow], int]:
        """The mailbox's messages about the customer's orders, newest first, and the total."""
        self.cur.execute(
            "SELECT m.id, m.order_id, m.kind, m.recipient, m.subject, m.body, m.created_at,"
            " count(*) OVER () FROM mailbox m JOIN orders o ON o.id = m.order_id"
            " WHERE o.customer_id = %s ORDER BY m.created_at DESC, m.id DESC"
            " LIMIT %s OFFSET %s", (customer_id, limit, offset))
        rows = self.cur.fetchall()
        if rows:
            return [EmailRow(*r[:7]) for r in rows], rows[0][7]
        # An empty page (past the end) still answers the total.
        self.cur.execute("SELECT count(*) FROM mailbox m JOIN orders o ON o.id = m.order_id"
                         " WHERE o.customer_id = %s", (customer_id,))
        return [], self.cur.fetchone()[0]


class AuditRepository:
    """The raw figures behind the invariants."""

    def __init__(self, cur):
        self.cur = cur

    def undecided(self, older_than_seconds: float, limit: int) -> tuple[int, list[dict]]:
        """Charge attempts still 'started' after `older_than_seconds` (abandoned, or still
        held by their checkout), oldest first: how many, and up to `limit` of them."""
        self.cur.execute(
            "SELECT reference, extract(epoch FROM now() - created_at)::float8, attempts,"
            " last_error, count(*) OVER () FROM charge_attempts WHERE status = 'started'"
            " AND created_at < now() - make_interval(secs => %s)"
            " ORDER BY created_at LIMIT %s", (older_than_seconds, limit))
        rows = self.cur.fetchall()
        return (rows[0][4] if rows else 0,
                [{"kind": "charge_attempt", "id": reference, "age_seconds": round(age, 1),
                  "attempts": n, "last_error": error}
                 for reference, age, n, error, _ in rows])

    def payment_references(self) -> list[str]:
        """The processor reference of every captured payment."""
        self.cur.execute("SELECT reference FROM payments WHERE status = 'captured'")
        return [r[0] for r in self.cur.fetchall()]

    def figures(self) -> dict:
        """Counts of orders, payments, keys and invoices (stock comes from products)."""
        cur = self.cur
        cur.execute("SELECT status, count(*) FROM orders GROUP BY status")
        by_status = {"PENDING": 0, "PAID": 0, "FAILED": 0} | dict(cur.fetchall())
        cur.execute(
            "SELECT coalesce(sum(o.total_cents), 0)::bigint,"
            " (SELECT coalesce(sum(l.quantity), 0)::bigint FROM order_lines l JOIN orders o2"
            "   ON o2.id = l.order_id WHERE o2.status = 'PAID')"
            " FROM orders o WHERE o.status = 'PAID'")
        paid_total, paid_units = cur.fetchone()
        cur.execute(
            "SELECT count(*), coalesce(sum(amount_cents), 0)::bigint,"
            " count(*) FILTER (WHERE NOT EXISTS"
            "   (SELECT 1 FROM orders o WHERE o.id = p.order_id AND o.status = 'PAID'))"
            " FROM payments p WHERE p.status = 'captured'")
        captured, captured_total, without_order = cur.fetchone()
        cur.execute(
            "SELECT count(*) FROM orders o WHERE o.status = 'PAID' AND"
            " (SELECT count(*) FILTER (WHERE p.amount_cents = o.total_cents)"
            "  FROM payments p WHERE p.order_id = o.id AND p.status = 'captured') <> 1"
            " OR o.status = 'PAID' AND EXISTS (SELECT 1 FROM payments p WHERE"
            "  p.order_id = o.id AND p.amount_cents <> o.total_cents)")
        not_matched = cur.fetchone()[0]
        cur.execute(
            "SELECT count(*), count(order_id),"
            " (SELECT count(*) FROM orders o WHERE NOT EXISTS"
            "   (SELECT 1 FROM idempotency_keys k WHERE k.order_id = o.id))"
            " FROM idempotency_keys")
        keys, keys_with_order, orders_without_key = cur.fetchone()
        cur.execute("SELECT status, count(*) FROM invoices GROUP BY status")
        invoices = {"pending": 0, "printed": 0, "emailed": 0} | dict(cur.fetchall())
        cur.execute("SELECT count(*) FROM orders o WHERE o.status = 'PAID' AND NOT EXISTS"
                    " (SELECT 1 FROM invoices i WHERE i.order_id = o.id)")
        invoices["paid_orders_without_invoice"] = cur.fetchone()[0]
        # From what the devices really received, not from the status: a second delivery
        # would leave the status as it was. E-mails sent on request are not deliveries.
        cur.execute(
            "SELECT count(*) FROM (SELECT order_id FROM"
            "  (SELECT order_id FROM print_spool"
            "   UNION ALL SELECT order_id FROM mailbox WHERE kind = 'invoice') d"
            "  GROUP BY order_id HAVING count(*) > 1) twice")
        invoices["duplicate_deliveries"] = cur.fetchone()[0]
        return {
            "orders": by_status | {"paid_total_cents": paid_total, "paid_units": paid_units},
            "payments": {"captured": captured, "captured_total_cents": captured_total,
                         "without_order": without_order, "paid_orders_not_matched": not_matched},
            "idempotency": {"keys": keys, "keys_with_order": keys_with_order,
                            "orders_without_key": orders_without_key},
            "invoices": invoices,
        }
