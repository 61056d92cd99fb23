"""The unit of work: one connection, one transaction, explicit commit.

Leaving the `with uow:` block without `uow.commit()` rolls back. A read-only unit
of work keeps the connection in autocommit, so reads cost no BEGIN/COMMIT.
"""

from plumbing.db import Pool

from .repositories import (
    AuditRepository,
    CustomerRepository,
    IdempotencyRepository,
    InvoiceRepository,
    OrderRepository,
    PaymentRepository,
    ProductRepository,
)


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
        cur = self._cur
        self.products = ProductRepository(cur)
        self.customers = CustomerRepository(cur)
        self.orders = OrderRepository(cur)
        self.payments = PaymentRepository(cur)
        self.idempotency = IdempotencyRepository(cur)
        self.invoices = InvoiceRepository(cur)
        self.audit = AuditRepository(cur)
        return self

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
