"""The notifications service's SQL: one row per message sent."""

import datetime
from typing import NamedTuple

_COLUMNS = "id, customer_id, order_id, kind, recipient, subject, body, created_at"


class Message(NamedTuple):
    """One message row."""

    id: int
    customer_id: int
    order_id: int | None
    kind: str
    recipient: str
    subject: str
    body: str
    created_at: datetime.datetime


class NewMessage(NamedTuple):
    """A message to send, as the request gives it."""

    key: str
    customer_id: int
    order_id: int | None
    kind: str
    recipient: str
    subject: str
    body: str


def _message(row) -> Message | None:
    return None if row is None else Message(*row)


class MessageRepository:
    """Message rows, over one cursor."""

    def __init__(self, cur):
        self.cur = cur

    def insert(self, message: NewMessage) -> Message | None:
        """Store a new message; None when its key was used already.

        ON CONFLICT DO NOTHING waits for a concurrent insert of the same key to commit or
        roll back, so of two at once exactly one inserts and the other finds its row.
        """
        self.cur.execute(
            "INSERT INTO messages (key, customer_id, order_id, kind, recipient, subject, body)"
            " VALUES (%s, %s, %s, %s, %s, %s, %s)"
            f" ON CONFLICT (key) DO NOTHING RETURNING {_COLUMNS}", tuple(message))
        return _message(self.cur.fetchone())

    def by_key(self, key: str) -> Message | None:
        """The message stored under `key`, or None."""
        self.cur.execute(f"SELECT {_COLUMNS} FROM messages WHERE key = %s", (key,))
        return _message(self.cur.fetchone())

    def page_for_customer(self, customer_id: int, limit: int,
                          offset: int) -> tuple[list[Message], int]:
        """One page of the customer's messages newest first, and how many there are."""
        # The total rides along with the page, so both come from one snapshot; only a
        # page past the end needs a second look.
        self.cur.execute(
            f"SELECT {_COLUMNS}, count(*) OVER () FROM messages WHERE customer_id = %s"
            " ORDER BY id DESC LIMIT %s OFFSET %s", (customer_id, limit, offset))
        rows = self.cur.fetchall()
        if rows:
            return [Message(*row[:-1]) for row in rows], rows[0][-1]
        self.cur.execute("SELECT count(*) FROM messages WHERE customer_id = %s",
                         (customer_id,))
        return [], self.cur.fetchone()[0]

    def invoice_deliveries(self) -> list[tuple[int, int]]:
        """(order_id, messages of kind 'invoice') per order, by order id."""
        self.cur.execute(
            "SELECT order_id, count(*) FROM messages WHERE kind = 'invoice'"
            " GROUP BY order_id ORDER BY order_id")
        return [(order_id, count) for order_id, count in self.cur.fetchall()]

    def count(self) -> int:
        """How many messages there are."""
        self.cur.execute("SELECT count(*) FROM messages")
        return self.cur.fetchone()[0]
