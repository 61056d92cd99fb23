"""The inventory service's SQL: stock levels, and the checkout saga's reservations."""

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace

from psycopg2.extras import execute_values

from microservices.common.app import transaction
from plumbing.db import Pool
from plumbing.testhooks import broken
from shop.orders import OrderLine
from shopdata.stock import INVENTORY_STOCK_COLUMNS, StockQueries

# The stock row, as the shared read (shopdata.stock) returns it.
_COLUMNS = INVENTORY_STOCK_COLUMNS


class StockRepository:
    """Stock rows, over one cursor; each row is (product_id, initial, available, reserved,
    sold)."""

    def __init__(self, cur):
        self.cur = cur

    def get(self, product_id: int) -> tuple[int, int, int, int, int] | None:
        """One product's stock row, or None (the shared read its floor runs)."""
        return StockQueries(self.cur).inventory_row(product_id)

    def set_available(self, product_id: int, available: int
                      ) -> tuple[int, int, int, int, int] | None:
        """Set available units; `initial` moves by the same amount (a restock or a
        write-off), so the invariant keeps holding. The row after, or None."""
        self.cur.execute(
            "UPDATE stock SET initial = initial + (%s - available), available = %s"
            f" WHERE product_id = %s RETURNING {_COLUMNS}",
            (available, available, product_id))
        return self.cur.fetchone()

    def levels(self) -> list[tuple[int, int, int, int, int]]:
        """Every product's stock row, by product id."""
        self.cur.execute(f"SELECT {_COLUMNS} FROM stock ORDER BY product_id")
        return self.cur.fetchall()


# --- reservations ------------------------------------------------------------------------

RESERVED, COMMITTED, RELEASED, OUT_OF_STOCK = "reserved", "committed", "released", "out_of_stock"

# The deliberately broken variant a test switches on (plumbing.testhooks).
NOT_IDEMPOTENT = "inventory.reserve_not_idempotent"

# Each statement moves units of one product between two of its figures, so
# initial = available + reserved + sold holds after every one of them; the CHECKs on
# stock refuse any move that would take a figure below zero.
_HOLD = ("UPDATE stock SET available = available - %s, reserved = reserved + %s"
         " WHERE product_id = %s AND available >= %s")
_SELL = ("UPDATE stock SET reserved = reserved - %s, sold = sold + %s"
         " WHERE product_id = %s")
_GIVE_BACK = ("UPDATE stock SET reserved = reserved - %s, available = available + %s"
              " WHERE product_id = %s")


@dataclass(frozen=True)
class Reservation:
    """An order's reservation: its status, the units it holds (or held) per product, by
    product id, and the products that were short when it was refused."""

    order_id: int
    status: str
    lines: tuple[OrderLine, ...] = ()
    short_product_ids: tuple[int, ...] = ()


class ReservationRepository:
    """Reservation rows and their lines, and the stock moves they make, over one cursor."""

    def __init__(self, cur):
        self.cur = cur

    def create(self, order_id: int, status: str, short_product_ids: tuple[int, ...] = ()
               ) -> bool:
        """Insert the order's reservation unless it has one; whether this call did.

        Against an insert for the same order that is not committed yet, PostgreSQL waits
        for that transaction: the loser of a race sees the winner's outcome, never a
        half-made reservation.
        """
        self.cur.execute(
            "INSERT INTO reservations (order_id, status, short_product_ids)"
            " VALUES (%s, %s, %s) ON CONFLICT (order_id) DO NOTHING RETURNING order_id",
            (order_id, status, list(short_product_ids)))
        return self.cur.fetchone() is not None

    def get(self, order_id: int, *, lock: bool = False) -> Reservation | None:
        """The order's reservation with its lines, or None; `lock` takes its row lock
        (FOR UPDATE) until the transaction ends."""
        self.cur.execute(
            "SELECT r.status, r.short_product_ids, l.product_id, l.quantity"
            " FROM reservations r LEFT JOIN reservation_lines l ON l.order_id = r.order_id"
            " WHERE r.order_id = %s ORDER BY l.product_id"
            + (" FOR UPDATE OF r" if lock else ""), (order_id,))
        rows = self.cur.fetchall()
        if not rows:
            return None
        status, short = rows[0][0], rows[0][1]
        lines = tuple(OrderLine(product_id, quantity)
                      for _, _, product_id, quantity in rows if product_id is not None)
        return Reservation(order_id, status, lines, tuple(sorted(short)))

    def hold(self, line: OrderLine) -> bool:
        """Move the line's units available -> reserved; False (nothing moved) when fewer
        are available or there is no such product."""
        q = line.quantity
        self.cur.execute(_HOLD, (q, q, line.product_id, q))
        return self.cur.rowcount == 1

    def sell(self, line: OrderLine) -> None:
        """Move the line's units reserved -> sold."""
        self.cur.execute(_SELL, (line.quantity, line.quantity, line.product_id))

    def give_back(self, line: OrderLine) -> None:
        """Move the line's units reserved -> available."""
        self.cur.execute(_GIVE_BACK, (line.quantity, line.quantity, line.product_id))

    def add_lines(self, order_id: int, lines: tuple[OrderLine, ...]) -> None:
        """Record the units a new reservation holds."""
        execute_values(self.cur,
                       "INSERT INTO reservation_lines (order_id, product_id, quantity) VALUES %s",
                       [(order_id, line.product_id, line.quantity) for line in lines])

    def set_status(self, order_id: int, status: str) -> None:
        """Move the reservation to `status`."""
        self.cur.execute(
            "UPDATE reservations SET status = %s, updated_at = now() WHERE order_id = %s",
            (status, order_id))

    def held(self) -> list[tuple[int, int]]:
        """(order id, units) of every reservation still holding stock, by order id."""
        self.cur.execute(
            "SELECT r.order_id, sum(l.quantity)"
            " FROM reservations r JOIN reservation_lines l ON l.order_id = r.order_id"
            " WHERE r.status = %s GROUP BY r.order_id ORDER BY r.order_id", (RESERVED,))
        return [(order_id, int(units)) for order_id, units in self.cur.fetchall()]


class _Short(Exception):
    """Some products cannot cover their line: the reserve's transaction must roll back."""

    def __init__(self, product_ids: tuple[int, ...]):
        super().__init__(f"short of products {list(product_ids)}")
        self.product_ids = product_ids


class Reservations:
    """The saga's three steps, each one unit of work on the service's own database and
    idempotent by order id: what a step answers is the reservation's state after it.

    Every step locks the reservation's row before any stock row, and stock rows in product
    id order, so two steps never wait on each other's rows in opposite orders.
    """

    def __init__(self, pool: Pool):
        self.pool = pool

    @contextmanager
    def _reading(self) -> Iterator[ReservationRepository]:
        # Autocommit: a lone SELECT needs no transaction around it.
        with self.pool.connection() as conn, conn.cursor() as cur:
            yield ReservationRepository(cur)

    @contextmanager
    def _unit_of_work(self) -> Iterator[ReservationRepository]:
        with transaction(self.pool) as cur:
            yield ReservationRepository(cur)

    def get(self, order_id: int) -> Reservation | None:
        """The order's reservation, or None."""
        with self._reading() as repo:
            return repo.get(order_id)

    def held(self) -> list[tuple[int, int]]:
        """(order id, units) of every reservation still holding stock, by order id."""
        with self._reading() as repo:
            return repo.held()

    def reserve(self, order_id: int, lines: list[OrderLine]) -> Reservation:
        """Hold every line's units for the order, all or none (lines by product id).

        A replay, a reserve that lost a race for the same order, and a reserve after a
        release's tombstone change nothing and answer the reservation as it is.
        """
        try:
            with self._unit_of_work() as repo:
                if not repo.create(order_id, RESERVED):
                    return self._replay(repo, order_id)
                # Every line is tried, so the refusal names all short products at once.
                short = tuple(line.product_id for line in lines if not repo.hold(line))
                if short:
                    raise _Short(short)
                repo.add_lines(order_id, tuple(lines))
                return Reservation(order_id, RESERVED, tuple(lines))
        except _Short as refused:
            short = refused.product_ids
        # The holds are rolled back with the reservation; the refusal is recorded in a
        # transaction of its own so that a replay answers the same. If another step for
        # the order got in between (a release's tombstone, a reserve that found the
        # stock), that one stands and is answered.
        with self._unit_of_work() as repo:
            repo.create(order_id, OUT_OF_STOCK, short)
            return repo.get(order_id)

    @staticmethod
    def _replay(repo: ReservationRepository, order_id: int) -> Reservation:
        found = repo.get(order_id)
        if found.status == RESERVED and broken(NOT_IDEMPOTENT):
            # A deliberately broken variant for tests only: it exists to prove that the
            # stock invariant checks can fail. The replay holds the units again (the
            # lines still say once), which a correct inventory never does.
            for line in found.lines:
                repo.hold(line)
        return found

    def commit(self, order_id: int) -> Reservation | None:
        """Turn the held units into sold ones; None when the order has no reservation.
        Committed, released and refused reservations are answered unchanged."""
        with self._unit_of_work() as repo:
            found = repo.get(order_id, lock=True)
            if found is None or found.status != RESERVED:
                return found
            for line in found.lines:
                repo.sell(line)
            repo.set_status(order_id, COMMITTED)
            return replace(found, status=COMMITTED)

    def release(self, order_id: int) -> Reservation:
        """Give the held units back. Without a reservation, leave a 'released' tombstone
        so that a reserve still in flight holds nothing; committed, released and refused
        reservations are answered unchanged."""
        with self._unit_of_work() as repo:
            if repo.create(order_id, RELEASED):
                return Reservation(order_id, RELEASED)
            found = repo.get(order_id, lock=True)
            if found.status != RESERVED:
                return found
            for line in found.lines:
                repo.give_back(line)
            repo.set_status(order_id, RELEASED)
            return replace(found, status=RELEASED)
