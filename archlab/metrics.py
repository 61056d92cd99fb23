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
import dataclasses
import os
import re
import statistics
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import psutil
import psycopg2

from archlab import hostcpu, windows
from archlab.db import database_from_state
from archlab.platforms.statefiles import read_json

COLUMNS = ("elapsed_s", "t_epoch", "component", "pid", "cpu_percent", "cpu_seconds",
           "rss_bytes", "pss_bytes")
SAMPLE_S = 1.0
# PSS (smaps_rollup: every mapping of a process) this often; RSS every sample.
PSS_EVERY_S = 5.0
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


@dataclass(frozen=True)
class SamplerCost:
    """What the sampler itself cost: its threads' CPU time over its life."""

    cpu_seconds: float
    wall_seconds: float
    samples: int
    pss_samples: int
    processes_max: int

    def to_dict(self) -> dict:
        """run.json's "sampler" record."""
        return {"cpu_seconds": round(self.cpu_seconds, 3),
                "wall_seconds": round(self.wall_seconds, 3),
                "cpu_percent": (round(100 * self.cpu_seconds / self.wall_seconds, 2)
                                if self.wall_seconds else None),
                "samples": self.samples, "pss_samples": self.pss_samples,
                "processes_max": self.processes_max, "interval_s": SAMPLE_S,
                "pss_every_s": PSS_EVERY_S}


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


# The sampler's threads run at this nice level (the lowest priority).
SAMPLER_NICE = 10


def yield_to_the_generator() -> None:
    """Lower the calling thread's priority to SAMPLER_NICE: it shares the generator's
    core, and an A/A run (docs/measurement.md) showed a sample's burst of /proc reads
    delaying Locust's event loop. Each reading carries its own time, so a sample taken a
    little late costs nothing; not the lowest priority, so that a busy core still leaves
    it the few percent it needs. Linux sets nice per thread; elsewhere nothing."""
    try:
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), SAMPLER_NICE)
    except (AttributeError, OSError):
        pass


class Sampler:
    """Samples the stack at `state_dir` and the generator every `interval` s in a thread,
    from `start()` to `stop()`: the Locust process's whole life, so any window the report
    later finds steady lies inside it.

    Every row carries its wall-clock time (t_epoch) and each process's cumulative CPU
    seconds (user + system, /proc/<pid>/stat), so the report takes CPU over exactly the
    window it counts requests in, from the readings at its two ends. cpu_percent (the
    last interval's) is kept for the live line and older readers. RSS is read every
    sample (/proc/<pid>/statm); PSS, which walks every mapping (smaps_rollup), only every
    `pss_every` s: with ~50 processes of the microservices against ~24 of the monolith,
    reading it every second made the sampler, a neighbour of the generator, work harder
    for one build. `stop()` takes a last sample, so the rows reach past Locust's end.
    With `cpus`, the sampling thread runs there (the generator's core), not on the cores
    of the system it measures.
    """

    def __init__(self, state_dir: Path, generator_pid: int, out: Path,
                 interval: float = SAMPLE_S, cpus: tuple[int, ...] = (),
                 connections_out: Path | None = None, pss_every: float = PSS_EVERY_S):
        self.state_dir = state_dir
        self.connections_out = connections_out
        self._watch = ConnectionWatch(state_dir, cpus) if connections_out else None
        self.cpus = cpus
        self.generator_pid = generator_pid
        self.out = out
        self.interval = interval
        self.pss_every = pss_every
        self.generator_cpu: list[float] = []
        self._known: dict[tuple[int, float], tuple] = {}
        self._stop = threading.Event()
        self._measuring = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="archlab-sampler", daemon=True)
        self._lock = threading.Lock()
        self._pss_at: float | None = None
        self._cost = SamplerCost(0.0, 0.0, 0, 0, 0)
        # hostcpu snapshots of the stack's processes taken with the first and the last
        # sample (see the runner's sampler check).
        self.check_snapshots: list = []

    @property
    def generator_now(self) -> float | None:
        """The generator's CPU over the last interval (for the progress line)."""
        with self._lock:
            return self.generator_cpu[-1] if self.generator_cpu else None

    @property
    def cost(self) -> SamplerCost:
        """The sampler's own CPU (both its threads) once stopped."""
        return self._cost

    def start(self, enabled: bool = True) -> "Sampler":
        """Sample in the background from now on (the first sample at once). Not
        `enabled`: write the files' headers only and sample nothing (the A/A check of
        the sampler's own effect on the generator, docs/measurement.md)."""
        if not enabled:
            for path, columns in ((self.out, COLUMNS),
                                  (self.connections_out, CONNECTION_COLUMNS)):
                if path is not None:
                    with open(path, "w", newline="") as f:
                        csv.writer(f).writerow(columns)
            self._watch = None
            return self
        self._thread.start()
        if self._watch:
            self._watch.start()
        return self

    def begin(self) -> None:
        """Locust's test has started: the generator's mean CPU counts from here (its
        imports before that are not the load's)."""
        self._measuring.set()

    def stop(self) -> GeneratorLoad:
        """A last sample, then stop; the generator's mean and max CPU since `begin()`."""
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=30)
        watch_cpu = self._watch.stop() if self._watch else 0.0
        self._cost = dataclasses.replace(self._cost,
                                         cpu_seconds=self._cost.cpu_seconds + watch_cpu)
        with self._lock:
            values = list(self.generator_cpu)
        if not values:
            return GeneratorLoad(None, None, 0)
        return GeneratorLoad(round(statistics.fmean(values), 1), round(max(values), 1),
                             len(values))

    def _loop(self) -> None:
        if self.cpus:
            os.sched_setaffinity(0, self.cpus)  # this thread only
        began = time.monotonic()
        samples = pss_samples = most = 0
        with (open(self.out, "w", newline="") as f,
              open(self.connections_out or os.devnull, "w", newline="") as cf):
            writer = csv.writer(f)
            writer.writerow(COLUMNS)
            connections = csv.writer(cf)
            connections.writerow(CONNECTION_COLUMNS)
            next_at = time.monotonic()
            while True:
                last = self._stop.wait(max(next_at - time.monotonic(), 0))
                next_at += self.interval
                now = time.time()
                with_pss = self._pss_at is None or last or now - self._pss_at >= self.pss_every
                if samples == 0 or last:
                    # The stack read a second way at the first and the last sample, at
                    # the same moments, for the runner's check of the sampler's figure.
                    self.check_snapshots.append(
                        hostcpu.snapshot(list(stack_roots(self.state_dir))))
                rows = self.sample(with_pss=with_pss)
                if with_pss:
                    self._pss_at = now
                    pss_samples += 1
                samples += 1
                if samples == 1:
                    # The first sample at the default priority, so it lands before the
                    # load starts even while Locust imports at full speed; then yield.
                    yield_to_the_generator()
                most = max(most, len(rows))
                elapsed = round(time.monotonic() - began, 3)
                # Each row carries the moment its process was read (a sample of ~50
                # processes can take a while on a busy core).
                writer.writerows((elapsed, f"{row[6]:.3f}", *row[:6]) for row in rows)
                f.flush()
                if self._watch:
                    connections.writerows((elapsed, *row) for row in self._watch.take())
                    cf.flush()
                generator = [row[2] for row in rows if row[0] == GENERATOR and row[2] != ""]
                if generator and self._measuring.is_set() and not last:
                    with self._lock:
                        self.generator_cpu.append(round(sum(generator), 1))
                if last:
                    break
        self._cost = SamplerCost(time.thread_time(), time.monotonic() - began, samples,
                                 pss_samples, most)

    def sample(self, with_pss: bool = True) -> list[tuple]:
        """One reading: (component, pid, cpu_percent, cpu_seconds, rss_bytes, pss_bytes,
        t_epoch) per process, t_epoch the moment its CPU was read; cpu_percent is empty
        at a process's first reading (it covers the interval since the last one) and
        pss_bytes unless `with_pss`."""
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
                first = key not in self._known
                if first:
                    processes[pid].cpu_percent()  # primes: the next call covers the interval
                    known[key] = (processes[pid], processes[pid].cmdline())
                else:
                    known[key] = self._known[key]
                process = known[key][0]
                read_at = time.time()
                cpu = "" if first else round(process.cpu_percent(), 1)
                times = process.cpu_times()
                if with_pss:
                    memory = process.memory_full_info()
                    rss, pss = memory.rss, getattr(memory, "pss", "")
                else:
                    rss, pss = process.memory_info().rss, ""
            except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
                continue
            if not rss:  # exited between the listing and the reading (a zombie)
                continue
            rows.append((name, pid, cpu, round(times.user + times.system, 3), rss, pss,
                         read_at))
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
        self.cpu_seconds = 0.0
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="archlab-connections",
                                        daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> float:
        """Stop polling; the CPU seconds the polling thread used."""
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=10)
        return self.cpu_seconds

    def take(self) -> list[tuple]:
        """(database, most open, most in use) per database since the last call."""
        with self._lock:
            peaks, self._peaks = self._peaks, {}
        return [(name, *peak) for name, peak in sorted(peaks.items())]

    def _loop(self) -> None:
        try:
            self._poll()
        finally:
            self.cpu_seconds = time.thread_time()

    def _poll(self) -> None:
        if self.cpus:
            os.sched_setaffinity(0, self.cpus)  # this thread only
        yield_to_the_generator()
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


def cpu_readings(metrics_csv: Path) -> list[tuple[str, str, float, float]]:
    """(component, pid, t_epoch, cumulative cpu seconds) of every row of a metrics.csv
    that has them (files written before those columns give none)."""
    out = []
    with open(metrics_csv, newline="") as f:
        for row in csv.DictReader(f):
            if row.get("t_epoch") and row.get("cpu_seconds"):
                out.append((row["component"], row["pid"], float(row["t_epoch"]),
                            float(row["cpu_seconds"])))
    return out


def cpu_between(metrics_csv: Path, leave_out: tuple[str, ...] = ()
                ) -> tuple[float, float | None, float | None]:
    """CPU seconds of the sampled processes (components in `leave_out` aside) from the
    first sample to the last, and the two samples' times (None, None without readings)."""
    readings = cpu_readings(metrics_csv)
    if not readings:
        return 0.0, None, None
    first = min(t for _, _, t, _ in readings)
    last = max(t for _, _, t, _ in readings)
    used = windows.cpu_seconds(readings, first, last)
    return sum(v for c, v in used.items() if c not in leave_out), first, last
