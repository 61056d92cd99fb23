"""The card processor's SQL: one charge row per reference."""

import datetime

_COLUMNS = "reference, status, amount_cents, card_last4, created_at"

# (reference, status, amount_cents, card_last4, created_at)
Row = tuple[str, str, int, str, datetime.datetime]


class ChargeRepository:
    """Charge rows over one cursor; each row is (reference, status, amount_cents,
    card_last4, created_at)."""

    def __init__(self, cur):
        self.cur = cur

    def get(self, reference: str) -> Row | None:
        """The charge with this reference, or None."""
        self.cur.execute(f"SELECT {_COLUMNS} FROM charges WHERE reference = %s", (reference,))
        return self.cur.fetchone()

    def lock(self, reference: str) -> Row | None:
        """The charge with this reference, locked until the transaction ends, or None."""
        self.cur.execute(f"SELECT {_COLUMNS} FROM charges WHERE reference = %s FOR UPDATE",
                         (reference,))
        return self.cur.fetchone()

    def insert(self, reference: str, status: str, amount_cents: int,
               card_last4: str) -> Row | None:
        """Record a new charge; None when the reference is taken.

        ON CONFLICT DO NOTHING waits for a concurrent insert of the same reference to
        commit or roll back, so of two identical charges at once exactly one inserts and
        the other finds the committed row with its next statement.
        """
        self.cur.execute(
            "INSERT INTO charges (reference, status, amount_cents, card_last4)"
            f" VALUES (%s, %s, %s, %s) ON CONFLICT (reference) DO NOTHING RETURNING {_COLUMNS}",
            (reference, status, amount_cents, card_last4))
        return self.cur.fetchone()

    def set_status(self, reference: str, status: str) -> Row | None:
        """Move a charge to `status`; the row after, or None when there is none."""
        self.cur.execute(
            "UPDATE charges SET status = %s, updated_at = now()"
            f" WHERE reference = %s RETURNING {_COLUMNS}",
            (status, reference))
        return self.cur.fetchone()

    def all(self) -> list[Row]:
        """Every charge, oldest first (ties by reference)."""
        self.cur.execute(f"SELECT {_COLUMNS} FROM charges ORDER BY created_at, reference")
        return self.cur.fetchall()
