"""The invoices service's SQL: invoices with their delivery state, and the print spool."""

import json
from datetime import datetime
from typing import NamedTuple

_COLUMNS = ("order_id, customer_id, customer_email, customer_name, placed_at, lines,"
            " subtotal_cents, vat_cents, total_cents, card_last4, status, attempts,"
            " delivered_at, emailed_at")


class InvoiceRow(NamedTuple):
    """One invoice row (without its bookkeeping columns)."""

    order_id: int
    customer_id: int
    customer_email: str
    customer_name: str
    placed_at: datetime
    lines: list[dict]
    subtotal_cents: int
    vat_cents: int
    total_cents: int
    card_last4: str
    status: str
    attempts: int
    delivered_at: datetime | None
    emailed_at: datetime | None


class NewInvoice(NamedTuple):
    """What an invoice is created with: the paid order's figures and its customer."""

    order_id: int
    customer_id: int
    customer_email: str
    customer_name: str
    placed_at: datetime
    lines: list[dict]
    subtotal_cents: int
    vat_cents: int
    total_cents: int
    card_last4: str


def _invoice(row) -> InvoiceRow | None:
    return None if row is None else InvoiceRow(*row)


class InvoiceRepository:
    """Invoice rows and the print spool, over one cursor."""

    def __init__(self, cur):
        self.cur = cur

    def get(self, order_id: int, customer_id: int | None = None) -> InvoiceRow | None:
        """The order's invoice (only if it is `customer_id`'s, when given), or None."""
        sql, params = f"SELECT {_COLUMNS} FROM invoices WHERE order_id = %s", [order_id]
        if customer_id is not None:
            sql += " AND customer_id = %s"
            params.append(customer_id)
        self.cur.execute(sql, params)
        return _invoice(self.cur.fetchone())

    def status(self, order_id: int) -> str | None:
        """The order's invoice's delivery status, or None when it has none."""
        self.cur.execute("SELECT status FROM invoices WHERE order_id = %s", (order_id,))
        row = self.cur.fetchone()
        return None if row is None else row[0]

    def insert(self, new: NewInvoice, first_attempt_in_seconds: float) -> bool:
        """Record a pending invoice; False when the order has one already.

        ON CONFLICT DO NOTHING waits for a concurrent insert of the same order to commit
        or roll back, so of two at once exactly one inserts.
        """
        self.cur.execute(
            "INSERT INTO invoices (order_id, customer_id, customer_email, customer_name,"
            " placed_at, lines, subtotal_cents, vat_cents, total_cents, card_last4, status,"
            " next_attempt_at) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, 'pending',"
            " now() + make_interval(secs => %s)) ON CONFLICT (order_id) DO NOTHING",
            (new.order_id, new.customer_id, new.customer_email, new.customer_name,
             new.placed_at, json.dumps(new.lines), new.subtotal_cents, new.vat_cents,
             new.total_cents, new.card_last4, first_attempt_in_seconds))
        return self.cur.rowcount == 1

    def lock_pending(self, order_id: int) -> InvoiceRow | None:
        """The invoice locked for delivery until the transaction ends; None when it is
        delivered already or another process is delivering it (SKIP LOCKED)."""
        self.cur.execute(
            f"SELECT {_COLUMNS} FROM invoices WHERE order_id = %s AND status = 'pending'"
            " FOR UPDATE SKIP LOCKED", (order_id,))
        return _invoice(self.cur.fetchone())

    def due(self, limit: int) -> list[int]:
        """Up to `limit` pending invoices whose retry time has come, oldest first. Not
        locked here: delivery locks each one (SKIP LOCKED), so two processes never
        deliver the same invoice."""
        self.cur.execute(
            "SELECT order_id FROM invoices WHERE status = 'pending' AND next_attempt_at <= now()"
            " ORDER BY next_attempt_at LIMIT %s", (limit,))
        return [r[0] for r in self.cur.fetchall()]

    def spool(self, order_id: int, document: str) -> None:
        """Put a document on the print spool."""
        self.cur.execute("INSERT INTO print_spool (order_id, document) VALUES (%s, %s)",
                         (order_id, document))

    def mark_printed(self, order_id: int) -> None:
        """Record delivery by the printer."""
        self.cur.execute(
            "UPDATE invoices SET status = 'printed', delivered_at = now(),"
            " attempts = attempts + 1, last_error = NULL WHERE order_id = %s", (order_id,))

    def mark_emailed(self, order_id: int) -> None:
        """Record delivery by e-mail (printing failed)."""
        self.cur.execute(
            "UPDATE invoices SET status = 'emailed', delivered_at = now(), emailed_at = now(),"
            " attempts = attempts + 1, last_error = NULL WHERE order_id = %s", (order_id,))

    def mark_failed(self, order_id: int, error: str, retry_in_seconds: float) -> None:
        """Record a failed attempt and when to retry; the invoice stays pending."""
        self.cur.execute(
            "UPDATE invoices SET attempts = attempts + 1, last_error = %s,"
            " next_attempt_at = now() + make_interval(secs => %s) WHERE order_id = %s",
            (error[:500], retry_in_seconds, order_id))

    def mark_copy_emailed(self, order_id: int) -> None:
        """Record a copy e-mailed on request: emailed_at only, never the status."""
        self.cur.execute("UPDATE invoices SET emailed_at = now() WHERE order_id = %s",
                         (order_id,))

    def figures(self) -> dict:
        """Invoices by status, every invoiced order id and the spooled documents per
        order, from one snapshot."""
        # One snapshot: the three reads agree even while deliveries commit meanwhile.
        self.cur.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
        self.cur.execute("SELECT status, count(*) FROM invoices GROUP BY status")
        by_status = {"pending": 0, "printed": 0, "emailed": 0} | dict(self.cur.fetchall())
        self.cur.execute("SELECT order_id FROM invoices ORDER BY order_id")
        order_ids = [r[0] for r in self.cur.fetchall()]
        self.cur.execute("SELECT order_id, count(*) FROM print_spool GROUP BY order_id"
                         " ORDER BY order_id")
        spooled = [{"order_id": o, "count": n} for o, n in self.cur.fetchall()]
        return {"invoices": by_status, "order_ids": order_ids, "spooled": spooled}
