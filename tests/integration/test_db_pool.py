"""plumbing.db.Pool against a real server whose sessions end under it: an idle connection
whose backend was terminated (or whose server restarted) is replaced before it is lent,
so the next request does not fail; one that breaks while lent fails and is dropped; a
connection that LISTENs and was notified is kept."""

import time
from contextlib import closing

import psycopg2
import pytest

from archlab.db import EmbeddedPostgres
from plumbing.db import Pool
from tests import ports
from tests.integration.servicekit import throwaway_cluster

pytestmark = pytest.mark.timeout(60)


@pytest.fixture(scope="module")
def cluster():
    yield from throwaway_cluster(ports.CLUSTERS["pool"], "archlab_test_pool")


@pytest.fixture(scope="module")
def dsn(cluster):
    return cluster.create_database("pool", "pool", "pool-pw")


@pytest.fixture
def pool(dsn):
    pool = Pool(dsn, 3, application_name="test-pool")
    yield pool
    pool.close()


def admin(cluster, statement: str, params=()) -> list[tuple]:
    """Run `statement` as the superuser, in autocommit; its rows."""
    with closing(psycopg2.connect(cluster.admin_dsn, connect_timeout=5)) as conn:
        conn.autocommit = True
        with conn.cursor() as cur:
            cur.execute(statement, params)
            return cur.fetchall() if cur.description else []


def backend_pid(conn) -> int:
    with conn.cursor() as cur:
        cur.execute("SELECT pg_backend_pid()")
        return cur.fetchone()[0]


def terminate(cluster, *pids: int) -> None:
    """End these backends and wait until they are gone (their sockets closed)."""
    rows = admin(cluster, "SELECT pg_terminate_backend(pid) FROM unnest(%s::int[]) AS pid",
                 [list(pids)])
    assert all(ended for (ended,) in rows)
    deadline = time.monotonic() + 10
    while admin(cluster, "SELECT pid FROM pg_stat_activity WHERE pid = ANY(%s)", [list(pids)]):
        assert time.monotonic() < deadline, f"backends {pids} did not end"
        time.sleep(0.05)
    # The backend leaves pg_stat_activity just before its process exits and its socket
    # closes: give that a moment.
    time.sleep(0.2)


def select_one(pool: Pool) -> int:
    """SELECT 1 through the pool; the backend pid that answered."""
    with pool.connection() as conn, conn.cursor() as cur:
        cur.execute("SELECT 1")
        assert cur.fetchone() == (1,)
        return backend_pid(conn)


def test_an_idle_connection_whose_backend_was_terminated_is_replaced(cluster, pool):
    old = select_one(pool)
    terminate(cluster, old)

    # The first try succeeds: the dead connection is found before anything is sent.
    assert select_one(pool) != old


def test_every_dead_idle_connection_is_replaced_not_only_the_first(cluster, pool):
    with pool.connection() as a, pool.connection() as b, pool.connection() as c:
        old = {backend_pid(a), backend_pid(b), backend_pid(c)}
    terminate(cluster, *old)

    with pool.connection() as a, pool.connection() as b, pool.connection() as c:
        new = {backend_pid(a), backend_pid(b), backend_pid(c)}
    assert len(new) == 3 and not new & old


def test_a_connection_terminated_while_lent_fails_and_is_dropped(cluster, pool):
    with pytest.raises(psycopg2.OperationalError):
        with pool.connection() as conn:
            old = backend_pid(conn)
            terminate(cluster, old)
            # Sent on a connection that was alive when lent: the pool never sends it again.
            with conn.cursor() as cur:
                cur.execute("SELECT 1")
    assert conn.closed
    assert select_one(pool) != old


def test_a_notified_listening_connection_is_kept(dsn, pool):
    with pool.connection() as conn, conn.cursor() as cur:
        cur.execute("LISTEN pool_test")
        listener = backend_pid(conn)
    # From another session of the same database: a NOTIFY reaches only its database.
    with closing(psycopg2.connect(dsn, connect_timeout=5)) as other:
        other.autocommit = True
        with other.cursor() as cur:
            cur.execute("NOTIFY pool_test, 'hello'")
    time.sleep(0.2)

    with pool.connection() as conn:
        # The same connection, with the notification read off its socket and kept.
        assert backend_pid(conn) == listener
        assert [n.payload for n in conn.notifies] == ["hello"]


def test_the_pool_survives_a_restart_of_its_server(cluster, pool):
    if not isinstance(cluster, EmbeddedPostgres):
        pytest.skip("the lab restarts only its own embedded server")
    with pool.connection() as a, pool.connection() as b:
        old = {backend_pid(a), backend_pid(b)}
    postmaster = cluster.pid

    cluster.restart()

    assert cluster.pid not in (None, postmaster)
    assert select_one(pool) not in old
    assert select_one(pool) not in old
    # The restarted server logs where the first one did.
    assert "database system is ready to accept connections" in \
        cluster.log_path.read_text().rsplit("received fast shutdown request", 1)[1]
