"""The once-a-second sampler: CPU and memory of every process of the system under test
and of the load generator, written to metrics.csv, and the stack's database connections
(open and in use, from pg_stat_activity) written to connections.csv
(docs/results-format.md).

The processes are found as trees: the stack's supervisor and everything below it, the
embedded PostgreSQL's postmaster and its backends (pids from the stack's state.json),
and the generator's process. Each process is named by its role (`component`): from its
command line where that says (a gunicorn app module, `python -m monolith.worker`,
postgres, locust), else by the supervised process it descends from (processes.json).
"""

import csv
import os
import re
import statistics
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import psutil
import psycopg2

from archlab.db import database_from_state
from archlab.platforms.statefiles import read_json

COLUMNS = ("elapsed_s", "component", "pid", "cpu_percent", "rss_bytes", "pss_bytes")
CONNECTION_COLUMNS = ("elapsed_s", "database", "open", "in_use")
# Client connections of the stack's databases; "in use" is a connection a pool has lent
# out: running a statement or inside a transaction. The sampler's own is left out.
_CONNECTIONS_SQL = """
    SELECT datname, count(*),
           count(*) FILTER (WHERE state IS DISTINCT FROM 'idle')
      FROM pg_stat_activity
     WHERE backend_type = 'client backend' AND pid <> pg_backend_pid()
       AND datname = ANY(%s)
     GROUP BY datname
"""
GENERATOR = "generator"
# gunicorn's process titles when setproctitle is installed: "gunicorn: worker [catalog]".
_GUNICORN_TITLE = re.compile(r"^gunicorn: (?:master|worker) \[(?P<name>[^\]]+)\]")
_APP_REF = re.compile(r"^(?P<module>[A-Za-z_][\w.]*):[A-Za-z_]\w*$")


def _module_component(module: str) -> str:
    """'monolith.wsgi' -> 'monolith', 'microservices.catalog.wsgi' -> 'catalog',
    'monolith.worker' -> 'monolith-worker', 'microservices.orders.worker' -> 'orders-worker'."""
    parts = module.split(".")
    if parts[0] == "microservices":
        parts = parts[1:]
    if parts and parts[-1] == "wsgi":
        parts = parts[:-1]
    return "-".join(parts)


def component_from_cmdline(cmdline: list[str]) -> str | None:
    """The role a command line shows, or None when it does not tell."""
    if not cmdline:
        return None
    program = os.path.basename(cmdline[0])
    if program == "postgres" or cmdline[0].startswith("postgres:"):
        return "postgres"
    if program == "locust":
        return GENERATOR
    title = _GUNICORN_TITLE.match(" ".join(cmdline))
    if title:
        return title["name"]
    module = cmdline[cmdline.index("-m") + 1] if "-m" in cmdline[:-1] else None
    if module == "locust":
        return GENERATOR
    if module == "archlab.platforms.supervisor":
        return "supervisor"
    if module == "gunicorn":
        apps = [m["module"] for arg in cmdline[2:] if (m := _APP_REF.match(arg))]
        return _module_component(apps[-1]) if apps else None
    if module and module.split(".")[0] in ("monolith", "microservices"):
        return _module_component(module)
    return None


def components(parents: dict[int, int], cmdlines: dict[int, list[str]],
               roots: dict[int, str]) -> dict[int, str]:
    """The component of every process in the trees under `roots` (pid -> the name its
    tree goes by): by command line, else by the nearest root above it."""
    children: dict[int, list[int]] = {}
    for pid, parent in parents.items():
        children.setdefault(parent, []).append(pid)
    found: dict[int, str] = {}
    # Deepest root wins: a supervised child's name beats the supervisor's.
    stack = [(pid, name) for pid, name in roots.items() if pid in parents]
    while stack:
        pid, inherited = stack.pop()
        if pid in found:
            continue
        name = roots.get(pid, inherited)
        found[pid] = component_from_cmdline(cmdlines.get(pid, [])) or name
        stack.extend((child, name) for child in children.get(pid, ()))
    return found


@dataclass(frozen=True)
class GeneratorLoad:
    """The generator's CPU over the measured phase, in percent of one core."""

    mean: float | None
    max: float | None
    samples: int


def stack_roots(state_dir: Path) -> dict[int, str]:
    """The stack's supervisor, its supervised processes (by name) and the postmaster."""
    state = read_json(state_dir / "state.json") or {}
    pids = state.get("pids", {})
    roots = {}
    if pids.get("supervisor"):
        roots[pids["supervisor"]] = "supervisor"
    live = read_json(state_dir / "processes.json") or {"processes": {}}
    for name, process in live["processes"].items():
        if process.get("pid"):
            roots[process["pid"]] = name
    database = state.get("database") or {}
    postmaster = pids.get("postgres") or database.get("pid")
    if postmaster:
        roots[postmaster] = "postgres"
    return roots


class Sampler:
    """Samples the stack at `state_dir` and the generator every `interval` s in a thread.

    Rows are written only after `begin()` (the measured phase's start), with elapsed_s
    counted from it. Processes are kept between samples, so cpu_percent covers the last
    interval; a process is first seen without a row, as its first reading means nothing.
    With `cpus`, the sampling thread runs there (the generator's core), not on the cores
    of the system it measures.
    """

    def __init__(self, state_dir: Path, generator_pid: int, out: Path,
                 interval: float = 1.0, cpus: tuple[int, ...] = (),
                 connections_out: Path | None = None):
        self.state_dir = state_dir
        self.connections_out = connections_out
        self._watch = ConnectionWatch(state_dir, cpus) if connections_out else None
        self.cpus = cpus
        self.generator_pid = generator_pid
        self.out = out
        self.interval = interval
        self.generator_cpu: list[float] = []
        self._known: dict[tuple[int, float], psutil.Process] = {}
        self._stop = threading.Event()
        self._begin = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="archlab-sampler", daemon=True)
        self._lock = threading.Lock()

    @property
    def generator_now(self) -> float | None:
        """The generator's CPU over the last interval (for the progress line)."""
        with self._lock:
            return self.generator_cpu[-1] if self.generator_cpu else None

    def start(self) -> "Sampler":
        """Find and prime every process now, then sample in the background."""
        self.sample()
        self._thread.start()
        if self._watch:
            self._watch.start()
        return self

    def begin(self) -> None:
        """The measured phase starts now: readings restart from here, so the first row
        (elapsed_s ~1) covers the phase's first second and nothing before it."""
        self._begin.set()

    def stop(self) -> GeneratorLoad:
        """Stop sampling; the generator's mean and max CPU over the measured phase."""
        self._stop.set()
        self._begin.set()  # wakes the thread
        if self._thread.is_alive():
            self._thread.join(timeout=10)
        if self._watch:
            self._watch.stop()
        with self._lock:
            values = list(self.generator_cpu)
        if not values:
            return GeneratorLoad(None, None, 0)
        return GeneratorLoad(round(statistics.fmean(values), 1), round(max(values), 1),
                             len(values))

    def _loop(self) -> None:
        if self.cpus:
            os.sched_setaffinity(0, self.cpus)  # this thread only
        with (open(self.out, "w", newline="") as f,
              open(self.connections_out or os.devnull, "w", newline="") as cf):
            writer = csv.writer(f)
            writer.writerow(COLUMNS)
            connections = csv.writer(cf)
            connections.writerow(CONNECTION_COLUMNS)
            started = None
            next_at = time.monotonic() + self.interval
            while True:
                woken = self._begin.wait(max(next_at - time.monotonic(), 0))
                if self._stop.is_set():
                    return
                if woken:
                    self._begin.clear()
                    self.sample()  # restarts every process's CPU reading
                    started = time.monotonic()
                    next_at = started + self.interval
                    continue
                next_at += self.interval
                rows = self.sample()
                if started is None:
                    continue
                elapsed = round(time.monotonic() - started, 2)
                writer.writerows((elapsed, *row) for row in rows)
                f.flush()
                if self._watch:
                    connections.writerows((elapsed, *row) for row in self._watch.take())
                    cf.flush()
                generator = [row[2] for row in rows if row[0] == GENERATOR]
                if generator:
                    with self._lock:
                        self.generator_cpu.append(round(sum(generator), 1))

    def sample(self) -> list[tuple]:
        """One reading: (component, pid, cpu_percent, rss_bytes, pss_bytes) per process
        seen before; processes seen for the first time are primed."""
        parents, processes = {}, {}
        for process in psutil.process_iter(["ppid"]):
            parents[process.pid] = process.info["ppid"]
            processes[process.pid] = process
        roots = stack_roots(self.state_dir) | {self.generator_pid: GENERATOR}
        cmdlines = {pid: cmdline for (pid, _), (_, cmdline) in self._known.items()}
        rows, known = [], {}
        for pid, name in components(parents, cmdlines, roots).items():
            try:
                key = (pid, processes[pid].create_time())
                if key not in self._known:
                    processes[pid].cpu_percent()  # primes: the next call covers the interval
                    known[key] = (processes[pid], processes[pid].cmdline())
                    continue
                known[key] = self._known[key]
                process = known[key][0]
                cpu = process.cpu_percent()
                memory = process.memory_full_info()
            except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
                continue
            if not memory.rss:  # exited between the listing and the reading (a zombie)
                continue
            rows.append((name, pid, round(cpu, 1), memory.rss, getattr(memory, "pss", "")))
        self._known = known
        return rows


class ConnectionWatch:
    """Polls pg_stat_activity every `interval` s in a thread and keeps, per database, the
    most connections open and in use since the last `take()`: a pool lends a connection
    for a millisecond or two, so a once-a-second look would almost never see one in use.
    The query runs on the system's PostgreSQL, the same for both architectures."""

    def __init__(self, state_dir: Path, cpus: tuple[int, ...] = (), interval: float = 0.1):
        self.state_dir = state_dir
        self.cpus = cpus
        self.interval = interval
        self._peaks: dict[str, list[int]] = {}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="archlab-connections",
                                        daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=10)

    def take(self) -> list[tuple]:
        """(database, most open, most in use) per database since the last call."""
        with self._lock:
            peaks, self._peaks = self._peaks, {}
        return [(name, *peak) for name, peak in sorted(peaks.items())]

    def _loop(self) -> None:
        if self.cpus:
            os.sched_setaffinity(0, self.cpus)  # this thread only
        state = read_json(self.state_dir / "state.json") or {}
        names = [d["name"] for d in state.get("databases", [])]
        try:
            dsn = database_from_state(state["database"]).admin_dsn
            db = psycopg2.connect(dsn, connect_timeout=5, application_name="archlab-sampler")
        except (psycopg2.Error, KeyError, TypeError):
            return  # a sampler never fails a run: connections.csv stays empty
        db.autocommit = True
        try:
            while not self._stop.wait(self.interval):
                with db.cursor() as cur:
                    cur.execute(_CONNECTIONS_SQL, (names,))
                    found = {name: (total, used) for name, total, used in cur.fetchall()}
                with self._lock:
                    for name in names:
                        total, used = found.get(name, (0, 0))
                        peak = self._peaks.setdefault(name, [0, 0])
                        peak[0], peak[1] = max(peak[0], total), max(peak[1], used)
        except psycopg2.Error:
            return
        finally:
            db.close()
