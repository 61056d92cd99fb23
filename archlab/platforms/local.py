"""The local platform (the default): each process a child of a supervisor on loopback,
PostgreSQL embedded (or given by ARCHLAB_DATABASE_URL).

A stack's state folder (config.state_dir) holds:
  state.json       what `up` started: run id, ports, database (and the server version that
                   ran), DSNs, admin token, pids, and the environment every process got
  supervisor.json  what the supervisor runs (argv, env, log of each process)
  processes.json   written by the supervisor: live pid, state and restarts per process
  logs/            one log per process, the supervisor's and PostgreSQL's; kept by `down`

The supervisor and every process of the stack get an explicit environment, not the
lab's: the few HOST_VARIABLES a process needs to run at all, then what the lab passes
(sizing, secrets, run id, the stack settings, ports, DSNs, service URLs). So a variable
in the shell cannot change a stack unless it is a stack setting, and state.json
"environment" records what each process ran with.
"""

import dataclasses
import importlib
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import psutil
import requests

from archlab import config
from archlab.db import (
    DEFAULT_MAX_CONNECTIONS,
    apply_sql,
    database_from_state,
    open_database,
    server_version,
)
from archlab.errors import LabError, NoStackRunning, StackAlreadyRunning, StackNotReady
from archlab.platforms import processes
from archlab.platforms.base import DownReport, Platform, ProcessStatus, StackInfo, StackStatus
from archlab.platforms.statefiles import read_json, write_json
from archlab.platforms.supervisor import SPEC_FILE, STATUS_FILE
from archlab.stacks import Stack, get_stack
from plumbing import testhooks
from shopdata import seed as shopdata_seed

STATE_FILE = "state.json"
TEST_HOOKS_FILE = "testhooks.json"
READY_TIMEOUT_SECONDS = 60.0
# A process restarted this often while the stack starts is crash-looping: waiting
# out the whole timeout would only delay the message that says which log to read.
CRASH_LOOP_RESTARTS = 3
# A process without a health URL counts as up once it has run this long: one that
# fails on start (a bad import, a missing setting) must not pass as ready.
STEADY_SECONDS = 1.0
SUPERVISOR_STOP_SECONDS = 20.0
# Connections beyond the processes' pools: reseeds, audits, a person with psql.
SPARE_CONNECTIONS = 20

# All that the supervisor and a stack's processes take from the environment the lab runs
# in: what a process needs to run at all on this host, each passed on as it is (when
# set) and recorded in state.json "environment". Everything else they get comes from the
# lab (LocalPlatform._process_env), so a variable in the shell - an old setting's name,
# GUNICORN_CMD_ARGS, PGOPTIONS, a proxy - cannot change a stack unrecorded.
# Left out on purpose: VIRTUAL_ENV, PYTHONPATH and the other PYTHON* variables. Every
# process runs the lab's own interpreter (sys.executable, which finds its virtual
# environment by itself) in the project folder, so the project's modules import without
# them, and a PYTHONPATH or PYTHONOPTIMIZE would change what code runs, or how.
HOST_VARIABLES = (
    # Where programs are found by name (a library may run one, e.g. ldconfig); the stack's
    # own processes are started by absolute path.
    "PATH",
    # The user's home folder: os.path.expanduser, and libpq's per-user files.
    "HOME",
    # The locale: the text encoding of the processes' output and logs.
    "LANG", "LC_ALL", "LC_CTYPE",
    # The time zone of the timestamps in the logs.
    "TZ",
    # Where temporary files go (gunicorn's worker heartbeat files, spooled request bodies).
    "TMPDIR",
    # Where the dynamic loader finds a Python or libpq installed outside the system's
    # folders: without it such an interpreter does not even start.
    "LD_LIBRARY_PATH",
)
# What the lab passes that must not be copied into records: tokens, keys, DSNs.
SECRET_VARIABLES = frozenset({"ARCHLAB_ADMIN_TOKEN", "ARCHLAB_SECRET_KEY", "DATABASE_URL"})
SECRET_MARK = "(secret)"


def host_environment() -> dict[str, str]:
    """The HOST_VARIABLES set in this process's environment, as they are."""
    return {name: os.environ[name] for name in HOST_VARIABLES if name in os.environ}


def environment_record(host: dict[str, str], envs: dict[str, dict[str, str]]) -> dict:
    """What state.json says each process ran with: the host variables passed on (once),
    and each process's own environment besides them, secrets named but not shown."""
    return {
        "host": dict(host),
        "processes": {
            name: {key: SECRET_MARK if key in SECRET_VARIABLES else value
                   for key, value in env.items() if key not in host or env[key] != host[key]}
            for name, env in envs.items()
        },
    }


def connection_budget(stack: Stack, workers: int, threads: int) -> int:
    """PostgreSQL connections the stack may open: each web worker pools one per thread;
    a process without a port (a background worker) is counted as one worker."""
    pools = sum(workers * threads if p.port else threads for p in stack.processes)
    return pools + SPARE_CONNECTIONS


def load_function(ref: str):
    """The function a "module:function" reference names."""
    module_name, _, function_name = ref.partition(":")
    try:
        return getattr(importlib.import_module(module_name), function_name)
    except (ImportError, AttributeError) as exc:
        raise LabError(f"cannot load {ref!r}: {exc}") from exc


def port_in_use(port: int) -> bool:
    """Whether something already listens on (or holds) 127.0.0.1:`port`."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        # Without SO_REUSEPORT, so a leftover server sharing the port is noticed too.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return True
    return False


def probe(url: str | None) -> str:
    """GET a health URL (1 s timeout): 'ok', 'HTTP <code>', 'unreachable'; '-' without URL."""
    if url is None:
        return "-"
    try:
        answer = requests.get(url, timeout=1)
    except requests.RequestException:
        return "unreachable"
    return "ok" if answer.status_code == 200 else f"HTTP {answer.status_code}"


class LocalPlatform(Platform):
    """Runs stacks on this machine, one per port base."""

    def __init__(self, port_base: int | None = None):
        base = port_base if port_base is not None else config.port_base()
        self.ports = config.Ports.from_base(base)
        self.state_dir = config.state_dir(base)
        self.logs_dir = config.logs_dir(base)
        self.state_file = self.state_dir / STATE_FILE

    # -- up ---------------------------------------------------------------

    def up(self, stack: str | Stack, *, ready_timeout: float = READY_TIMEOUT_SECONDS,
           settings: dict[str, str] | None = None, test_hooks: bool = False) -> StackInfo:
        """Start the stack and return once every health URL answers 200.

        `settings` override config.STACK_SETTINGS; `test_hooks` gives every process the
        stack's test-hooks file (plumbing.testhooks: crash points, broken variants), which
        no stack has otherwise. On any failure (Ctrl-C included) everything started so
        far is taken down again.
        """
        started = time.monotonic()
        if isinstance(stack, str):
            stack = get_stack(stack, self.ports)
        settings = config.stack_settings(settings)
        self.check_free(stack)
        state = self._fresh_state(stack)
        state["settings"] = settings
        state["test_hooks"] = str(self.state_dir / TEST_HOOKS_FILE) if test_hooks else None
        if test_hooks:
            testhooks.clear(Path(state["test_hooks"]))
        try:
            self._start_databases(stack, state)
            self._launch_supervisor(stack, state)
            self.wait_ready(ready_timeout)
        except BaseException:
            self.down()
            raise
        live = read_json(self.state_dir / STATUS_FILE)
        state["pids"].update({name: p["pid"] for name, p in live["processes"].items()})
        state["startup_seconds"] = round(time.monotonic() - started, 2)
        self._save(state)
        return self._info(state)

    def check_free(self, stack: str | Stack) -> None:
        """Refuse before anything starts: a stack that runs (or is starting) at this base,
        or a port of the block in use. What a dead stack left (after a reboot, say) is
        cleared, so the user need not run `down` first."""
        if isinstance(stack, str):
            stack = get_stack(stack, self.ports)
        state = read_json(self.state_file)
        condition = self.condition(state)
        if condition in ("dead", "leftover"):
            self.down()
        elif condition in ("running", "starting"):
            verb = "runs" if condition == "running" else "is starting"
            raise StackAlreadyRunning(
                f"a {state['arch']} stack already {verb} at port base {self.ports.base} "
                f"(run {state['run_id']}, since {state['started_at']}). "
                f"`{config.command_at(self.ports.base, 'down')}` stops it; "
                "ARCHLAB_PORT_BASE=<another base> runs a second stack beside it."
            )
        self._check_ports(stack)

    def _check_ports(self, stack: Stack) -> None:
        wanted = {p.port: p.name for p in stack.processes if p.port is not None}
        if not os.environ.get("ARCHLAB_DATABASE_URL"):
            wanted[self.ports.postgres] = "PostgreSQL"
        for port, user in sorted(wanted.items()):
            if port_in_use(port):
                raise LabError(
                    f"port {port} (for {user}) is already in use on 127.0.0.1. Stop what "
                    "holds it, or move the lab's ports as a block with "
                    f"ARCHLAB_PORT_BASE (now {self.ports.base}), e.g. ARCHLAB_PORT_BASE=9000."
                )

    def _fresh_state(self, stack: Stack) -> dict:
        """Prepare the state folder (last run's logs go) and record the new run in it."""
        shutil.rmtree(self.logs_dir, ignore_errors=True)
        self.logs_dir.mkdir(parents=True)
        self.state_dir.mkdir(parents=True, exist_ok=True)
        cores = config.cores_given()
        workers, threads = config.web_sizing(cores)
        ports = dataclasses.asdict(self.ports)
        ports["proxies"] = [self.ports.proxies.start, self.ports.proxies.stop - 1]
        state = {
            "arch": stack.name,
            # Led by the port base, so `ps e` shows which stack a process belongs to.
            "run_id": f"{self.ports.base}-{datetime.now(UTC):%Y%m%dT%H%M%SZ}-"
                      f"{secrets.token_hex(3)}",
            "port_base": self.ports.base,
            "ports": ports,
            "base_url": stack.base_url,
            "urls": {p.name: f"http://127.0.0.1:{p.port}" for p in stack.processes if p.port},
            "processes": [{"name": p.name, "port": p.port, "health_url": p.health_url}
                          for p in stack.processes],
            "admin_token": os.environ.get("ARCHLAB_ADMIN_TOKEN") or secrets.token_urlsafe(32),
            "secret_key": secrets.token_hex(32),
            "sizing": {"cores": cores, "web_workers": workers, "web_threads": threads},
            "database": None,
            "databases": [],
            # What each process's environment held, secrets left out (_launch_supervisor).
            "environment": None,
            "pids": {},
            "started_at": datetime.now(UTC).isoformat(timespec="seconds"),
            # Until the supervisor runs, this process is what shows the stack is starting.
            "starter_pid": os.getpid(),
            "startup_seconds": None,
        }
        self._save(state)
        return state

    def _start_databases(self, stack: Stack, state: dict) -> None:
        """Start PostgreSQL, then create, migrate and seed each of the stack's databases."""
        sizing = state["sizing"]
        budget = connection_budget(stack, sizing["web_workers"], sizing["web_threads"])
        sizing["max_connections"] = max(DEFAULT_MAX_CONNECTIONS, budget)
        db = open_database(self.ports.postgres, namespace=f"archlab_{self.ports.base}")
        # Recorded before anything runs, so `down` finds it whatever happens next.
        state["database"] = db.to_state()
        self._save(state)
        db.start(max_connections=sizing["max_connections"],
                 env={processes.RUN_ID_VAR: state["run_id"]})
        state["pids"]["postgres"] = db.pid
        # Asked of the running server (ours or ARCHLAB_DATABASE_URL's), not of a binary.
        db.server_version = server_version(db.admin_dsn)
        state["database"] = db.to_state()
        self._save(state)
        for spec in stack.databases:
            dsn = db.create_database(spec.name, spec.role, secrets.token_urlsafe(18))
            # Saved before the schema runs, so `down` can drop a half-made database.
            state["database"] = db.to_state()
            state["databases"].append(
                {"name": spec.name, "role": spec.role, "dsn": dsn, "seed": spec.seed,
                 "stock": spec.stock})
            self._save(state)
            self._apply_schema(dsn, spec.schema)
            if spec.seed:
                self._seed(spec.seed, dsn)

    def _apply_schema(self, dsn: str, schema: Path) -> None:
        if not schema.is_file():
            raise LabError(f"schema file {schema} does not exist")
        try:
            apply_sql(dsn, schema)
        except Exception as exc:
            raise LabError(f"applying {schema} failed: {exc}") from exc

    def _seed(self, ref: str, dsn: str) -> None:
        seed = load_function(ref)
        try:
            seed(dsn)
        except Exception as exc:
            raise LabError(f"seeding with {ref} failed: {type(exc).__name__}: {exc}") from exc

    def _process_env(self, stack: Stack, state: dict,
                     host: dict[str, str] | None = None) -> dict[str, dict[str, str]]:
        """The whole environment of each process: the `host` variables (HOST_VARIABLES as
        found here, by default), what every process gets from the lab, then its own."""
        dsns = {d["name"]: d["dsn"] for d in state["databases"]}
        sizing = state["sizing"]
        host = host_environment() if host is None else host
        envs = {}
        for spec in stack.processes:
            env = {
                **host,
                "WEB_WORKERS": str(sizing["web_workers"]),
                "WEB_THREADS": str(sizing["web_threads"]),
                "ARCHLAB_ADMIN_TOKEN": state["admin_token"],
                "ARCHLAB_SECRET_KEY": state["secret_key"],
                "ARCHLAB_RUN_ID": state["run_id"],
                "ARCHLAB_PROCESS_NAME": spec.name,
                "PYTHONUNBUFFERED": "1",
                **state["settings"],
                # Always set, empty when off: a value in the shell must not switch test
                # hooks on in a stack that was not started with them.
                testhooks.HOOKS_VAR: state.get("test_hooks") or "",
            }
            if spec.port is not None:
                env["PORT"] = str(spec.port)
            if spec.database is not None:
                env["DATABASE_URL"] = dsns[spec.database]
            envs[spec.name] = {**env, **spec.env}
        return envs

    def _launch_supervisor(self, stack: Stack, state: dict) -> None:
        """Write supervisor.json and start the supervisor in its own session, each with
        an explicit environment (recorded in state.json "environment")."""
        root = config.project_root()
        host = host_environment()
        envs = self._process_env(stack, state, host)
        state["environment"] = environment_record(host, envs)
        self._save(state)
        write_json(self.state_dir / SPEC_FILE, {"processes": [
            {"name": p.name, "argv": p.argv, "env": envs[p.name], "cwd": str(root),
             "log": str(self.logs_dir / f"{p.name}.log"), "restart": p.restart}
            for p in stack.processes
        ]})
        # Not the lab's environment: the superuser URL (ARCHLAB_DATABASE_URL) stays with
        # the lab, and the children get only what supervisor.json gives them.
        env = {**host, processes.RUN_ID_VAR: state["run_id"]}
        with open(self.logs_dir / "supervisor.log", "a") as log:
            supervisor = subprocess.Popen(
                [sys.executable, "-m", "archlab.platforms.supervisor", str(self.state_dir)],
                env=env, cwd=root, stdin=subprocess.DEVNULL, stdout=log,
                stderr=subprocess.STDOUT, start_new_session=True,
            )
        state["pids"]["supervisor"] = supervisor.pid
        self._save(state)

    def wait_ready(self, timeout: float = READY_TIMEOUT_SECONDS) -> None:
        """Return once every process runs and every health URL answers 200."""
        state = self._require_state()
        deadline = time.monotonic() + timeout
        while True:
            waiting_for = self._not_ready(state)
            if waiting_for is None:
                return
            name, why = waiting_for
            if time.monotonic() >= deadline:
                log = self.logs_dir / f"{name}.log"
                raise StackNotReady(
                    f"{name} was not ready within {timeout:.0f} s ({why}); read {log}"
                )
            time.sleep(0.1)

    def _not_ready(self, state: dict) -> tuple[str, str] | None:
        """(process, why) for the first process that is not ready yet, None when all are."""
        if not processes.is_running(state["pids"].get("supervisor")):
            raise StackNotReady(
                f"the supervisor exited; read {self.logs_dir / 'supervisor.log'}")
        live = read_json(self.state_dir / STATUS_FILE)
        if live is None:
            return "supervisor", "it has not started the processes yet"
        for spec in state["processes"]:
            process = live["processes"][spec["name"]]
            if process["restarts"] >= CRASH_LOOP_RESTARTS:
                log = self.logs_dir / f"{spec['name']}.log"
                raise StackNotReady(
                    f"{spec['name']} keeps crashing (restarted {process['restarts']} times, "
                    f"last exit {process['last_exit']}); read {log}"
                )
            if not processes.is_running(process["pid"]):
                return spec["name"], f"not running (state {process['state']})"
            if spec["health_url"] is None:
                if time.time() - process["started_at"] < STEADY_SECONDS:
                    return spec["name"], f"running for less than {STEADY_SECONDS:.0f} s"
                continue
            health = probe(spec["health_url"])
            if health != "ok":
                return spec["name"], f"GET {spec['health_url']}: {health}"
        return None

    def info(self) -> StackInfo:
        """What `up` reported about the running stack (its URLs and admin token)."""
        return self._info(self._require_state())

    def _info(self, state: dict) -> StackInfo:
        return StackInfo(
            arch=state["arch"], run_id=state["run_id"], base_url=state["base_url"],
            urls=state["urls"], admin_token=state["admin_token"], state_dir=self.state_dir,
            database=database_from_state(state["database"]).describe(),
            startup_seconds=state["startup_seconds"],
            database_server_version=state["database"].get("server_version"),
        )

    # -- down -------------------------------------------------------------

    def down(self) -> DownReport:
        """Stop the supervisor (and so every process), then PostgreSQL, then kill whatever
        still carries the run id; keeps only the logs."""
        state = read_json(self.state_file)
        if state is None:
            self._remove_state_dir()
            return DownReport(was_running=False)
        run_id = state["run_id"]
        self._stop_supervisor(state)
        if state["database"]:
            database_from_state(state["database"]).stop(keep_log=self.logs_dir / "postgres.log")
        leftovers = self._kill_run(run_id)
        self._remove_state_dir()
        return DownReport(was_running=True, arch=state["arch"], run_id=run_id,
                          leftovers=leftovers, logs_dir=self.logs_dir)

    def _remove_state_dir(self) -> None:
        """Remove the state folder; logs written there by an older archlab move to where
        logs live now, unless newer ones are there."""
        old_logs = self.state_dir / "logs"
        if old_logs.is_dir() and not self.logs_dir.exists():
            self.logs_dir.parent.mkdir(parents=True, exist_ok=True)
            shutil.move(old_logs, self.logs_dir)
        shutil.rmtree(self.state_dir, ignore_errors=True)

    def _stop_supervisor(self, state: dict) -> None:
        pid = state["pids"].get("supervisor")
        if pid is None or not processes.has_run_id(pid, state["run_id"]):
            return
        try:
            os.kill(pid, signal.SIGTERM)
            if processes.wait_gone([pid], SUPERVISOR_STOP_SECONDS):
                # Hung: its children are found by run id and killed next.
                os.kill(pid, signal.SIGKILL)
                processes.wait_gone([pid], 5)
        except ProcessLookupError:
            pass

    def _kill_run(self, run_id: str) -> list[str]:
        """SIGKILL every process still carrying `run_id`; returns what was found."""
        found = processes.run_processes(run_id)
        described = [processes.describe(p) for p in found]
        for process in found:
            try:
                process.kill()
            except psutil.NoSuchProcess:
                pass
        still = processes.wait_gone([p.pid for p in found], 5)
        if still:
            raise LabError(f"processes of run {run_id} survived SIGKILL: {still}")
        return described

    # -- status and reseed ----------------------------------------------------

    def running(self) -> bool:
        """Whether a stack's supervisor runs at this port base."""
        state = read_json(self.state_file)
        return state is not None and self._supervisor_alive(state)

    def condition(self, state: dict | None = None) -> str:
        """What is at this base: "none" (no state folder), "running" (its supervisor
        lives), "starting" (`up` is still at work), "dead" (a stack whose supervisor is
        gone) or "leftover" (a state folder without a stack)."""
        if not self.state_dir.exists():
            return "none"
        state = state if state is not None else read_json(self.state_file)
        if state is None:
            return "leftover"
        if self._supervisor_alive(state):
            return "running"
        starter = state.get("starter_pid")
        if (state["pids"].get("supervisor") is None and starter is not None
                and processes.is_running(starter)):
            return "starting"
        return "dead"

    @staticmethod
    def _supervisor_alive(state: dict) -> bool:
        supervisor = state["pids"].get("supervisor")
        return supervisor is not None and processes.has_run_id(supervisor, state["run_id"])

    def status(self) -> StackStatus:
        """Each process's pid, liveness, health (1 s GET) and restarts."""
        state = self._require_state()
        live = read_json(self.state_dir / STATUS_FILE) or {"processes": {}}
        rows = []
        for spec in state["processes"]:
            process = live["processes"].get(spec["name"], {})
            pid = process.get("pid")
            rows.append(ProcessStatus(
                name=spec["name"], port=spec["port"], pid=pid,
                alive=processes.is_running(pid), health=probe(spec["health_url"]),
                restarts=process.get("restarts", 0),
            ))
        database = state["database"]
        return StackStatus(
            arch=state["arch"], run_id=state["run_id"], base_url=state["base_url"],
            state_dir=self.state_dir,
            database=database_from_state(database).describe() if database else "not started",
            supervisor_pid=state["pids"].get("supervisor"),
            supervisor_alive=self._supervisor_alive(state),
            processes=rows,
        )

    def reseed(self) -> None:
        """Call each database's seed function in this process with the database's DSN."""
        state = self._require_state()
        for database in state["databases"]:
            if database["seed"]:
                self._seed(database["seed"], database["dsn"])

    def restock(self, minimum: int) -> None:
        """Raise every product's available stock to at least `minimum`, in each database
        that holds the shop's stock table (one UPDATE each; sold and reserved stay)."""
        if minimum < 0:
            raise LabError(f"cannot restock to {minimum} units: give a number >= 0")
        state = self._require_state()
        for database in state["databases"]:
            if database.get("stock"):
                try:
                    shopdata_seed.restock(database["dsn"], minimum)
                except Exception as exc:
                    raise LabError(f"restocking {database['name']} failed: "
                                   f"{type(exc).__name__}: {exc}") from exc

    def _require_state(self) -> dict:
        state = read_json(self.state_file)
        if state is None:
            raise NoStackRunning(
                f"no stack is running at port base {self.ports.base} "
                f"(no {self.state_file}); start one with `archlab up ARCH`"
            )
        return state

    def _save(self, state: dict) -> None:
        write_json(self.state_file, state)


def stacks_of_checkout() -> list[tuple[LocalPlatform, dict | None, str]]:
    """Every stack this checkout's state root holds, by port base: (platform, its state or
    None, its condition). Test stacks show up too; they share the state root."""
    root = config.state_root()
    bases = sorted(int(d.name) for d in root.iterdir() if d.is_dir() and d.name.isdigit()) \
        if root.is_dir() else []
    found = []
    for base in bases:
        platform = LocalPlatform(base)
        state = read_json(platform.state_file)
        found.append((platform, state, platform.condition(state)))
    return found
