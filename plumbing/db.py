"""A blocking PostgreSQL connection pool over psycopg2.

psycopg2's own pools raise PoolError at once when every connection is busy, and
with minconn < maxconn they close connections on return. A web process wants the
opposite: a fixed set of connections (one per serving thread), opened after the
fork, and a bounded wait when all are busy. That is small enough to write here.

A pool survives its database: after PostgreSQL restarts, or a backend is ended with
pg_terminate_backend, its idle connections are dead. Before lending one, the pool
checks it without a round trip (an idle autocommit connection has nothing to read, so
a readable socket means the server closed it, or sent a notification) and opens a
fresh connection in place of a dead one. It retries only when the connection was dead
before the statement was sent, never after COMMIT was sent: the pool never re-sends
anything. A connection that breaks while lent fails that request and is dropped.
"""

import os
import queue
import select
import threading
from collections.abc import Iterator
from contextlib import contextmanager

import psycopg2
import psycopg2.extensions

# Errors after which a connection is unusable and must be dropped, not reused.
BROKEN = (psycopg2.OperationalError, psycopg2.InterfaceError)


class PoolTimeout(Exception):
    """No connection became free within the pool's wait."""


class Pool:
    """A fixed-size pool; `connection()` waits (bounded) for a free connection."""

    def __init__(self, dsn: str, size: int, *, wait_seconds: float = 5.0,
                 statement_timeout_ms: int = 15000, application_name: str = "archlab"):
        self._dsn = dsn
        self.size = size
        self._wait = wait_seconds
        self._options = f"-c statement_timeout={statement_timeout_ms}"
        self._application_name = application_name
        self._slots = threading.BoundedSemaphore(size)
        self._idle: queue.LifoQueue = queue.LifoQueue()
        self._pid = os.getpid()

    def _connect(self):
        conn = psycopg2.connect(self._dsn, connect_timeout=3, options=self._options,
                                application_name=self._application_name)
        # Reads run in autocommit (no BEGIN/COMMIT round trips); a unit of work
        # switches a connection to a transaction for as long as it holds it.
        conn.autocommit = True
        return conn

    def _take(self):
        """An idle connection found alive, else a new one."""
        # Retry only when the connection was dead before the statement was sent, never
        # after COMMIT was sent: a dead idle connection is replaced here, before the
        # caller sends anything on it; nothing that was sent is ever sent again.
        while True:
            try:
                conn = self._idle.get_nowait()
            except queue.Empty:
                return self._connect()
            if self._alive(conn):
                return conn
            self._discard(conn)

    @staticmethod
    def _alive(conn) -> bool:
        """Whether an idle connection is still open, checked without a round trip."""
        # Idle in autocommit, nothing should be readable on its socket. Readable means
        # the server said something on its own: a FATAL ("terminating connection") then
        # end of file when its backend was ended, or a NOTIFY on a connection that
        # LISTENs. conn.poll() reads it: the FATAL lands in conn.notices (libpq hands an
        # error that came unasked to the notice processor), the end of file raises, a
        # notification is kept in conn.notifies. A FATAL is a backend's last word, so it
        # means dead even before the end of file is read; otherwise read again while
        # readable, bounded, so a chatty LISTEN cannot keep us here.
        # poll(2), not select(2): a process may hold file descriptors above 1023.
        if conn.closed:
            return False
        try:
            poller = select.poll()
            poller.register(conn.fileno(), select.POLLIN)
            for _ in range(8):
                if not poller.poll(0):
                    return True
                conn.poll()
                if conn.closed or (conn.notices and conn.notices[-1].startswith("FATAL:")):
                    return False
        except BROKEN:
            return False
        # Still readable after that many reads: something keeps talking; a live
        # connection that LISTENs does that, a dead one would have raised.
        return not conn.closed

    @contextmanager
    def connection(self) -> Iterator[psycopg2.extensions.connection]:
        """Lend a connection in autocommit mode; waits up to the pool's wait for one."""
        if os.getpid() != self._pid:
            raise RuntimeError("a Pool must be created after fork, in the process using it")
        if not self._slots.acquire(timeout=self._wait):
            raise PoolTimeout(f"no database connection free within {self._wait:.0f}s")
        conn = None
        try:
            conn = self._take()
            yield conn
        except BROKEN:
            self._discard(conn)
            conn = None
            raise
        except BaseException:
            conn = self._reset(conn)
            raise
        else:
            conn = self._reset(conn)
        finally:
            if conn is not None:
                self._idle.put(conn)
            self._slots.release()

    def _reset(self, conn):
        """Bring a returned connection back to autocommit; drop it if that fails."""
        if conn is None or conn.closed:
            return None
        try:
            if conn.get_transaction_status() != psycopg2.extensions.TRANSACTION_STATUS_IDLE:
                conn.rollback()
            conn.autocommit = True
            return conn
        except BROKEN:
            self._discard(conn)
            return None

    @staticmethod
    def _discard(conn) -> None:
        if conn is not None and not conn.closed:
            try:
                conn.close()
            except psycopg2.Error:
                pass

    def ping(self) -> bool:
        """True when the database answers a trivial query through this pool."""
        try:
            with self.connection() as conn, conn.cursor() as cur:
                cur.execute("SELECT 1")
                return cur.fetchone() == (1,)
        except (PoolTimeout, psycopg2.Error):
            return False

    def close(self) -> None:
        """Close every idle connection."""
        while True:
            try:
                self._discard(self._idle.get_nowait())
            except queue.Empty:
                return


class PoolHolder:
    """One pool per process, created on first use so it is never shared across a fork."""

    def __init__(self, dsn: str, size: int, application_name: str):
        self._args = (dsn, size, application_name)
        self._pool: Pool | None = None
        self._lock = threading.Lock()

    def get(self) -> Pool:
        """The pool of the current process."""
        pool = self._pool
        if pool is not None and pool._pid == os.getpid():
            return pool
        with self._lock:
            if self._pool is None or self._pool._pid != os.getpid():
                dsn, size, name = self._args
                self._pool = Pool(dsn, size, application_name=name)
            return self._pool
