"""The orders service's SQL: orders, their lines, keys and saga state.

Every write that moves a saga names the owner it expects (`request` or `recovery`), so
a request that recovery took over stops at its next step instead of racing it.
"""

import json
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from datetime import datetime

from psycopg2.extras import execute_values

from microservices.common.app import cursor, transaction
from plumbing.db import Pool
from shop.orders import PricedOrder

REQUEST = "request"
RECOVERY = "recovery"
# The PostgreSQL notification channel that tells the relay an event was written.
OUTBOX_CHANNEL = "outbox"
# The audit lists at most this many undecided orders (it counts them all as PENDING).
UNDECIDED_LISTED = 50


@dataclass(frozen=True)
class OrderRow:
    id: int
    customer_id: int
    status: str
    step: str
    owner: str
    request_hash: str
    created_at: datetime
    subtotal_cents: int
    vat_cents: int
    total_cents: int
    card_last4: str
    answer_status: int | None
    answer: dict | None
    attempts: int
    lines: tuple[dict, ...]


_SELECT = (
    "SELECT o.id, o.customer_id, o.status, o.step, o.owner, o.request_hash, o.created_at,"
    " o.subtotal_cents, o.vat_cents, o.total_cents, o.card_last4, o.answer_status, o.answer,"
    " o.attempts,"
    " (SELECT json_agg(json_build_object('product_id', l.product_id, 'sku', l.sku,"
    "   'name', l.name, 'quantity', l.quantity, 'unit_price_cents', l.unit_price_cents,"
    "   'line_total_cents', l.line_total_cents) ORDER BY l.product_id)"
    "  FROM order_lines l WHERE l.order_id = o.id)"
    " FROM orders o")


def _row(r) -> OrderRow:
    return OrderRow(*r[:14], tuple(r[14] or ()))


class OrderStore:
    """The orders database, through one pool; each method is its own transaction."""

    def __init__(self, pool: Pool):
        self.pool = pool

    @contextmanager
    def _tx(self):
        with transaction(self.pool) as cur:
            yield cur

    @contextmanager
    def _read(self):
        # One-statement reads in autocommit: no BEGIN/COMMIT round trips on the hot path.
        with cursor(self.pool) as cur:
            yield cur

    # -- reads --------------------------------------------------------------

    def by_key(self, customer_id: int, key: str) -> OrderRow | None:
        """The customer's order for an idempotency key, if any."""
        with self._read() as cur:
            cur.execute(_SELECT + " WHERE o.customer_id = %s AND o.idempotency_key = %s",
                        (customer_id, key))
            row = cur.fetchone()
        return _row(row) if row else None

    def get(self, order_id: int, customer_id: int | None = None) -> OrderRow | None:
        """An order (only if it belongs to `customer_id`, when given)."""
        sql, params = _SELECT + " WHERE o.id = %s", [order_id]
        if customer_id is not None:
            sql += " AND o.customer_id = %s"
            params.append(customer_id)
        with self._read() as cur:
            cur.execute(sql, params)
            row = cur.fetchone()
        return _row(row) if row else None

    def page_for_customer(self, customer_id: int, limit: int,
                          offset: int) -> tuple[list[tuple], int]:
        """(id, status, created_at, total_cents, item_count) of the customer's orders newest
        first, and their total. FAILED orders are attempts that sold nothing: not listed."""
        visible = "customer_id = %s AND status <> 'FAILED'"
        with self._read() as cur:
            cur.execute(
                "SELECT o.id, o.status, o.created_at, o.total_cents,"
                " (SELECT coalesce(sum(quantity), 0)::int FROM order_lines l"
                "  WHERE l.order_id = o.id), count(*) OVER ()"
                f" FROM orders o WHERE {visible} ORDER BY o.id DESC LIMIT %s OFFSET %s",
                (customer_id, limit, offset))
            rows = cur.fetchall()
            if rows:
                return [r[:5] for r in rows], rows[0][5]
            cur.execute(f"SELECT count(*) FROM orders WHERE {visible}", (customer_id,))
            return [], cur.fetchone()[0]

    # -- the saga's writes ---------------------------------------------------

    def create(self, customer_id: int, key: str, request_hash: str, priced: PricedOrder,
               card_last4: str, deadline_seconds: float) -> OrderRow | None:
        """Insert a PENDING order at step `reserve` with its lines and return it; None if
        the key is taken (a concurrent or earlier request holds it)."""
        t = priced.totals
        with self._tx() as cur:
            cur.execute(
                "INSERT INTO orders (customer_id, idempotency_key, request_hash, status, step,"
                " deadline, subtotal_cents, vat_cents, total_cents, card_last4)"
                " VALUES (%s, %s, %s, 'PENDING', 'reserve',"
                " now() + make_interval(secs => %s), %s, %s, %s, %s)"
                " ON CONFLICT (customer_id, idempotency_key) DO NOTHING"
                " RETURNING id, created_at",
                (customer_id, key, request_hash, deadline_seconds, t.subtotal_cents,
                 t.vat_cents, t.total_cents, card_last4))
            row = cur.fetchone()
            if row is None:
                return None
            execute_values(
                cur,
                "INSERT INTO order_lines (order_id, product_id, sku, name, quantity,"
                " unit_price_cents, line_total_cents) VALUES %s",
                [(row[0], ln.product_id, ln.sku, ln.name, ln.quantity, ln.unit_price_cents,
                  ln.line_total_cents) for ln in priced.lines])
        # What was just written, without reading it back.
        return OrderRow(row[0], customer_id, "PENDING", "reserve", REQUEST, request_hash,
                        row[1], t.subtotal_cents, t.vat_cents, t.total_cents, card_last4,
                        None, None, 0, tuple(asdict(ln) for ln in priced.lines))

    def set_step(self, order_id: int, step: str, owner: str) -> bool:
        """Record the next step before calling it; False if `owner` no longer drives it."""
        with self._tx() as cur:
            cur.execute("UPDATE orders SET step = %s, updated_at = now() WHERE id = %s"
                        " AND status = 'PENDING' AND owner = %s", (step, order_id, owner))
            return cur.rowcount == 1

    def mark_paid(self, order_id: int, answer: dict, owner: str) -> bool:
        """PAID, its 201 answer stored for the key, the reservation's commit still to do,
        and in the same transaction the outbox event that has its invoice delivered."""
        with self._tx() as cur:
            cur.execute(
                "UPDATE orders SET status = 'PAID', step = 'commit', answer_status = 201,"
                " answer = %s, updated_at = now() WHERE id = %s AND status = 'PENDING'"
                " AND owner = %s RETURNING customer_id", (json.dumps(answer), order_id, owner))
            row = cur.fetchone()
            if row is None:
                return False
            cur.execute("INSERT INTO outbox (order_id, topic, payload) VALUES"
                        " (%s, 'order_paid', %s)",
                        (order_id, json.dumps({"customer_id": row[0], "order": answer})))
            # Wakes the relay when (and only if) this transaction commits.
            cur.execute(f"NOTIFY {OUTBOX_CHANNEL}")
            return True

    def mark_committed(self, order_id: int) -> None:
        """The reservation of a PAID order is committed: the saga is done."""
        with self._tx() as cur:
            cur.execute("UPDATE orders SET step = 'done', updated_at = now() WHERE id = %s"
                        " AND status = 'PAID' AND step = 'commit'", (order_id,))

    def mark_failed(self, order_id: int, answer_status: int, answer: dict,
                    owner: str) -> bool:
        """FAILED with its final answer (402 or 409) stored for the key."""
        with self._tx() as cur:
            cur.execute(
                "UPDATE orders SET status = 'FAILED', step = 'done', answer_status = %s,"
                " answer = %s, updated_at = now() WHERE id = %s AND status = 'PENDING'"
                " AND owner = %s", (answer_status, json.dumps(answer), order_id, owner))
            return cur.rowcount == 1

    def remove(self, order_id: int, owner: str) -> bool:
        """Remove an order that provably did not take effect (nothing held, nothing
        charged), freeing its key for a retry - as the monolith's rolled-back transaction."""
        with self._tx() as cur:
            cur.execute("DELETE FROM orders WHERE id = %s AND status = 'PENDING'"
                        " AND owner = %s", (order_id, owner))
            return cur.rowcount == 1

    # -- recovery ---------------------------------------------------------------

    def claim_overdue(self, limit: int, retry_cap_seconds: float) -> list[OrderRow]:
        """Take over PENDING orders past their deadline (recovery owns them from now on),
        pushing each one's deadline back by a growing delay so a failing one is retried
        later and replicas never take the same order at once (SKIP LOCKED)."""
        with self._tx() as cur:
            cur.execute(
                "UPDATE orders SET owner = 'recovery', attempts = attempts + 1,"
                " updated_at = now(), deadline = now() + make_interval(secs =>"
                "   least(%s, 2 ^ least(attempts, 10))) WHERE id IN"
                " (SELECT id FROM orders WHERE status = 'PENDING' AND deadline <= now()"
                "  ORDER BY deadline LIMIT %s FOR UPDATE SKIP LOCKED) RETURNING id",
                (retry_cap_seconds, limit))
            ids = [r[0] for r in cur.fetchall()]
            if not ids:
                return []
            cur.execute(_SELECT + " WHERE o.id = ANY(%s) ORDER BY o.id", (ids,))
            return [_row(r) for r in cur.fetchall()]

    def note_error(self, order_id: int, error: str) -> None:
        """Keep why the last recovery attempt did not finish (for people reading the table)."""
        with self._tx() as cur:
            cur.execute("UPDATE orders SET last_error = %s WHERE id = %s",
                        (error[:500], order_id))

    def claim_uncommitted(self, older_than_seconds: float, limit: int) -> list[int]:
        """PAID orders whose reservation commit is still to do, left alone for a while so
        the request that paid them commits first. Locked (SKIP LOCKED) while returned."""
        with self._tx() as cur:
            cur.execute(
                "UPDATE orders SET updated_at = now() WHERE id IN (SELECT id FROM orders"
                " WHERE status = 'PAID' AND step = 'commit'"
                " AND updated_at < now() - make_interval(secs => %s)"
                " ORDER BY updated_at LIMIT %s FOR UPDATE SKIP LOCKED) RETURNING id",
                (older_than_seconds, limit))
            return [r[0] for r in cur.fetchall()]

    # -- the outbox ------------------------------------------------------------

    def claim_events(self, limit: int, lease_seconds: float) -> list[tuple[int, dict]]:
        """Lease up to `limit` undelivered events whose time has come, as (id, payload):
        each is due again only `lease_seconds` from now, so another relay takes it over
        if this one does not record an outcome by then (it died, or was paused). Claimed
        in a short transaction (SKIP LOCKED: two relays never claim the same event at
        once); the sends happen outside it, with no row lock held."""
        with self._tx() as cur:
            cur.execute(
                "UPDATE outbox SET next_attempt_at = now() + make_interval(secs => %s)"
                " WHERE id IN (SELECT id FROM outbox WHERE delivered_at IS NULL"
                "  AND next_attempt_at <= now() ORDER BY id LIMIT %s FOR UPDATE SKIP LOCKED)"
                " RETURNING id, payload", (lease_seconds, limit))
            return sorted(cur.fetchall())

    def delivered(self, event_id: int) -> None:
        """Record the consumer's acknowledgement of an event."""
        with self._tx() as cur:
            cur.execute("UPDATE outbox SET delivered_at = now(), attempts = attempts + 1,"
                        " last_error = NULL WHERE id = %s AND delivered_at IS NULL",
                        (event_id,))

    def failed(self, event_id: int, error: str, cap_seconds: float) -> None:
        """Record a failed delivery and when to try again (a growing delay, capped)."""
        with self._tx() as cur:
            cur.execute(
                "UPDATE outbox SET attempts = attempts + 1, last_error = %s,"
                " next_attempt_at = now() + make_interval(secs => least(%s, 2 ^ least("
                "attempts, 10) / 2.0)) WHERE id = %s AND delivered_at IS NULL",
                (error[:500], cap_seconds, event_id))

    # -- the audit ------------------------------------------------------------

    def figures(self) -> dict:
        """The raw figures the orders service owns."""
        with self._tx() as cur:
            cur.execute("SELECT status, count(*) FROM orders GROUP BY status")
            by_status = {"PENDING": 0, "PAID": 0, "FAILED": 0} | dict(cur.fetchall())
            cur.execute(
                "SELECT coalesce(sum(total_cents), 0)::bigint, (SELECT coalesce(sum(l.quantity),"
                " 0)::bigint FROM order_lines l JOIN orders o2 ON o2.id = l.order_id"
                " WHERE o2.status = 'PAID') FROM orders WHERE status = 'PAID'")
            paid_total, paid_units = cur.fetchone()
            cur.execute(
                "SELECT count(*) FILTER (WHERE answer_status IS NOT NULL),"
                " count(*) FILTER (WHERE answer_status = 201),"
                " count(*) FILTER (WHERE status = 'PAID' AND answer_status IS DISTINCT FROM 201)"
                " FROM orders")
            keys, keys_with_order, orders_without_key = cur.fetchone()
            cur.execute("SELECT id, total_cents FROM orders WHERE status = 'PAID' ORDER BY id")
            paid = [{"order_id": i, "total_cents": t} for i, t in cur.fetchall()]
            cur.execute("SELECT id FROM orders WHERE status = 'PENDING' ORDER BY id")
            pending = [r[0] for r in cur.fetchall()]
            # Taken over by recovery and not decided yet, oldest first.
            cur.execute(
                "SELECT id, extract(epoch FROM now() - created_at)::float8, attempts,"
                " last_error, count(*) OVER () FROM orders WHERE status = 'PENDING'"
                " AND owner = 'recovery' ORDER BY created_at LIMIT %s", (UNDECIDED_LISTED,))
            rows = cur.fetchall()
            undecided = {"count": rows[0][4] if rows else 0,
                         "items": [{"order_id": i, "age_seconds": round(age, 1),
                                    "attempts": n, "last_error": error}
                                   for i, age, n, error, _ in rows]}
        return {
            "orders": by_status | {"paid_total_cents": paid_total, "paid_units": paid_units},
            "idempotency": {"keys": keys, "keys_with_order": keys_with_order,
                            "orders_without_key": orders_without_key},
            "paid": paid,
            "pending_ids": pending,
            "undecided": undecided,
        }
