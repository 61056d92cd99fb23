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

import contextlib
import dataclasses
import fcntl
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
from urllib.parse import urlsplit

import psutil
import requests
from psycopg2.extensions import parse_dsn

from archlab import config, sizing
from archlab.db import (
    database_from_state,
    open_database,
    server_version,
    terminate_connections,
)
from archlab.errors import LabError, NoStackRunning, StackAlreadyRunning, StackNotReady
from archlab.platforms import processes
from archlab.platforms.base import (
    DownReport,
    Platform,
    ProcessStatus,
    ScaleReport,
    StackInfo,
    StackStatus,
)
from archlab.platforms.statefiles import read_json, write_json
from archlab.platforms.supervisor import SPEC_FILE, STATUS_FILE, STOP_GRACE_SECONDS
from archlab.stacks import ARCHITECTURES, Stack, get_stack
from plumbing import testhooks
from plumbing.worker import HEARTBEAT_VAR

STATE_FILE = "state.json"
TEST_HOOKS_FILE = "testhooks.json"
# The longest a process can be held down (platform.hold): a fault, not a way to stop a
# part of the stack for good.
MAX_HOLD_SECONDS = 600.0
# The background workers' heartbeat files (liveness), one per worker, in the state folder.
HEARTBEATS_DIR = "heartbeats"
READY_TIMEOUT_SECONDS = 60.0
# A process restarted this often while the stack starts is crash-looping: waiting
# out the whole timeout would only delay the message that says which log to read.
CRASH_LOOP_RESTARTS = 3
# A process without a health URL counts as up once it has run this long: one that
# fails on start (a bad import, a missing setting) must not pass as ready.
STEADY_SECONDS = 1.0
SUPERVISOR_STOP_SECONDS = 20.0
# Connections beyond the processes' pools: reseeds, audits, a person with psql.
SPARE_CONNECTIONS = sizing.SPARE_CONNECTIONS
# How long the seed commands may take together: a reseed takes a second or two, but a
# TRUNCATE waiting for a lock a stuck transaction holds must not hang `up` or a bench.
SEED_TIMEOUT_SECONDS = 120.0

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


def sizing_plan(stack: Stack, cores: int, choice: dict | None = None,
                replicas: dict[str, int] | None = None) -> sizing.Plan:
    """The stack's sizing plan on `cores` cores: `choice` names the policy and its
    parameters ({"policy", "threads_per_core", "shares"}; per-process by default)."""
    choice = dict(choice or {})
    policy = choice.pop("policy", sizing.DEFAULT_POLICY)
    # equal-total's totals are the same for every architecture: each plan sees them all.
    others = tuple(sizing.shape_of(build(config.Ports.from_base(config.DEFAULT_PORT_BASE)))
                   for build in ARCHITECTURES.values())
    return sizing.plan(sizing.shape_of(stack), cores, policy, replicas=replicas,
                       others=others, **choice)


def run_seed_commands(databases: list[dict], args: list[str], run_id: str) -> None:
    """Run `python -m <seed module> ARGS` (plumbing.seedcli) for each of `databases` (their
    state.json entries), all at once, and wait for them; a LabError names each database
    whose command failed, with the last line it wrote to stderr.

    Each command gets the HOST_VARIABLES, its own database's DSN as DATABASE_URL and the
    run id (so `down` finds one that an interrupted lab left running), nothing else: it
    prepares the database as a one-shot container does, from the same environment."""
    commands = [(f"the {database['name']} database's seed command",
                 [sys.executable, "-m", database["seed"], *args],
                 {**host_environment(), "DATABASE_URL": database["dsn"],
                  "PYTHONUNBUFFERED": "1", processes.RUN_ID_VAR: run_id})
                for database in databases]
    failures = processes.run_together(commands, SEED_TIMEOUT_SECONDS,
                                      cwd=config.project_root())
    if failures:
        raise LabError("; ".join(failures))


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


# -- replicas -----------------------------------------------------------------
#
# A web process may run as several gunicorn masters on its one port (SO_REUSEPORT: the
# kernel spreads the connections among them). Replica 1 keeps the process's name,
# replica k is "<name>.k" (supervisor, state.json, status, logs/<name>.k.log). Each gets
# replica 1's environment plus REPLICA_VARIABLES: its number, and a private port of its
# own (from config.Ports.replicas) where its health is asked, for a GET of the shared
# port reaches whichever replica the kernel picks. A process that is not replicated
# keeps exactly the argv and environment it always had.

REPLICA_VARIABLES = ("ARCHLAB_REPLICA", "REPLICA_PORT")
# How long `scale` waits for the supervisor to take up a changed supervisor.json, and
# for drained replicas to exit (its grace period, then its SIGKILL, with time to spare).
RELOAD_TIMEOUT_SECONDS = 10.0
DRAIN_TIMEOUT_SECONDS = STOP_GRACE_SECONDS + 10.0
SCALE_LOCK_FILE = "scale.lock"


def replica_name(service: str, replica: int) -> str:
    """The process name of replica number `replica` of `service`: "catalog", "catalog.2"."""
    return service if replica == 1 else f"{service}.{replica}"


def scalable_services(stack: Stack) -> list[str]:
    """The processes that may run as replicas: the shop's web processes and background
    workers, not the external card processor."""
    return [p.name for p in stack.processes if not p.external]


def check_replica_count(service: str, count: int, scalable: list[str],
                        processes: list[str], external: list[str]) -> None:
    """A LabError unless `service` is one of `scalable` and `count` is at least 1;
    `external` are the processes that stand for parties outside the shop."""
    if service in external:
        raise LabError(f"{service} is the external card processor's simulator, not part of "
                       f"the shop: it always runs as one process. Scalable: "
                       f"{', '.join(scalable)}")
    if service not in scalable:
        raise LabError(f"{service!r} cannot be scaled: it is not a process of this stack. "
                       f"Scalable: {', '.join(scalable)}")
    if count < 1:
        raise LabError(f"{service} needs at least 1 replica, not {count}; "
                       "`archlab down` stops the whole stack")


def replica_counts(stack: Stack, ports: config.Ports,
                   replicas: dict[str, int] | None) -> dict[str, int]:
    """How many replicas each process runs: 1 unless `replicas` says otherwise. A
    LabError for a process that cannot be scaled, a count below 1, or more replicas of
    web processes than the block has private ports for."""
    scalable = scalable_services(stack)
    counts = dict.fromkeys(scalable, 1)
    for service, count in (replicas or {}).items():
        check_replica_count(service, count, scalable, [p.name for p in stack.processes],
                            [p.name for p in stack.processes if p.external])
        counts[service] = count
    # A background worker has no port, so its replicas need no private ones.
    needed = sum(count for service, count in counts.items()
                 if count > 1 and stack.process(service).port is not None)
    if needed > len(ports.replicas):
        raise too_few_replica_ports(needed, ports)
    return counts


def too_few_replica_ports(needed: int, ports: config.Ports) -> LabError:
    """The error for more replicas than the port block has private ports for."""
    return LabError(
        f"{needed} replicas need a private port each, and the stack's port block has "
        f"{len(ports.replicas)} for them ({ports.replicas.start}-{ports.replicas.stop - 1}); "
        "run fewer replicas")


def with_port(url: str | None, port: int) -> str | None:
    """`url` (a health URL) on 127.0.0.1:`port` instead."""
    if url is None:
        return None
    return urlsplit(url)._replace(netloc=f"127.0.0.1:{port}").geturl()


def replica_records(stack: Stack, ports: config.Ports, counts: dict[str, int]) -> list[dict]:
    """What state.json "processes" records: one entry per replica of each process, with
    its service, number, shared and private port, health URL and database. The private
    ports go to the replicas of replicated processes only, in order."""
    free = iter(ports.replicas)
    records = []
    for spec in stack.processes:
        count = counts.get(spec.name, 1)
        for replica in range(1, count + 1):
            private = next(free) if count > 1 and spec.port is not None else None
            records.append({
                "name": replica_name(spec.name, replica), "service": spec.name,
                "replica": replica, "port": spec.port, "replica_port": private,
                "health_url": (with_port(spec.health_url, private) if private
                               else spec.health_url),
                "database": spec.database})
    return records


def liveness_check(record: dict, heartbeats: Path) -> dict:
    """What the supervisor's liveness checks of process `record`: GET /healthz where its
    health is asked (a replica's private port), never /readyz - a database outage must
    restart nothing; or, without a port, the heartbeat file its worker loop touches."""
    if record["health_url"]:
        return {"url": urlsplit(record["health_url"])._replace(path="/healthz").geturl()}
    return {"heartbeat": str(heartbeats / record["name"])}


def replica_env(env: dict[str, str], record: dict) -> dict[str, str]:
    """A replica's environment: replica 1's `env`, plus its number and private port when it
    has one (an unreplicated process's environment is `env` as it is)."""
    env = {key: value for key, value in env.items() if key not in REPLICA_VARIABLES}
    if record["replica_port"] is not None:
        env["ARCHLAB_REPLICA"] = str(record["replica"])
        env["REPLICA_PORT"] = str(record["replica_port"])
    return env


def replica_connections(plan: sizing.Plan, service: str) -> int:
    """PostgreSQL connections one replica of `service` pools, by the stack's sizing plan
    (its workers times its pool; none without a database, e.g. the gateway)."""
    size = plan.processes.get(service)
    return size.replica_connections() if size is not None else 0


def stack_connections(state: dict, counts: dict[str, int]) -> int:
    """The connections the stack's pools need with `counts` replicas (1 where not given)."""
    plan = sizing.from_dict(state["sizing"]["plan"])
    services = dict.fromkeys(r["service"] for r in state["processes"])
    return sum(counts.get(service, 1) * replica_connections(plan, service)
               for service in services)


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
           settings: dict[str, str] | None = None, test_hooks: bool = False,
           sizing: dict | None = None,
           replicas: dict[str, int] | None = None) -> StackInfo:
        """Start the stack and return once every health URL answers 200.

        `settings` override config.STACK_SETTINGS; `sizing` chooses the sizing policy
        (sizing_plan: per-process by default); `test_hooks` gives every process the
        stack's test-hooks file (plumbing.testhooks: crash points, broken variants), which
        no stack has otherwise; `replicas` runs web processes as several replicas
        ({"catalog": 2}; 1 for the rest). On any failure (Ctrl-C included) everything
        started so far is taken down again.
        """
        started = time.monotonic()
        if isinstance(stack, str):
            stack = get_stack(stack, self.ports)
        settings = config.stack_settings(settings)
        self.check_free(stack, replicas)
        state = self._fresh_state(stack, sizing, replicas)
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

    def check_free(self, stack: str | Stack, replicas: dict[str, int] | None = None) -> None:
        """Refuse before anything starts: replicas that cannot be (replica_counts), a stack
        that runs (or is starting) at this base, or a port of the block in use. What a dead
        stack left (after a reboot, say) is cleared, so the user need not run `down`
        first."""
        if isinstance(stack, str):
            stack = get_stack(stack, self.ports)
        counts = replica_counts(stack, self.ports, replicas)
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
        self._check_ports(stack, counts)

    def _check_ports(self, stack: Stack, counts: dict[str, int]) -> None:
        wanted = {p.port: p.name for p in stack.processes if p.port is not None}
        wanted |= {r["replica_port"]: r["name"]
                   for r in replica_records(stack, self.ports, counts) if r["replica_port"]}
        if not os.environ.get("ARCHLAB_DATABASE_URL"):
            wanted[self.ports.postgres] = "PostgreSQL"
        for port, user in sorted(wanted.items()):
            if port_in_use(port):
                raise LabError(
                    f"port {port} (for {user}) is already in use on 127.0.0.1. Stop what "
                    "holds it, or move the lab's ports as a block with "
                    f"ARCHLAB_PORT_BASE (now {self.ports.base}), e.g. ARCHLAB_PORT_BASE=9000."
                )

    def _fresh_state(self, stack: Stack, choice: dict | None = None,
                     replicas: dict[str, int] | None = None) -> dict:
        """Prepare the state folder (last run's logs go) and record the new run in it."""
        shutil.rmtree(self.logs_dir, ignore_errors=True)
        self.logs_dir.mkdir(parents=True)
        self.state_dir.mkdir(parents=True, exist_ok=True)
        cores = config.cores_given()
        plan = sizing_plan(stack, cores, choice, replicas)
        entry = plan.processes[stack.entrypoint]
        ports = dataclasses.asdict(self.ports)
        ports["proxies"] = [self.ports.proxies.start, self.ports.proxies.stop - 1]
        ports["replicas"] = [self.ports.replicas.start, self.ports.replicas.stop - 1]
        counts = replica_counts(stack, self.ports, replicas)
        state = {
            "arch": stack.name,
            # Led by the port base, so `ps e` shows which stack a process belongs to.
            "run_id": f"{self.ports.base}-{datetime.now(UTC):%Y%m%dT%H%M%SZ}-"
                      f"{secrets.token_hex(3)}",
            "port_base": self.ports.base,
            "ports": ports,
            "base_url": stack.base_url,
            "urls": {p.name: f"http://127.0.0.1:{p.port}" for p in stack.processes if p.port},
            # One entry per replica (replica_records); `scale` changes both.
            "processes": replica_records(stack, self.ports, counts),
            "replicas": counts,
            "admin_token": os.environ.get("ARCHLAB_ADMIN_TOKEN") or secrets.token_urlsafe(32),
            "secret_key": secrets.token_hex(32),
            # The plan (archlab/sizing.py), and the entry point's workers and threads.
            "sizing": {"cores": cores, "policy": plan.policy, "web_workers": entry.workers,
                       "web_threads": entry.threads, "max_connections": plan.max_connections,
                       "plan": plan.to_dict()},
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
        """Start PostgreSQL, create each of the stack's databases, then run their seed
        commands with --schema (all at once: each creates its tables and loads its seed)."""
        sizing = state["sizing"]
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
        self._run_seeds(state, ["--schema"])

    def _run_seeds(self, state: dict, args: list[str], *, stock_only: bool = False) -> None:
        """Run the seed command of each database of the stack that has one (of each that
        holds the stock table, with `stock_only`) with `args`."""
        databases = [d for d in state["databases"]
                     if d["seed"] and (d.get("stock") or not stock_only)]
        run_seed_commands(databases, args, state["run_id"])

    def _process_env(self, stack: Stack, state: dict,
                     host: dict[str, str] | None = None) -> dict[str, dict[str, str]]:
        """The whole environment of each process: the `host` variables (HOST_VARIABLES as
        found here, by default), what every process gets from the lab, then its own."""
        dsns = {d["name"]: d["dsn"] for d in state["databases"]}
        plan = sizing.from_dict(state["sizing"]["plan"])
        host = host_environment() if host is None else host
        envs = {}
        for spec in stack.processes:
            env = {
                **host,
                # The process's size from the plan (a background worker's is fixed in
                # its module, so it gets none).
                **(plan.processes[spec.name].env()
                   if plan.processes[spec.name].kind != "background" else {}),
                "ARCHLAB_ADMIN_TOKEN": state["admin_token"],
                "ARCHLAB_SECRET_KEY": state["secret_key"],
                "ARCHLAB_RUN_ID": state["run_id"],
                "ARCHLAB_PROCESS_NAME": spec.name,
                "PYTHONUNBUFFERED": "1",
                **config.process_settings(state["settings"]),
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
        # Each replica runs with replica 1's environment and its own REPLICA_VARIABLES.
        replica_envs = {r["name"]: replica_env(envs[r["service"]], r)
                        for r in state["processes"]}
        checks = {r["name"]: liveness_check(r, self.state_dir / HEARTBEATS_DIR)
                  for r in state["processes"]}
        for name, check in checks.items():
            if "heartbeat" in check:  # a worker beats its own file
                replica_envs[name][HEARTBEAT_VAR] = check["heartbeat"]
        state["environment"] = environment_record(host, replica_envs)
        self._save(state)
        entries = []
        memory = int(float(state["settings"]["MEMORY_LIMIT_MIB"])) or None
        for record in state["processes"]:
            spec = stack.process(record["service"])
            entries.append({
                "name": record["name"], "argv": spec.argv, "env": replica_envs[record["name"]],
                "cwd": str(root), "log": str(self.logs_dir / f"{record['name']}.log"),
                "restart": spec.restart, "liveness": checks[record["name"]],
                "memory_limit_mib": memory})
        (self.state_dir / HEARTBEATS_DIR).mkdir(exist_ok=True)
        # `scale` raises the generation with every change (supervisor.py).
        write_json(self.state_dir / SPEC_FILE, {
            "generation": 0, "run_id": state["run_id"], "processes": entries,
            "liveness": config.liveness_settings(state["settings"])})
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

    def wait_ready(self, timeout: float = READY_TIMEOUT_SECONDS,
                   names: list[str] | None = None) -> None:
        """Return once every process (or those `names`) runs and every health URL answers
        200."""
        state = self._require_state()
        deadline = time.monotonic() + timeout
        while True:
            waiting_for = self._not_ready(state, names)
            if waiting_for is None:
                return
            name, why = waiting_for
            if time.monotonic() >= deadline:
                log = self.logs_dir / f"{name}.log"
                raise StackNotReady(
                    f"{name} was not ready within {timeout:.0f} s ({why}); read {log}"
                )
            time.sleep(0.1)

    def _not_ready(self, state: dict,
                   names: list[str] | None = None) -> tuple[str, str] | None:
        """(process, why) for the first process (of `names`, if given) that is not ready
        yet, None when all are."""
        if not processes.is_running(state["pids"].get("supervisor")):
            raise StackNotReady(
                f"the supervisor exited; read {self.logs_dir / 'supervisor.log'}")
        live = read_json(self.state_dir / STATUS_FILE)
        if live is None:
            return "supervisor", "it has not started the processes yet"
        for spec in state["processes"]:
            if names is not None and spec["name"] not in names:
                continue
            process = live["processes"].get(spec["name"])
            if process is None:
                return spec["name"], "the supervisor has not started it yet"
            if process["state"] == "draining":
                return spec["name"], "its old process is still draining"
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
            replicas=dict(state.get("replicas") or {}),
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

    # -- scale ----------------------------------------------------------------

    def scale(self, service: str, replicas: int, *,
              ready_timeout: float = READY_TIMEOUT_SECONDS) -> ScaleReport:
        """Run `replicas` replicas of the web process `service` in the running stack.

        Up: the new replicas start with replica 1's environment and private ports of their
        own, if the stack's pools stay within the connection budget, and this returns once
        each answers on its private port; replica 1, when it had no private port, is then
        restarted with one (the others serve meanwhile). When a new replica does not get
        healthy, the new ones are drained again and StackNotReady names its log. Down: the
        highest-numbered replicas are drained (gunicorn's graceful stop) and this returns
        once they have exited. The same count again changes nothing.
        """
        started = time.monotonic()
        self._require_running()
        with self._scale_lock():
            state = self._require_running()
            counts = state["replicas"]
            plan = sizing.from_dict(state["sizing"]["plan"])
            check_replica_count(service, replicas, list(counts),
                                [r["service"] for r in state["processes"]],
                                [n for n, p in plan.processes.items() if p.kind == "external"])
            before = counts[service]
            if replicas > before:
                report = self._scale_up(state, service, replicas, ready_timeout)
            elif replicas < before:
                report = self._scale_down(state, service, replicas)
            else:
                report = ScaleReport(service, before, before)
        return dataclasses.replace(report, seconds=round(time.monotonic() - started, 2))

    # -- hold a component down ----------------------------------------------------

    def hold(self, service: str, seconds: float) -> list[str]:
        """Stop every replica of process `service` and keep it down for `seconds` (its
        port refuses connections meanwhile); the supervisor starts it again afterwards.
        Returns the names held, once they have stopped."""
        if not 0 < seconds <= MAX_HOLD_SECONDS:
            raise LabError(f"a hold lasts more than 0 and at most {MAX_HOLD_SECONDS:.0f} s, "
                           f"not {seconds:g}")
        self._require_running()
        with self._scale_lock():
            state = self._require_running()
            names = [r["name"] for r in state["processes"] if r["service"] == service]
            if not names:
                known = sorted({r["service"] for r in state["processes"]})
                raise LabError(f"{service!r} is not a process of this stack: "
                               f"{', '.join(known)}")
            live = read_json(self.state_dir / STATUS_FILE) or {"processes": {}}
            pids = [live["processes"].get(n, {}).get("pid") for n in names]
            spec = read_json(self.state_dir / SPEC_FILE)
            until = time.time() + seconds
            spec["holds"] = {name: t for name, t in spec.get("holds", {}).items()
                             if t > time.time()} | dict.fromkeys(names, until)
            self._apply(state, spec)
            self._wait_for(lambda: not any(processes.is_running(p) for p in pids if p),
                           STOP_GRACE_SECONDS + 5, f"{', '.join(names)} to stop")
        return names

    def _require_running(self) -> dict:
        """The state of the stack at this base, which must be running and know replicas."""
        state = self._require_state()
        if not self._supervisor_alive(state):
            raise NoStackRunning(
                f"the {state['arch']} stack at port base {self.ports.base} no longer runs "
                f"(its supervisor is gone); `{config.command_at(self.ports.base, 'down')}` "
                "clears what it left")
        if "replicas" not in state:
            raise LabError("this stack was started by an older archlab, which did not record "
                           "replicas; restart it (`archlab down`, then `archlab up`) to scale it")
        return state

    @contextlib.contextmanager
    def _scale_lock(self):
        """One `scale` at a time per stack: each rewrites supervisor.json and state.json."""
        with open(self.state_dir / SCALE_LOCK_FILE, "a") as lock:
            try:
                fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                raise LabError("another `archlab scale` is changing this stack; run this "
                               "one again when it has finished") from None
            yield

    def _scale_up(self, state: dict, service: str, count: int,
                  ready_timeout: float) -> ScaleReport:
        before = state["replicas"][service]
        self._check_connections(state, service, count)
        first = next(r for r in state["processes"] if r["name"] == service)
        # A background worker has no port: its replicas need no private ports, and none
        # has to restart with one.
        web = first["port"] is not None
        restart_first = web and first["replica_port"] is None
        ports = (self._free_replica_ports(state, count - before + restart_first) if web
                 else [None] * (count - before))
        first_port = ports.pop(0) if restart_first else None
        new = [{**first, "name": replica_name(service, k), "replica": k, "replica_port": port,
                "health_url": with_port(first["health_url"], port)}
               for k, port in zip(range(before + 1, count + 1), ports, strict=True)]
        spec = read_json(self.state_dir / SPEC_FILE)
        base = next(e for e in spec["processes"] if e["name"] == service)
        self._insert(state, spec, service, new, [self._replica_entry(base, r) for r in new])
        state["replicas"][service] = count
        self._apply(state, spec)
        names = [r["name"] for r in new]
        try:
            self.wait_ready(ready_timeout, names)
        except BaseException as exc:
            # Back to where it was, rather than leave a replica crash-looping.
            self._remove(state, spec, names)
            state["replicas"][service] = before
            self._apply(state, spec)
            self._wait_gone(names)
            if isinstance(exc, StackNotReady):
                raise StackNotReady(f"{exc}. {service} is back at {before} "
                                    f"replica{'s' if before > 1 else ''}.") from exc
            raise
        restarted = []
        if restart_first:
            # Replica 1 ran alone without a private port; its health must be asked of it
            # alone from now on, so it restarts with one while the new replicas serve.
            old_pid = self._live_pid(service)
            first.update(replica_port=first_port,
                         health_url=with_port(first["health_url"], first_port))
            entry = self._replica_entry(base, first)
            spec["processes"] = [entry if e["name"] == service else e
                                 for e in spec["processes"]]
            self._record_env(state, entry)
            self._apply(state, spec)
            self._wait_for(lambda: self._live_pid(service) not in (old_pid, None),
                           DRAIN_TIMEOUT_SECONDS, f"{service} to restart with a private port")
            self.wait_ready(ready_timeout, [service])
            restarted.append(service)
        self._record_pids(state)
        return ScaleReport(service, before, count, started=names, restarted=restarted)

    def _scale_down(self, state: dict, service: str, count: int) -> ScaleReport:
        before = state["replicas"][service]
        going = [r["name"] for r in sorted(state["processes"], key=lambda r: -r["replica"])
                 if r["service"] == service and r["replica"] > count]
        pids = [pid for pid in map(self._live_pid, going) if pid]
        spec = read_json(self.state_dir / SPEC_FILE)
        self._remove(state, spec, going)
        state["replicas"][service] = count
        self._apply(state, spec)
        self._wait_gone(going)
        processes.wait_gone(pids, 5)  # reaped by the supervisor by now
        drained = (read_json(self.state_dir / STATUS_FILE) or {}).get("drained", {})
        seconds = [drained[name]["seconds"] for name in going if name in drained]
        self._record_pids(state)
        return ScaleReport(service, before, count, drained=going,
                           killed=[n for n in going if drained.get(n, {}).get("killed")],
                           drain_seconds=max(seconds) if seconds else None)

    def _check_connections(self, state: dict, service: str, count: int) -> None:
        """Refuse a scale-up after which the stack's pools could need more connections than
        the cluster allows them: max_connections minus SPARE_CONNECTIONS."""
        per_replica = replica_connections(sizing.from_dict(state["sizing"]["plan"]), service)
        needed = stack_connections(state, {**state["replicas"], service: count})
        max_connections = state["sizing"]["max_connections"]
        allowed = max_connections - SPARE_CONNECTIONS
        if per_replica == 0 or needed <= allowed:
            return
        room = max(allowed - stack_connections(state, state["replicas"]), 0)
        most = state["replicas"][service] + room // per_replica
        raise LabError(
            f"{count} replicas of {service} would need {needed} PostgreSQL connections for "
            f"the stack's pools ({per_replica} per {service} replica), more than the "
            f"{allowed} the cluster allows them (max_connections {max_connections} minus "
            f"{SPARE_CONNECTIONS} spare). Scale {service} to at most {most}, or fewer "
            "replicas of another service first.")

    def _free_replica_ports(self, state: dict, count: int) -> list[int]:
        """`count` private ports of the block that no replica has and nothing holds."""
        used = {r["replica_port"] for r in state["processes"] if r["replica_port"]}
        free = []
        for port in self.ports.replicas:
            if len(free) == count:
                break
            if port not in used and not port_in_use(port):
                free.append(port)
        if len(free) < count:
            raise too_few_replica_ports(len(used) + count, self.ports)
        return free

    def _replica_entry(self, base: dict, record: dict) -> dict:
        """The supervisor.json entry of replica `record`: replica 1's entry `base` under the
        replica's name, with its own log and its REPLICA_VARIABLES."""
        check = liveness_check(record, self.state_dir / HEARTBEATS_DIR)
        env = replica_env(base["env"], record)
        if "heartbeat" in check:
            env[HEARTBEAT_VAR] = check["heartbeat"]  # each replica beats its own file
        return {**base, "name": record["name"],
                "log": str(self.logs_dir / f"{record['name']}.log"), "env": env,
                "liveness": check}

    @staticmethod
    def _record_env(state: dict, entry: dict) -> None:
        """Record the environment of `entry` in state.json "environment", as `up` does."""
        host = state["environment"]["host"]
        state["environment"]["processes"].update(
            environment_record(host, {entry["name"]: entry["env"]})["processes"])

    def _insert(self, state: dict, spec: dict, service: str, records: list[dict],
                entries: list[dict]) -> None:
        """Put new replicas of `service` after its others, in state.json and in
        supervisor.json."""
        names = {r["name"] for r in state["processes"] if r["service"] == service}
        for items, new in ((state["processes"], records), (spec["processes"], entries)):
            last = max(i for i, item in enumerate(items) if item["name"] in names)
            items[last + 1:last + 1] = new
        for entry in entries:
            self._record_env(state, entry)

    @staticmethod
    def _remove(state: dict, spec: dict, names: list[str]) -> None:
        """Take the processes `names` out of state.json and supervisor.json."""
        state["processes"] = [r for r in state["processes"] if r["name"] not in names]
        spec["processes"] = [e for e in spec["processes"] if e["name"] not in names]
        for name in names:
            state["environment"]["processes"].pop(name, None)
            state["pids"].pop(name, None)

    def _apply(self, state: dict, spec: dict) -> None:
        """Save state.json and the next generation of supervisor.json, send the supervisor
        SIGHUP, and wait until it has taken the file up."""
        spec["generation"] = spec.get("generation", 0) + 1
        self._save(state)
        write_json(self.state_dir / SPEC_FILE, spec)
        supervisor = state["pids"]["supervisor"]
        os.kill(supervisor, signal.SIGHUP)

        def applied() -> bool:
            if not processes.is_running(supervisor):
                raise StackNotReady(
                    f"the supervisor exited; read {self.logs_dir / 'supervisor.log'}")
            live = read_json(self.state_dir / STATUS_FILE) or {}
            return (live.get("generation") or 0) >= spec["generation"]
        self._wait_for(applied, RELOAD_TIMEOUT_SECONDS,
                       f"the supervisor to take up the new {SPEC_FILE}")

    def _wait_gone(self, names: list[str]) -> None:
        """Wait until the supervisor has drained the processes `names` and let them go."""
        def gone() -> bool:
            live = read_json(self.state_dir / STATUS_FILE) or {"processes": {}}
            return not any(name in live["processes"] for name in names)
        self._wait_for(gone, DRAIN_TIMEOUT_SECONDS, f"{', '.join(names)} to drain")

    def _wait_for(self, condition, timeout: float, what: str) -> None:
        deadline = time.monotonic() + timeout
        while not condition():
            if time.monotonic() >= deadline:
                raise StackNotReady(f"gave up after {timeout:.0f} s waiting for {what}; "
                                    f"read {self.logs_dir / 'supervisor.log'}")
            time.sleep(0.05)

    def _live_pid(self, name: str) -> int | None:
        """The pid the supervisor reports for process `name` (None when it runs none)."""
        live = read_json(self.state_dir / STATUS_FILE) or {"processes": {}}
        return live["processes"].get(name, {}).get("pid")

    def _record_pids(self, state: dict) -> None:
        """Record in state.json the pid of every process the supervisor runs now."""
        live = read_json(self.state_dir / STATUS_FILE) or {"processes": {}}
        for record in state["processes"]:
            pid = live["processes"].get(record["name"], {}).get("pid")
            if pid:
                state["pids"][record["name"]] = pid
        self._save(state)

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
        """Each process's (each replica's) pid, liveness, health (1 s GET, on a replica's
        private port) and restarts."""
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
                replica_port=spec.get("replica_port"),
                liveness_restarts=process.get("liveness_restarts", 0),
                state=process.get("state", "-"),
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
        """Put every database back to its seed: its seed command, all at once."""
        self._run_seeds(self._require_state(), [])

    def restock(self, minimum: int) -> None:
        """Raise every product's available stock to at least `minimum`, in each database
        that holds the shop's stock table (its seed command's --restock: one UPDATE; sold
        and reserved stay)."""
        if minimum < 0:
            raise LabError(f"cannot restock to {minimum} units: give a number >= 0")
        self._run_seeds(self._require_state(), ["--restock", str(minimum)], stock_only=True)

    # -- database faults (for the chaos tests and by hand) ------------------------

    def terminate_db_connections(self, role: str | None = None) -> int:
        """End the stack's database sessions (pg_terminate_backend), those of one of its
        roles (state.json "databases" "role") when given; returns how many were ended.
        Only the stack's own roles: on an ARCHLAB_DATABASE_URL server other stacks'
        sessions are left alone."""
        state = self._require_state()
        if not state.get("database"):
            raise LabError(f"the stack at port base {self.ports.base} has no database yet")
        users = {d["role"]: parse_dsn(d["dsn"])["user"] for d in state["databases"]}
        if role is not None and role not in users:
            raise LabError(f"{role!r} is not a role of this stack: "
                           f"{', '.join(sorted(users)) or 'it has none'}")
        chosen = [users[role]] if role is not None else sorted(set(users.values()))
        return terminate_connections(database_from_state(state["database"]).admin_dsn,
                                     chosen)

    def restart_database(self) -> None:
        """Restart the stack's PostgreSQL (fast shutdown: every session ends) and return
        once it accepts connections again; a LabError for an ARCHLAB_DATABASE_URL server,
        which the lab does not restart."""
        state = self._require_state()
        if not state.get("database"):
            raise LabError(f"the stack at port base {self.ports.base} has no database yet")
        db = database_from_state(state["database"])
        # The run id, as at `up`: `down` finds a server it left behind by it.
        db.restart(env={processes.RUN_ID_VAR: state["run_id"]})
        state["pids"]["postgres"] = db.pid
        state["database"] = db.to_state()
        self._save(state)

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
