"""The unit of work: one connection, one transaction, explicit commit.

Leaving the `with uow:` block without `uow.commit()` rolls back. A read-only unit
of work keeps the connection in autocommit, so reads cost no BEGIN/COMMIT.
"""

import contextlib
import functools
from collections.abc import Iterator

from psycopg2.extensions import TRANSACTION_STATUS_IDLE

from plumbing.db import Pool

from .repositories import (
    AuditRepository,
    ChargeAttemptRepository,
    CustomerRepository,
    IdempotencyRepository,
    InvoiceRepository,
    OrderRepository,
    PaymentRepository,
    ProductRepository,
)

_REPOSITORIES = ("products", "customers", "orders", "payments", "charges", "idempotency",
                 "invoices", "audit")


class UnitOfWork:
    """A transaction over the monolith's database with its repositories."""

    def __init__(self, pool: Pool, *, read_only: bool = False):
        self._pool = pool
        self._read_only = read_only
        self._lease = None
        self._conn = None
        self._cur = None

    def __enter__(self) -> "UnitOfWork":
        self._lease = self._pool.connection()
        self._conn = self._lease.__enter__()
        if not self._read_only:
            self._conn.autocommit = False
        self._cur = self._conn.cursor()
        # A unit of work entered again gets repositories on its new cursor.
        for name in _REPOSITORIES:
            self.__dict__.pop(name, None)
        return self

    # Repositories are made when first used: a product read needs one, not seven.
    @functools.cached_property
    def products(self) -> ProductRepository:
        return ProductRepository(self._cur)

    @functools.cached_property
    def customers(self) -> CustomerRepository:
        return CustomerRepository(self._cur)

    @functools.cached_property
    def orders(self) -> OrderRepository:
        return OrderRepository(self._cur)

    @functools.cached_property
    def payments(self) -> PaymentRepository:
        return PaymentRepository(self._cur)

    @functools.cached_property
    def charges(self) -> ChargeAttemptRepository:
        return ChargeAttemptRepository(self._cur)

    @functools.cached_property
    def idempotency(self) -> IdempotencyRepository:
        return IdempotencyRepository(self._cur)

    @functools.cached_property
    def invoices(self) -> InvoiceRepository:
        return InvoiceRepository(self._cur)

    @functools.cached_property
    def audit(self) -> AuditRepository:
        return AuditRepository(self._cur)

    @contextlib.contextmanager
    def autocommitted(self) -> Iterator["UnitOfWork"]:
        """Commit each statement of the block at once, before the transaction begins.

        For a row that must be durable before the transaction that uses it starts, on
        the same connection: one round trip, and no second wait for a pool connection.
        Only as the first thing inside `with uow:`.
        """
        if self._read_only:
            yield self
            return
        if self._conn.get_transaction_status() != TRANSACTION_STATUS_IDLE:
            raise RuntimeError("the transaction has already begun")
        self._conn.autocommit = True
        try:
            yield self
        finally:
            if not self._conn.closed:
                self._conn.autocommit = False

    def commit(self) -> None:
        """Make the transaction's writes durable."""
        if not self._read_only:
            self._conn.commit()

    def rollback(self) -> None:
        """Throw the transaction's writes away."""
        if not self._read_only and not self._conn.closed:
            self._conn.rollback()

    def __exit__(self, exc_type, exc, tb):
        try:
            self._cur.close()
            self.rollback()
        finally:
            # The pool resets autocommit, and drops the connection if it broke.
            lease, self._lease = self._lease, None
            lease.__exit__(exc_type, exc, tb)
        return False
