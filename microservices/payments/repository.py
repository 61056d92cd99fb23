"""The payments service's SQL: one payment row per order."""

from typing import NamedTuple

_COLUMNS = "order_id, reference, status, amount_cents, card_last4"

# Statuses the processor may still change: its answer was lost, or it charged nothing.
UNSETTLED = ("charging", "failed")


class Payment(NamedTuple):
    """One payment row."""

    order_id: int
    reference: str
    status: str
    amount_cents: int
    card_last4: str


def _payment(row) -> Payment | None:
    return None if row is None else Payment(*row)


class PaymentRepository:
    """Payment rows, over one cursor."""

    def __init__(self, cur):
        self.cur = cur

    def get(self, order_id: int) -> Payment | None:
        """The order's payment, or None."""
        self.cur.execute(f"SELECT {_COLUMNS} FROM payments WHERE order_id = %s", (order_id,))
        return _payment(self.cur.fetchone())

    def lock(self, order_id: int) -> Payment | None:
        """The order's payment, locked until the transaction ends, or None."""
        self.cur.execute(f"SELECT {_COLUMNS} FROM payments WHERE order_id = %s FOR UPDATE",
                         (order_id,))
        return _payment(self.cur.fetchone())

    def insert(self, order_id: int, reference: str, amount_cents: int, card_last4: str,
               status: str) -> Payment | None:
        """Record a new payment; None when the order has one already.

        ON CONFLICT DO NOTHING waits for a concurrent insert of the same order to commit or
        roll back, so of two at once exactly one inserts and the other finds its row.
        """
        self.cur.execute(
            "INSERT INTO payments (order_id, reference, amount_cents, card_last4, status)"
            f" VALUES (%s, %s, %s, %s, %s) ON CONFLICT DO NOTHING RETURNING {_COLUMNS}",
            (order_id, reference, amount_cents, card_last4, status))
        return _payment(self.cur.fetchone())

    def settle(self, order_id: int, status: str, card_last4: str | None = None
               ) -> Payment | None:
        """Record the processor's answer for a payment still unsettled ('charging' or
        'failed'); None when it is settled already (e.g. cancelled meanwhile)."""
        self.cur.execute(
            "UPDATE payments SET status = %s, card_last4 = COALESCE(%s, card_last4),"
            " updated_at = now()"
            f" WHERE order_id = %s AND status = ANY(%s) RETURNING {_COLUMNS}",
            (status, card_last4, order_id, list(UNSETTLED)))
        return _payment(self.cur.fetchone())

    def restart(self, order_id: int) -> None:
        """A 'failed' payment is being charged again: its outcome is open once more."""
        self.cur.execute(
            "UPDATE payments SET status = 'charging', updated_at = now()"
            " WHERE order_id = %s AND status = 'failed'", (order_id,))

    def set_status(self, order_id: int, status: str, amount_cents: int | None = None,
                   card_last4: str | None = None) -> Payment | None:
        """Move a payment to `status` whatever it was (and correct its amount and card
        when given); the row after, or None."""
        self.cur.execute(
            "UPDATE payments SET status = %s, amount_cents = COALESCE(%s, amount_cents),"
            " card_last4 = COALESCE(%s, card_last4), updated_at = now()"
            f" WHERE order_id = %s RETURNING {_COLUMNS}",
            (status, amount_cents, card_last4, order_id))
        return _payment(self.cur.fetchone())

    def all(self) -> list[Payment]:
        """Every payment, by order id."""
        self.cur.execute(f"SELECT {_COLUMNS} FROM payments ORDER BY order_id")
        return [Payment(*row) for row in self.cur.fetchall()]
