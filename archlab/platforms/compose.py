"""The compose platform: a stack as containers on a Docker engine (compose/*.yml).

The same interface as the local platform (archlab/platforms/base.py), driven through
Docker's own command line: `docker compose` (Compose v2) where it works, else Debian's
`docker-compose` 1.29, and `docker inspect` for what runs. The command line, not the
Docker SDK, because it is what the README shows a person and what the tests check: the
commands this module issues (Cli records them; a fake one in the unit tests).

Per stack the lab writes an env file (mode 0600) in its state folder: the secrets, drawn
fresh for each `up`; the stack settings; each process's sizing from the equal-total plan
on the containers' CPUs (archlab/sizing.py); and each container's CPU and memory limit
(archlab/limits.py), so both architectures get the same totals. Every compose command
gets that file, so `down` and `ps` see the same project.

Health on the engine: a web container's health check asks /readyz (start order, and what
`up` waits for); a background worker's asks whether its heartbeat file is fresh. The
engine restarts a container whose main process exits with an error (`restart:
on-failure`), but it only marks one that fails its health check unhealthy, and this
platform does not restart it either (docs/supervision.md says why).
"""

import csv
import json
import os
import secrets
import shutil
import signal
import subprocess
import threading
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

import psutil

from archlab import config, limits, sizing
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
from archlab.platforms.local import MAX_HOLD_SECONDS, SEED_TIMEOUT_SECONDS, sizing_plan
from archlab.platforms.statefiles import read_json, write_json
from archlab.stacks import Stack, get_stack
from plumbing.observability import is_access_line, probe_figures

COMPOSE_DIR = "compose"
READY_TIMEOUT_SECONDS = 600.0
# Seconds a container gets to stop before it is killed (gunicorn drains within it).
STOP_TIMEOUT_SECONDS = 10
STATE_FILE = "state.json"
ENV_FILE = "compose.env"
# The engine's daemon on this host (Debian's docker.io starts containerd as its child), and
# the per-container shims, which are the parents of a container's main process and of
# every healthcheck the engine runs in it.
ENGINE_DAEMON = "dockerd"
SHIM_PREFIX = "containerd-shim"
# A hold's restarter: a detached `sh` named so (its $0), that sleeps out the hold and then
# runs `docker start`; its output goes to this file of the logs folder.
HOLD_MARK = "archlab-hold"
HOLDS_LOG = "holds.log"
# The restarter's script: sleep "$1" seconds, then run the rest of its arguments.
HOLD_SCRIPT = 'sleep "$1"; shift; exec "$@"'


def engine_processes(table: dict[int, tuple[int, str]], container_pids) -> list[int]:
    """The pids of a local engine's processes that work for a stack, from a process table
    {pid: (parent pid, name)}: the daemon (its tree holds containerd) and the shim of each
    of the stack's containers (`container_pids`: their main processes)."""
    found = [pid for pid, (_, name) in table.items() if name == ENGINE_DAEMON]
    for pid in container_pids:
        parent = table.get(pid, (0, ""))[0]
        if table.get(parent, (0, ""))[1].startswith(SHIM_PREFIX) and parent not in found:
            found.append(parent)
    return found


def env_prefix(process: str) -> str:
    """The prefix of a process's variables in the stack files: 'card-processor' ->
    'CARD_PROCESSOR'."""
    return process.upper().replace("-", "_")


def container_name(labels: dict) -> str:
    """A container as `status` names it: its service, with ".<number>" from the second
    container of a service on ("catalog", "catalog.2")."""
    service = labels.get("com.docker.compose.service", "?")
    number = labels.get("com.docker.compose.container-number", "1")
    return service if number == "1" else f"{service}.{number}"


def seed_module(ref: str) -> str:
    """The seed command's module of a DatabaseSpec's `seed` ('pkg.seed' or 'pkg.seed:fn')."""
    return ref.partition(":")[0]


class Cli:
    """Runs docker and compose commands; each one's argv is kept in `issued`."""

    def __init__(self, compose: list[str] | None = None, docker: str | None = None):
        self.docker = docker or os.environ.get("ARCHLAB_DOCKER", "docker")
        self._compose = compose
        self.issued: list[list[str]] = []

    @property
    def compose(self) -> list[str]:
        """The compose command: ARCHLAB_COMPOSE, else `docker compose` where it answers,
        else `docker-compose`."""
        if self._compose is None:
            chosen = os.environ.get("ARCHLAB_COMPOSE")
            if chosen:
                self._compose = chosen.split()
            elif self.ok([self.docker, "compose", "version"]):
                self._compose = [self.docker, "compose"]
            elif shutil.which("docker-compose"):
                self._compose = ["docker-compose"]
            else:
                raise LabError("no Docker Compose found: install Docker with Compose "
                               "(`docker compose`) or Debian's docker-compose")
        return self._compose

    def ok(self, argv: list[str]) -> bool:
        """Whether a command exits with 0 (its output is dropped)."""
        try:
            return subprocess.run(argv, stdin=subprocess.DEVNULL, capture_output=True,
                                  timeout=60).returncode == 0
        except (OSError, subprocess.TimeoutExpired):
            return False

    def run_together(self, commands: list[tuple[str, list[str], dict | None]],
                     timeout: float) -> list[str]:
        """Run (name, argv, env) commands at once (processes.run_together): the failures."""
        self.issued += [list(argv) for _, argv, _ in commands]
        return processes.run_together(commands, timeout)

    def detach(self, argv: list[str], log: Path) -> int:
        """Start `argv` in a session of its own, its output appended to `log`, and return
        its pid without waiting: it outlives this process."""
        self.issued.append(list(argv))
        with open(log, "a") as out:
            return subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=out,
                                    stderr=subprocess.STDOUT, start_new_session=True).pid

    def run(self, argv: list[str], *, timeout: float = 600, check: bool = True) -> str:
        """Run `argv` and return its stdout; a failure is a LabError with its last words."""
        self.issued.append(list(argv))
        try:
            done = subprocess.run(argv, stdin=subprocess.DEVNULL, capture_output=True,
                                  text=True, timeout=timeout)
        except FileNotFoundError:
            raise LabError(f"{argv[0]} is not installed (needed for the compose platform)") \
                from None
        except subprocess.TimeoutExpired:
            raise LabError(f"`{' '.join(argv[:4])} ...` did not finish in {timeout:.0f} s") \
                from None
        if check and done.returncode != 0:
            last = (done.stderr.strip() or done.stdout.strip()).splitlines()[-5:]
            raise LabError(f"`{' '.join(argv)}` failed (exit {done.returncode}): "
                           + " / ".join(last))
        return done.stdout


class ComposePlatform(Platform):
    """One stack at a time as a compose project on the Docker engine DOCKER_HOST names."""

    def __init__(self, port_base: int | None = None, cli: Cli | None = None):
        self.ports = config.Ports.from_base(
            port_base if port_base is not None else config.port_base())
        self.state_dir = config.state_root() / "compose" / str(self.ports.base)
        self.logs_dir = config.state_root() / "logs" / f"compose-{self.ports.base}"
        self.cli = cli or Cli()

    # -- the commands ---------------------------------------------------------

    def compose_argv(self, arch: str, *args: str) -> list[str]:
        """A compose command on `arch`'s stack file, its project and env file."""
        root = config.project_root()
        return [*self.cli.compose, "--project-name", self.project(arch),
                "--file", str(root / COMPOSE_DIR / f"{arch}.yml"),
                "--env-file", str(self.state_dir / ENV_FILE), *args]

    def project(self, arch: str) -> str:
        """The compose project: one per port base and architecture."""
        return f"archlab{self.ports.base}-{arch}"

    def _compose(self, arch: str, *args: str, timeout: float = 600) -> str:
        return self.cli.run(self.compose_argv(arch, *args), timeout=timeout)

    # -- up -------------------------------------------------------------------

    def up(self, stack: str | Stack, *, settings: dict | None = None,
           sizing: dict | None = None, cpus: float | None = None,
           memory_mib: int | None = None) -> StackInfo:
        """Build the image, start the stack's containers and return once all are healthy
        (seeded by their one-shot containers). `sizing` is the sizing choice (equal-total
        by default here: the containers' limits add up to the same totals); `cpus` (else
        ARCHLAB_CPUS, else the cores this process may use) and `memory_mib` (else
        ARCHLAB_MEMORY_MIB) are the totals."""
        arch = stack if isinstance(stack, str) else stack.name
        stack = get_stack(arch, self.ports)
        if read_json(self.state_dir / STATE_FILE) is not None:
            raise StackAlreadyRunning(
                f"a compose stack is already up at port base {self.ports.base}; take it "
                f"down with `{config.command_at(self.ports.base, 'down --platform compose')}`")
        self.cli.run([self.cli.docker, "info", "--format", "{{.ServerVersion}}"],
                     timeout=30)
        cpus = cpus or float(os.environ.get("ARCHLAB_CPUS") or config.cores_given())
        memory_mib = memory_mib or int(os.environ.get("ARCHLAB_MEMORY_MIB",
                                                      limits.DEFAULT_MEMORY_MIB))
        state = {"arch": arch, "run_id": uuid.uuid4().hex[:12],
                 "admin_token": secrets.token_urlsafe(24),
                 "base_url": f"http://{publish_address()}:{stack.process(stack.entrypoint).port}",
                 "entrypoint": stack.entrypoint,
                 "settings": config.stack_settings(settings),
                 "started_at": datetime.now(UTC).isoformat(timespec="seconds"),
                 "startup_seconds": None}
        state["urls"] = {stack.entrypoint: state["base_url"]}
        env, state["sizing"] = self.stack_env(stack, state, settings, cpus, memory_mib,
                                              sizing or {"policy": "equal-total"})
        self.state_dir.mkdir(parents=True, exist_ok=True)
        write_env_file(self.state_dir / ENV_FILE, env)
        write_json(self.state_dir / STATE_FILE, state)
        started = time.monotonic()
        try:
            self._compose(arch, "build", timeout=1800)
            self._compose(arch, "up", "--detach", "--no-build", timeout=900)
            self.wait_ready(READY_TIMEOUT_SECONDS)
        except BaseException:
            self._save_logs(arch)
            raise
        state["startup_seconds"] = round(time.monotonic() - started, 1)
        write_json(self.state_dir / STATE_FILE, state)
        self.record_pids()
        return self._info(state)

    def record_pids(self) -> None:
        """Each container's main process on this host, where the local platform keeps its
        processes' (processes.json), so the sampler, the census and the host-CPU window
        find the stack's process trees as they do locally (an engine on this machine)."""
        running = {p.name: {"pid": p.pid} for p in self.status().processes if p.pid}
        write_json(self.state_dir / "processes.json", {"processes": running})

    def engine_pids(self) -> list[int]:
        """The engine's processes on this host that serve this stack (engine_processes):
        the host-CPU window counts them as the platform's, not another program's load.
        None are found for an engine on another machine."""
        running = read_json(self.state_dir / "processes.json") or {"processes": {}}
        table = {p.pid: (p.info["ppid"], p.info["name"] or "")
                 for p in psutil.process_iter(["ppid", "name"])}
        return engine_processes(table, [p["pid"] for p in running["processes"].values()])

    def condition(self) -> str:
        """'running' when a compose stack is up at this port base, else 'down'."""
        return "running" if read_json(self.state_dir / STATE_FILE) is not None else "down"

    def access_logs(self) -> "ContainerLogs":
        """What counts the access-log lines each container writes (census.AccessLogs)."""
        return ContainerLogs(self)

    def engine_stats(self, out: Path) -> "EngineStats":
        """A sampler of the containers' CPU and memory as the engine reports them."""
        state = self._require_state()
        return EngineStats(self.cli, self.compose_argv(state["arch"], "ps", "--quiet"), out)

    def stack_env(self, stack: Stack, state: dict, settings: dict | None, cpus: float,
                  memory_mib: int, choice: dict) -> tuple[dict[str, str], dict]:
        """The variables the stack files read, and the sizing record: secrets, settings,
        the entry point's published address and port, the cores every container may run
        on (this process's), each process's size and limits."""
        cores = max(1, round(cpus))
        plan = sizing_plan(stack, cores, choice)
        # The limits split by the plan's shares (equal-total), else by the stated split.
        shares = {name: size.share for name, size in plan.web().items()}
        shares = shares if None not in shares.values() else None
        container_limits = limits.split(sizing.shape_of(stack), shares, cpus, memory_mib)
        env = {
            "ARCHLAB_ADMIN_TOKEN": state["admin_token"],
            "ARCHLAB_SECRET_KEY": secrets.token_urlsafe(32),
            "ARCHLAB_RUN_ID": state["run_id"],
            "POSTGRES_PASSWORD": secrets.token_urlsafe(18),
            "ARCHLAB_PUBLISH_ADDRESS": publish_address(),
            "ARCHLAB_PORT": str(stack.process(stack.entrypoint).port),
            "ARCHLAB_MAX_CONNECTIONS": str(plan.max_connections),
            # The cores this process runs on (the bench pins itself to the system under
            # test's); the engine starts the containers, so they do not inherit it.
            "ARCHLAB_CPUSET": ",".join(map(str, config.available_cpus())),
            **config.process_settings(config.stack_settings(settings)),
        }
        for name in ("ARCHLAB_IMAGE", "BASE_IMAGE", "POSTGRES_IMAGE"):
            if os.environ.get(name):
                env[name] = os.environ[name]
        env |= {f"{env_prefix(d.name)}_DB_PASSWORD": secrets.token_urlsafe(18)
                for d in stack.databases}
        for name, size in plan.processes.items():
            if size.kind != "background":
                env |= {f"{env_prefix(name)}_{key}": value
                        for key, value in size.env().items()}
        for name, limit in container_limits.items():
            env[f"{env_prefix(name)}_CPUS"] = f"{limit.cpus:g}"
            env[f"{env_prefix(name)}_MEMORY"] = f"{limit.memory_mib}M"
        record = {"cores": cores, "cpus": cpus, "memory_mib": memory_mib,
                  "cpuset": env["ARCHLAB_CPUSET"],
                  "policy": plan.policy, "plan": plan.to_dict(),
                  "max_connections": plan.max_connections,
                  "limits": {name: {"cpus": limit.cpus, "memory_mib": limit.memory_mib}
                             for name, limit in container_limits.items()}}
        return env, record

    def _info(self, state: dict) -> StackInfo:
        return StackInfo(arch=state["arch"], run_id=state["run_id"],
                         base_url=state["base_url"],
                         urls={state["entrypoint"]: state["base_url"]},
                         admin_token=state["admin_token"], state_dir=self.state_dir,
                         database=f"PostgreSQL in the {self.project(state['arch'])}-postgres "
                                  "container",
                         startup_seconds=state["startup_seconds"] or 0.0,
                         replicas={})

    # -- what runs ------------------------------------------------------------

    def containers(self, arch: str) -> list[dict]:
        """`docker inspect` of every container of the project, seeds included."""
        ids = self._compose(arch, "ps", "--all", "--quiet").split()
        if not ids:
            return []
        return json.loads(self.cli.run([self.cli.docker, "inspect", *ids]))

    def wait_ready(self, timeout: float = READY_TIMEOUT_SECONDS) -> None:
        """Return once every seed container exited 0 and every other one runs healthy."""
        state = self._require_state()
        stack = get_stack(state["arch"], self.ports)
        expected = {p.name for p in stack.processes} | {"postgres"}
        deadline = time.monotonic() + timeout
        while True:
            waiting = self._not_ready(state["arch"], expected)
            if waiting is None:
                return
            if time.monotonic() >= deadline:
                raise StackNotReady(f"{waiting} within {timeout:.0f} s; read "
                                    f"`{' '.join(self.compose_argv(state['arch'], 'logs'))}`")
            time.sleep(1)

    def _not_ready(self, arch: str, expected: set[str]) -> str | None:
        """Why the stack is not ready yet (None: it is); a failed seed is a StackNotReady."""
        seen = set()
        for container in self.containers(arch):
            service = container["Config"]["Labels"].get("com.docker.compose.service", "?")
            run = container["State"]
            if service.startswith("seed-"):
                if run["Status"] == "exited" and run["ExitCode"] != 0:
                    logs = self.cli.run([self.cli.docker, "logs", "--tail", "5",
                                         container["Id"]], check=False)
                    raise StackNotReady(f"{service} failed (exit {run['ExitCode']}): "
                                        + " / ".join(logs.strip().splitlines()[-3:]))
                if run["Status"] != "exited":
                    return f"{service} has not finished seeding"
                continue
            seen.add(service)
            health = (run.get("Health") or {}).get("Status")
            if run["Status"] != "running" or health not in (None, "healthy"):
                return f"{service} was not healthy ({health or run['Status']})"
        missing = expected - seen
        if missing:
            return f"{', '.join(sorted(missing))} had not started"
        return None

    def status(self) -> StackStatus:
        """Every container of the stack: its process id on the host, health, restarts."""
        state = self._require_state()
        rows = []
        held = {service for service, hold in state.get("holds", {}).items()
                if hold["until"] > time.time()}
        carried = state.get("restarts_carried", {})
        for container in self.containers(state["arch"]):
            labels = container["Config"]["Labels"]
            service = labels.get("com.docker.compose.service", "?")
            if service.startswith("seed-"):
                continue
            number = labels.get("com.docker.compose.container-number", "1")
            run = container["State"]
            health = (run.get("Health") or {}).get("Status")
            rows.append(ProcessStatus(
                name=container_name(labels),
                port=(int(state["base_url"].rsplit(":", 1)[1])
                      if service == state["entrypoint"] and number == "1" else None),
                pid=run.get("Pid") or None, alive=run["Status"] == "running",
                health={"healthy": "ok", None: "-"}.get(health, health),
                # The engine's count, plus what it counted before a hold's `docker
                # start` set it back to 0.
                restarts=container.get("RestartCount", 0)
                + carried.get(container["Id"], {}).get("restarts", 0),
                # The engine's word (running, exited, paused, restarting), or "held".
                state="held" if service in held and run["Status"] != "running"
                else run["Status"]))
        return StackStatus(arch=state["arch"], run_id=state["run_id"],
                           base_url=state["base_url"], state_dir=self.state_dir,
                           database=self._info(state).database, supervisor_pid=None,
                           supervisor_alive=True, processes=sorted(rows, key=lambda r: r.name))

    # -- changes --------------------------------------------------------------

    def scale(self, service: str, replicas: int) -> ScaleReport:
        """Run `replicas` containers of a process: a web process's behind its service
        name (the engine's DNS spreads the other services' connections among them), a
        background worker's side by side (they share its work by claiming it, each with
        a heartbeat file of its own in its container)."""
        state = self._require_state()
        stack = get_stack(state["arch"], self.ports)
        names = [p.name for p in stack.processes if not p.external]
        if service not in names:
            raise LabError(f"{service!r} cannot be scaled: the shop's processes are "
                           f"{', '.join(names)}")
        if service == state["entrypoint"]:
            raise LabError(f"{service} is the published entry point: one container holds "
                           "its host port, so it cannot be scaled on the compose platform")
        if replicas < 1:
            raise LabError(f"{service} needs at least 1 replica, not {replicas}")
        before = sum(1 for c in self.containers(state["arch"])
                     if c["Config"]["Labels"].get("com.docker.compose.service") == service)
        started = time.monotonic()
        self._compose(state["arch"], "up", "--detach", "--no-build", "--no-deps",
                      "--no-recreate", "--scale", f"{service}={replicas}", service)
        self.wait_ready()
        return ScaleReport(service=service, before=before, after=replicas,
                           seconds=round(time.monotonic() - started, 1))

    def running(self) -> bool:
        """Whether a compose stack is up at this port base."""
        return self.condition() == "running"

    def hold(self, service: str, seconds: float) -> list[str]:
        """Stop every container of process `service` and keep them down for `seconds`
        (counted from this call, as on the local platform), then start them again.
        Returns their names once they have stopped; the caller does not wait for the end.

        `docker stop` (SIGTERM, SIGKILL after STOP_TIMEOUT_SECONDS) is a manual stop, so
        `restart: on-failure` leaves the containers down (`docker kill` would too; a
        SIGKILL from the host would not: that exit is a crash, restarted at once). Their
        service name resolves to nothing meanwhile, so callers fail to connect. A
        detached restarter of this process (HOLD_MARK) sleeps out the hold and runs
        `docker start`, which gives the restart policy back; a new hold of the same
        process replaces the last one's restarter. `docker start` sets the engine's
        restart count back to 0: `status` adds what it had counted (a hold is no crash,
        and it erases none)."""
        if not 0 < seconds <= MAX_HOLD_SECONDS:
            raise LabError(f"a hold lasts more than 0 and at most {MAX_HOLD_SECONDS:.0f} s, "
                           f"not {seconds:g}")
        until = time.time() + seconds
        state = self._require_state()
        known = [p.name for p in get_stack(state["arch"], self.ports).processes]
        if service not in known:
            raise LabError(f"{service!r} is not a process of this stack: "
                           f"{', '.join(sorted(known))}")
        found = [c for c in self.containers(state["arch"])
                 if c["Config"]["Labels"].get("com.docker.compose.service") == service]
        if not found:
            raise LabError(f"{service} has no container to hold")
        ids = [c["Id"] for c in found]
        holds = state.setdefault("holds", {})
        end_hold(holds.pop(service, None))
        carried = state.setdefault("restarts_carried", {})
        for c in found:
            # Once per start: a container still stopped by an earlier hold has not been
            # started since its count was carried.
            started = c["State"].get("StartedAt")
            before = carried.get(c["Id"])
            if before is None or before["started_at"] != started:
                carried[c["Id"]] = {"started_at": started,
                                    "restarts": (before or {}).get("restarts", 0)
                                    + c.get("RestartCount", 0)}
        write_json(self.state_dir / STATE_FILE, state)
        self.cli.run([self.cli.docker, "stop", "--time", str(STOP_TIMEOUT_SECONDS), *ids],
                     timeout=STOP_TIMEOUT_SECONDS + 60)
        self.logs_dir.mkdir(parents=True, exist_ok=True)
        left = max(0.0, until - time.time())
        pid = self.cli.detach(["sh", "-c", HOLD_SCRIPT, HOLD_MARK, f"{left:.3f}",
                               self.cli.docker, "start", *ids], self.logs_dir / HOLDS_LOG)
        holds[service] = {"until": until, "pid": pid, "ids": ids}
        write_json(self.state_dir / STATE_FILE, state)
        return [container_name(c["Config"]["Labels"]) for c in found]

    def reseed(self) -> None:
        """Each database's own seed command, in the container of the process that owns it,
        all at once."""
        self._seed_all([])

    def restock(self, minimum: int) -> None:
        """Raise every product's stock to at least `minimum` by the stock databases' own
        seed command (--restock)."""
        self._seed_all(["--restock", str(minimum)], stock_only=True)

    def _seed_all(self, extra: list[str], stock_only: bool = False) -> None:
        state = self._require_state()
        stack = get_stack(state["arch"], self.ports)
        # `docker exec` by container id, not `compose exec`: a compose command costs a
        # second of start-up each, and a bench or a test reseeds often.
        running = {}
        for container in self.containers(state["arch"]):
            labels = container["Config"]["Labels"]
            if container["State"]["Status"] == "running":
                running.setdefault(labels.get("com.docker.compose.service"), container["Id"])
        commands = []
        for database in stack.databases:
            if not database.seed or (stock_only and not database.stock):
                continue
            owner = next(p.name for p in stack.processes
                         if p.database == database.name and p.port is not None)
            if owner not in running:
                raise LabError(f"{owner} is not running: its database cannot be seeded")
            commands.append((database.name, [self.cli.docker, "exec", running[owner],
                                             "python", "-m", seed_module(database.seed),
                                             *extra], None))
        failures = self.cli.run_together(commands, SEED_TIMEOUT_SECONDS)
        if failures:
            raise LabError("seeding failed: " + "; ".join(failures))

    # -- down -----------------------------------------------------------------

    def down(self) -> DownReport:
        """Remove the stack's containers, network and volumes; keep their logs."""
        state = read_json(self.state_dir / STATE_FILE)
        if state is None:
            return DownReport(was_running=False)
        for hold in state.get("holds", {}).values():
            end_hold(hold)
        self._save_logs(state["arch"])
        self._compose(state["arch"], "down", "--volumes", "--remove-orphans",
                      "--timeout", str(STOP_TIMEOUT_SECONDS))
        shutil.rmtree(self.state_dir, ignore_errors=True)
        return DownReport(was_running=True, arch=state["arch"], run_id=state["run_id"],
                          logs_dir=self.logs_dir)

    def _save_logs(self, arch: str) -> None:
        """Every container's output, into the logs folder (kept after `down`)."""
        self.logs_dir.mkdir(parents=True, exist_ok=True)
        output = self.cli.run(self.compose_argv(arch, "logs", "--no-color"), check=False)
        (self.logs_dir / f"{arch}.log").write_text(output)

    def _require_state(self) -> dict:
        state = read_json(self.state_dir / STATE_FILE)
        if state is None:
            raise NoStackRunning(f"no compose stack is up at port base {self.ports.base}")
        return state


def end_hold(hold: dict | None) -> None:
    """End a hold's restarter (ComposePlatform.hold) before it starts its containers, if
    it still runs: only a process whose command line is that restarter's, with its
    containers, so a pid the system has since given another process is left alone."""
    if not hold:
        return
    try:
        argv = psutil.Process(hold["pid"]).cmdline()
    except psutil.Error:
        return
    if HOLD_MARK in argv and hold["ids"][0] in argv:
        try:
            os.killpg(hold["pid"], signal.SIGTERM)
        except OSError:
            pass


def publish_address() -> str:
    """Where the entry point is published and reached: ARCHLAB_PUBLISH_ADDRESS (an engine
    in a network namespace publishes on its veth address), else loopback."""
    return os.environ.get("ARCHLAB_PUBLISH_ADDRESS") or "127.0.0.1"


def write_env_file(path: Path, env: dict[str, str]) -> None:
    """An env file compose reads (KEY=value lines), readable by its owner only: it holds
    the stack's secrets."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        for key, value in env.items():
            if "\n" in value:
                raise LabError(f"{key} holds a line break; an env file cannot carry it")
            f.write(f"{key}={value}\n")


class ContainerLogs:
    """Counts the access-log lines each container wrote between `mark` and `count`
    (docker logs --since/--until), by compose service, as census.AccessLogs does from the
    local platform's log files."""

    def __init__(self, platform: ComposePlatform):
        self.platform = platform
        self.since: str | None = None
        # Requests to /healthz among the lines: liveness probes, not requests served.
        self.probes: dict | None = None

    def mark(self) -> None:
        """Remember now."""
        self.since = datetime.now(UTC).isoformat()

    def count(self) -> dict[str, int]:
        """Access-log lines since `mark`, per service (replicas added together)."""
        until = datetime.now(UTC).isoformat()
        state = self.platform._require_state()
        counts: dict[str, int] = {}
        every: list[bytes] = []
        for container in self.platform.containers(state["arch"]):
            service = container["Config"]["Labels"].get("com.docker.compose.service", "?")
            done = subprocess.run([self.platform.cli.docker, "logs", "--since", self.since,
                                   "--until", until, container["Id"]],
                                  capture_output=True, timeout=120)
            lines = (done.stdout + done.stderr).splitlines()
            counts[service] = counts.get(service, 0) + sum(map(is_access_line, lines))
            every += lines
        self.probes = probe_figures(every)
        return {name: n for name, n in counts.items() if n}


def read_cpu_stat(pid: int, root: Path = Path("/")) -> dict | None:
    """The CPU quota accounting of the cgroup process `pid` runs in, from the kernel's
    cpu.stat (cgroup v2, or v1's cpu controller): {"periods", "throttled_periods",
    "throttled_s"}; None where it cannot be read (an engine on another machine, a cgroup
    without the cpu controller, a process gone). `root`: where /proc and /sys are."""
    try:
        lines = (root / f"proc/{pid}/cgroup").read_text().splitlines()
    except OSError:
        return None
    cgroups = root / "sys/fs/cgroup"
    candidates = []
    for line in lines:
        _, controllers, path = line.split(":", 2)
        path = path.lstrip("/")
        if controllers == "":
            candidates.append(cgroups / path / "cpu.stat")
        elif "cpu" in controllers.split(","):
            candidates += [cgroups / controllers / path / "cpu.stat",
                           cgroups / "cpu" / path / "cpu.stat"]
    for candidate in candidates:
        try:
            fields = dict(line.split() for line in candidate.read_text().splitlines())
        except (OSError, ValueError):
            continue
        if "nr_throttled" not in fields:
            continue
        throttled = (int(fields["throttled_usec"]) / 1e6 if "throttled_usec" in fields
                     else int(fields.get("throttled_time", 0)) / 1e9)
        return {"periods": int(fields["nr_periods"]),
                "throttled_periods": int(fields["nr_throttled"]), "throttled_s": throttled}
    return None


def throttling(before: dict[str, dict | None], after: dict[str, dict | None],
               services: dict[str, str]) -> dict[str, dict]:
    """{service: {"throttled_s", "throttled_periods_percent"}} between two readings of
    each container's cpu.stat (by container name), the replicas of a service summed;
    containers read at only one end are left out."""
    sums: dict[str, list[float]] = {}
    for name, end in after.items():
        start = before.get(name)
        if start is None or end is None:
            continue
        total = sums.setdefault(services.get(name, "?"), [0, 0, 0.0])
        total[0] += end["periods"] - start["periods"]
        total[1] += end["throttled_periods"] - start["throttled_periods"]
        total[2] += end["throttled_s"] - start["throttled_s"]
    return {service: {"throttled_s": round(seconds, 3),
                      "throttled_periods_percent": round(100 * throttled / periods, 1)
                      if periods else 0.0}
            for service, (periods, throttled, seconds) in sums.items()}


class EngineStats:
    """`docker stats` of the stack's containers, streamed by the engine about once a
    second, written from `begin` on to a CSV (elapsed_s, container, service, cpu_percent,
    memory_bytes, memory_limit_bytes); `stop` gives each service's mean CPU and largest
    memory, and, with an engine on this machine, how long its containers were held at
    their CPU quota over the measured phase (the kernel's cpu.stat of each container)."""

    COLUMNS = ("elapsed_s", "container", "service", "cpu_percent", "memory_bytes",
               "memory_limit_bytes")

    def __init__(self, cli: Cli, ps_argv: list[str], out: Path):
        self.cli, self.ps_argv, self.out = cli, ps_argv, out
        self.process: subprocess.Popen | None = None
        self.began: float | None = None
        self.thread = None

    def start(self) -> "EngineStats":
        """Start `docker stats` on the stack's containers (seeds have exited)."""
        found = json.loads(self.cli.run([self.cli.docker, "inspect",
                                         *self.cli.run(self.ps_argv).split()]))
        # The long-running containers: the seeds have done their work.
        running = [c for c in found if c["State"]["Status"] == "running"]
        ids = [c["Id"] for c in running]
        self.services = {c["Name"].lstrip("/"): c["Config"]["Labels"].get(
            "com.docker.compose.service", "?") for c in running}
        self.pids = {c["Name"].lstrip("/"): c["State"].get("Pid") for c in running}
        self.quota_before: dict[str, dict | None] = {}
        self.process = subprocess.Popen(
            [self.cli.docker, "stats", "--format", "{{json .}}", *ids],
            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
            text=True)
        self.rows: list[tuple] = []
        self.thread = threading.Thread(target=self._read, name="archlab-engine-stats",
                                       daemon=True)
        self.thread.start()
        return self

    def begin(self) -> None:
        """The measured phase starts now."""
        self.began = time.monotonic()
        self.quota_before = self._read_quotas()

    def _read_quotas(self) -> dict[str, dict | None]:
        return {name: read_cpu_stat(pid) for name, pid in self.pids.items() if pid}

    def _read(self) -> None:
        for line in self.process.stdout:
            start, end = line.find("{"), line.rfind("}")
            if self.began is None or start < 0:
                continue
            try:
                entry = json.loads(line[start:end + 1])
            except ValueError:
                continue
            used, _, limit = entry.get("MemUsage", "").partition(" / ")
            self.rows.append((round(time.monotonic() - self.began, 2), entry.get("Name"),
                              self.services.get(entry.get("Name"), "?"),
                              _percent(entry.get("CPUPerc")), _bytes(used), _bytes(limit)))

    def stop(self) -> dict:
        """Stop sampling, write the CSV; {service: {cpu_percent_mean, memory_max_bytes,
        memory_limit_bytes}, and throttled_s and throttled_periods_percent where cpu.stat
        could be read} over the measured phase."""
        quotas = (throttling(self.quota_before, self._read_quotas(), self.services)
                  if self.began is not None else {})
        if self.process is not None:
            self.process.terminate()
            self.process.wait(timeout=10)
        if self.thread is not None:
            self.thread.join(timeout=10)
        with open(self.out, "w", newline="") as f:
            writer = csv.writer(f)
            writer.writerow(self.COLUMNS)
            writer.writerows(self.rows)
        summary: dict[str, dict] = {}
        for _, _, service, cpu, used, limit in self.rows:
            entry = summary.setdefault(service, {"cpu": [], "memory_max_bytes": 0,
                                                 "memory_limit_bytes": limit})
            entry["cpu"].append(cpu)
            entry["memory_max_bytes"] = max(entry["memory_max_bytes"], used)
        result = {}
        for service, entry in summary.items():
            cpu = entry.pop("cpu")
            result[service] = {"cpu_percent_mean": round(sum(cpu) / len(cpu), 1)} | entry
        for service, quota in quotas.items():
            result[service] = result.get(service, {}) | quota
        return result


_UNITS = {"B": 1, "KiB": 1024, "MiB": 1024 ** 2, "GiB": 1024 ** 3, "TiB": 1024 ** 4,
          "kB": 1000, "KB": 1000, "MB": 1000 ** 2, "GB": 1000 ** 3}


def _bytes(text: str) -> int:
    """'45.6MiB' -> bytes (docker stats' memory figures)."""
    text = text.strip()
    for unit in sorted(_UNITS, key=len, reverse=True):
        if text.endswith(unit):
            try:
                return round(float(text[:-len(unit)]) * _UNITS[unit])
            except ValueError:
                return 0
    return 0


def _percent(text: str | None) -> float:
    """'12.34%' -> 12.34."""
    try:
        return float((text or "0").rstrip("%"))
    except ValueError:
        return 0.0
