"""The embedded PostgreSQL and the external-server mode, on real clusters."""

from contextlib import closing

import psutil
import psycopg2
import pytest

from archlab.db import (
    EmbeddedPostgres,
    ExternalPostgres,
    apply_sql,
    database_from_state,
    find_pg_bin,
    make_dsn,
)
from archlab.errors import DatabaseUnavailable
from tests.integration.servicekit import free_port


@pytest.fixture(scope="module")
def cluster():
    db = EmbeddedPostgres.create(free_port())
    db.start(max_connections=20)
    yield db
    db.stop()


def connect(dsn: str):
    return psycopg2.connect(dsn, connect_timeout=5)


def query(dsn: str, statement: str) -> tuple:
    """The first row of `statement`, run as the DSN's role."""
    with closing(connect(dsn)) as conn, conn.cursor() as cur:
        cur.execute(statement)
        return cur.fetchone()


@pytest.mark.timeout(60)
def test_a_role_connects_over_tcp_with_its_password(cluster):
    dsn = cluster.create_database("shop", "shop", "s3cret-pw")
    assert dsn == f"postgresql://shop:s3cret-pw@127.0.0.1:{cluster.port}/shop"
    assert query(dsn, "SELECT current_user, current_database(), inet_server_addr()") == (
        "shop", "shop", "127.0.0.1")


@pytest.mark.timeout(60)
def test_a_wrong_password_is_refused(cluster):
    cluster.create_database("guarded", "guarded", "right-pw")
    with pytest.raises(psycopg2.OperationalError, match="password authentication failed"):
        connect(make_dsn("guarded", "wrong-pw", "127.0.0.1", cluster.port, "guarded"))


@pytest.mark.timeout(60)
def test_a_role_reaches_only_its_own_database(cluster):
    cluster.create_database("orders", "orders", "pw-orders")
    cluster.create_database("payments", "payments", "pw-payments")
    with pytest.raises(psycopg2.OperationalError, match="permission denied for database"):
        connect(make_dsn("orders", "pw-orders", "127.0.0.1", cluster.port, "payments"))


@pytest.mark.timeout(60)
def test_create_database_again_starts_afresh(cluster, tmp_path):
    dsn = cluster.create_database("again", "again", "first-pw")
    schema = tmp_path / "schema.sql"
    schema.write_text("CREATE TABLE items (id int PRIMARY KEY); INSERT INTO items VALUES (1);")
    apply_sql(dsn, schema)

    dsn = cluster.create_database("again", "again", "second-pw")

    apply_sql(dsn, schema)  # would fail if the old table were still there
    assert query(dsn, "SELECT count(*) FROM items") == (1,)


@pytest.mark.timeout(60)
def test_stop_ends_the_server_and_removes_its_folder(tmp_path):
    db = EmbeddedPostgres.create(free_port())
    db.start(max_connections=20, env={"ARCHLAB_RUN_ID": "test-db-stop"})
    pid = db.pid
    assert psutil.Process(pid).environ()["ARCHLAB_RUN_ID"] == "test-db-stop"
    assert len(str(db.folder / f".s.PGSQL.{db.port}")) <= 107

    # As `down` does it: from the state another process saved.
    database_from_state(db.to_state()).stop(keep_log=tmp_path / "postgres.log")

    assert not db.folder.exists()
    assert not psutil.pid_exists(pid) or psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    assert "database system is shut down" in (tmp_path / "postgres.log").read_text()


@pytest.mark.timeout(60)
def test_external_mode_namespaces_and_drops_what_it_made(cluster):
    external = ExternalPostgres.connect(cluster.admin_dsn, namespace="archlab_18400")
    dsn = external.create_database("monolith", "monolith", "pw-ext")
    assert "archlab_18400_monolith" in dsn
    connect(dsn).close()

    database_from_state(external.to_state()).stop()

    admin = cluster.admin_dsn
    name = "'archlab_18400_monolith'"
    assert query(admin, f"SELECT count(*) FROM pg_database WHERE datname = {name}") == (0,)
    assert query(admin, f"SELECT count(*) FROM pg_roles WHERE rolname = {name}") == (0,)


@pytest.mark.timeout(60)
def test_external_mode_needs_a_superuser(cluster):
    dsn = cluster.create_database("plain", "plain", "pw-plain")
    with pytest.raises(DatabaseUnavailable, match="superuser"):
        ExternalPostgres.connect(dsn, namespace="archlab_18400")


@pytest.mark.timeout(10)
def test_missing_server_programs_say_how_to_get_them(tmp_path):
    with pytest.raises(DatabaseUnavailable) as raised:
        find_pg_bin(search_path=str(tmp_path), versions_root=tmp_path)
    message = str(raised.value)
    assert "apt-get install postgresql" in message
    assert "ARCHLAB_DATABASE_URL" in message


@pytest.mark.timeout(10)
def test_the_newest_installed_version_is_found(tmp_path):
    for version in ("9", "15", "16"):
        folder = tmp_path / version / "bin"
        folder.mkdir(parents=True)
        for program in ("initdb", "pg_ctl", "postgres"):
            (folder / program).touch(mode=0o755)
    assert find_pg_bin(search_path=str(tmp_path / "empty"), versions_root=tmp_path) == \
        tmp_path / "16" / "bin"
