"""Host noise: how busy a set of cores was with work the lab cannot account for.

A measurement window (`Window`) reads, when it opens and when it closes, the busy and
idle time of every CPU of the whole host (psutil.cpu_times(percpu=True), i.e. Linux's
/proc/stat) and the CPU time of every "known" process: the process trees under the given
root pids (children included, recursively: the stack's supervisor, its PostgreSQL
postmaster, the load generator) plus the given extra pids (the lab's own process, whose
threads include the sampler and whose reaped children include wrk). Over the window:

    unexplained = busy time on the window's CPUs - CPU time of the known processes

in percent of ONE core over the window (so a foreign busy loop on one core reads about
100). Above NOISE_LIMIT_PERCENT the window is `flagged`: another program ran on the
lab's cores and may have changed what was measured.

Given the system under test's cores (`sut_cpus`, a subset of the window's), the window
also judges those cores alone, against their own capacity:

    sut_unexplained = busy time on the SUT cores - CPU time of the known processes
                      allowed to run on a SUT core (their CPU affinity)

in percent of the SUT cores' capacity (100 = every SUT core busy all the time). Summed
over the lab's cores in percent of one core, a foreign load of a fifth of the system's
single core stays under NOISE_LIMIT_PERCENT, yet it took a fifth of what the system had;
above SUT_NOISE_LIMIT_PERCENT of the SUT cores the window is flagged as well
(`sut_flagged`; `lab_flagged` is the whole-lab figure's verdict, `flagged` either). A
known process allowed on both sides (the stack, pinned to the SUT cores, is not; the
generator and the lab, pinned to the generator's core, are not either) counts whole on
the SUT side: it may have run there, and counting it errs toward no flag. A process's
reaped children count where the process itself may run.

What counts as busy: user, nice, system, irq, softirq and steal. Idle is idle + iowait
(iowait is idle time with a disk request outstanding: the core ran nothing). guest and
guest_nice are left out because Linux already counts them inside user and nice. Steal is
time the hypervisor gave this virtual core's physical core to someone else: no process
here ran, yet the core was not ours, which is host noise from outside this machine, so
it counts as busy (and is reported on its own as `steal_percent`). Where the kernel
charges interrupt time per tick (CONFIG_TICK_CPU_ACCOUNTING, the default and the case on
the lab machines) the tick is also charged to the process it interrupted, so the stack's
own network softirqs on loopback are explained by the stack's processes.

What counts as known, and its limits:
- A process alive at both ends counts its CPU time (user + system) between them.
- A process born during the window counts all of its CPU time (it was born inside).
- A process that exits during the window cannot be read after it has gone. When its
  parent is itself known and alive at the close, the parent has reaped it, and the
  parent's reaped-children time (children_user + children_system, i.e. /proc's
  cutime/cstime, the same figure as resource.getrusage(RUSAGE_CHILDREN) for the lab's
  own process) grows by the child's whole lifetime: every known process's reaped time is
  therefore counted too, and the part the child had already used before the window
  opened is taken off again (also through a parent that exited as well and was reaped
  in turn, as when a supervised tree shuts down). That covers wrk (started and reaped
  by the lab inside one window), a Locust run stopped before the window closes,
  PostgreSQL backends that end, and workers a supervisor restarts. A process that exits
  and is reaped by something unknown (an orphan reparented to init) is lost: its time
  in the window then shows as unexplained, and `lost_processes` counts such cases so a
  reader can tell. (A parent that exits without waiting for its child leaves the
  child's earlier time taken off but never added: rare, and it errs toward no flag.)
- Known processes are counted whole, wherever they ran: their time on CPUs outside the
  window would hide that much noise (never invent it). Give a window every core the
  known processes may use, as the bench and calibrate do (system + generator cores).
- Kernel threads and the machine's own daemons are not known: on a quiet host they are
  what the unexplained figure reads (a few percent of a core, see NOISE_LIMIT_PERCENT).

CPU times are read at the kernel's clock-tick resolution (10 ms): a window of a few
seconds is exact to about a percent of a core.
"""

import time
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field

import psutil

# Flag threshold: unexplained CPU above this many percent of ONE core, averaged over the
# window. Measured on the 2-core lab machine (Debian 12 VM, tick accounting), windows of
# 5 s over both cores:
#   - quiet: the idle core of a window read 0.6-1.4% busy; with nothing of the lab
#     running, a monolith+floor stack at rest, or the stack saturated by wrk with its
#     processes known, what the lab cannot explain apart from other people's programs
#     was 0-5% of a core (the machine's own daemons and kernel threads, ~3%, plus the
#     accounting's own error, -5..+2% under full load, i.e. busy minus the CPU of every
#     process on the host);
#   - noisy: a foreign `while True: pass` pinned to one of the window's cores read
#     100-110% at full duty and 52% at a 50% duty cycle.
# 20 sits between: 4x the highest quiet reading, and a foreign program using a fifth of a
# core (a test suite, a build, a browser) is caught even when it runs half the time. Too
# low a limit would flag the daemons' bursts; negative errors only ever hide noise.
NOISE_LIMIT_PERCENT = 20.0
# Flag threshold on the system under test's cores alone: unexplained CPU above this many
# percent of their capacity. Measured on the 2-core lab machine (Firecracker VM, AMD EPYC,
# tick accounting), 10 windows of 5 s, every process's CPU time read from /proc: the
# kernel threads pinned to core 0 (ksoftirqd/0, rcu, kworker/0:*) used 0-0.4% of it, the
# unbound ones (kdamond, kworker/u*) 1.2-2.4% of one core wherever they ran, so at most
# 2.8% of core 0 if all of it fell there; the machine's own daemons add a few percent of
# a core on either core, and the accounting's error is -5..+2% (NOISE_LIMIT_PERCENT).
# 10 is 3.5x the kernel's worst reading and above it plus the accounting's positive
# error; a foreign program using a tenth of the system's cores is caught, where the
# whole-lab limit lets through a fifth of a one-core system's only core.
SUT_NOISE_LIMIT_PERCENT = 10.0

_BUSY_FIELDS = ("user", "nice", "system", "irq", "softirq", "steal")
_IDLE_FIELDS = ("idle", "iowait")


def busy_seconds(times) -> float:
    """Busy seconds of one CPU's psutil times: user, nice, system, irq, softirq, steal
    (guest and guest_nice are already inside user and nice)."""
    return sum(getattr(times, f, 0.0) for f in _BUSY_FIELDS)


def idle_seconds(times) -> float:
    """Idle seconds of one CPU's psutil times: idle + iowait."""
    return sum(getattr(times, f, 0.0) for f in _IDLE_FIELDS)


@dataclass(frozen=True)
class ProcessTimes:
    """One known process at one instant: its parent, and its CPU seconds, own (user +
    system, all threads) and reaped (its waited-for children's, cumulative)."""

    pid: int
    ppid: int
    created: float
    own: float
    reaped: float
    # The cores it may run on (its CPU affinity); None: not known, so anywhere.
    cpus: tuple[int, ...] | None = None

    def may_run_on(self, cpus: set[int]) -> bool:
        """Whether its affinity allows any of `cpus` (an unknown affinity allows all)."""
        return self.cpus is None or not cpus.isdisjoint(self.cpus)

    @property
    def key(self) -> tuple[int, float]:
        return (self.pid, self.created)


@dataclass(frozen=True)
class Snapshot:
    """The host's per-CPU times and the known processes' times at one instant."""

    at: float  # time.monotonic()
    busy: dict[int, float]  # cpu -> busy seconds since boot
    idle: dict[int, float]  # cpu -> idle seconds since boot
    steal: dict[int, float]  # cpu -> steal seconds since boot
    processes: dict[tuple[int, float], ProcessTimes] = field(default_factory=dict)


@dataclass(frozen=True)
class HostCpu:
    """What a window saw. Percentages are of ONE core over the window; `unexplained` is
    busy - known, not clipped (it can dip below 0 when known processes ran elsewhere or
    by the ticks' rounding): clip it for display only."""

    seconds: float
    cpus: tuple[int, ...]
    busy_percent: dict[int, float]
    busy_total_percent: float
    steal_percent: float
    known_percent: float
    known_processes: int
    lost_processes: int
    unexplained_percent: float
    limit_percent: float
    # The system under test's cores alone, in percent of THEIR capacity (None: the
    # window was not told which cores are the system's).
    sut_cpus: tuple[int, ...] | None = None
    sut_busy_percent: float | None = None
    sut_known_percent: float | None = None
    sut_unexplained_percent: float | None = None
    sut_limit_percent: float | None = None

    @property
    def lab_flagged(self) -> bool:
        """Unexplained CPU over the lab's cores above the limit (percent of one core)."""
        return self.unexplained_percent > self.limit_percent

    @property
    def sut_flagged(self) -> bool:
        """Unexplained CPU on the system's cores above their limit (percent of their
        capacity); False when the window did not judge them."""
        return (self.sut_unexplained_percent is not None
                and self.sut_unexplained_percent > self.sut_limit_percent)

    @property
    def flagged(self) -> bool:
        """Either figure above its limit."""
        return self.lab_flagged or self.sut_flagged

    def to_dict(self) -> dict:
        """The window as JSON-ready data, with the verdicts."""
        d = asdict(self)
        d["cpus"] = list(self.cpus)
        d["sut_cpus"] = list(self.sut_cpus) if self.sut_cpus is not None else None
        d["busy_percent"] = {str(cpu): pct for cpu, pct in self.busy_percent.items()}
        return d | {"flagged": self.flagged, "lab_flagged": self.lab_flagged,
                    "sut_flagged": self.sut_flagged}


def known_seconds(before: dict[tuple[int, float], ProcessTimes],
                  after: dict[tuple[int, float], ProcessTimes]) -> tuple[float, int]:
    """CPU seconds the known processes used between two readings, and how many of those
    known at the start could not be accounted for (gone, and not reaped by a process
    known at both ends). Processes are keyed by (pid, creation time): a reused pid is a
    new process."""
    seconds = 0.0
    for key, now in after.items():
        then = before.get(key)
        seconds += now.own - (then.own if then else 0.0)
        seconds += now.reaped - (then.reaped if then else 0.0)
    lost = 0
    alive = {key[0] for key in after if key in before}
    gone = {key[0]: then for key, then in before.items() if key not in after}
    for then in gone.values():
        if _reaped_by(then, alive, gone):
            # Its whole lifetime is in a known ancestor's reaped time (a parent that
            # exited too passed it on when it was reaped); the part used before the
            # window opened is not the window's.
            seconds -= then.own + then.reaped
        else:
            lost += 1
    return seconds, lost


def _reaped_by(then: ProcessTimes, alive: set[int], gone: dict[int, ProcessTimes]) -> bool:
    """Whether an exited process's parent, or, through parents that exited too, an
    ancestor, was known at both ends of the window (pids only: the parent at the open)."""
    seen = set()
    while then.ppid not in alive:
        if then.ppid not in gone or then.ppid in seen:
            return False
        seen.add(then.ppid)
        then = gone[then.ppid]
    return True


def known_on(before: dict[tuple[int, float], ProcessTimes],
             after: dict[tuple[int, float], ProcessTimes],
             cpus: Iterable[int]) -> float:
    """CPU seconds between two readings of the known processes allowed on any of `cpus`
    (by their affinity at either reading), as known_seconds counts them."""
    cpus = set(cpus)
    keys = {key for found in (before, after) for key, p in found.items() if p.may_run_on(cpus)}
    seconds, _ = known_seconds({k: p for k, p in before.items() if k in keys},
                               {k: p for k, p in after.items() if k in keys})
    return seconds


def summarize(before: Snapshot, after: Snapshot, cpus: Iterable[int],
              limit: float = NOISE_LIMIT_PERCENT, sut_cpus: Iterable[int] | None = None,
              sut_limit: float = SUT_NOISE_LIMIT_PERCENT) -> HostCpu:
    """The window between two snapshots over `cpus`; with `sut_cpus`, also over the
    system under test's cores alone."""
    cpus = tuple(sorted(set(cpus)))
    seconds = max(after.at - before.at, 1e-9)
    busy = {cpu: after.busy[cpu] - before.busy[cpu] for cpu in cpus}
    steal = sum(after.steal[cpu] - before.steal[cpu] for cpu in cpus)
    known, lost = known_seconds(before.processes, after.processes)
    total = sum(busy.values())

    def pct(s: float) -> float:
        return round(100.0 * s / seconds, 2)

    sut = {}
    if sut_cpus:
        sut_cpus = tuple(sorted(set(sut_cpus)))
        sut_busy = sum(after.busy[cpu] - before.busy[cpu] for cpu in sut_cpus)
        sut_known = known_on(before.processes, after.processes, sut_cpus)

        def of_sut(s: float) -> float:
            return round(pct(s) / len(sut_cpus), 2)

        sut = {"sut_cpus": sut_cpus, "sut_busy_percent": of_sut(sut_busy),
               "sut_known_percent": of_sut(sut_known),
               "sut_unexplained_percent": of_sut(sut_busy - sut_known),
               "sut_limit_percent": sut_limit}
    return HostCpu(seconds=round(seconds, 3), cpus=cpus,
                   busy_percent={cpu: pct(b) for cpu, b in busy.items()},
                   busy_total_percent=pct(total), steal_percent=pct(steal),
                   known_percent=pct(known), known_processes=len(after.processes),
                   lost_processes=lost, unexplained_percent=pct(total - known),
                   limit_percent=limit, **sut)


def _process_times(proc: psutil.Process) -> ProcessTimes | None:
    try:
        with proc.oneshot():
            t = proc.cpu_times()
            # Where it may run, for the system's cores' own figure (not on every OS).
            cpus = tuple(proc.cpu_affinity()) if hasattr(proc, "cpu_affinity") else None
            return ProcessTimes(proc.pid, proc.ppid(), proc.create_time(),
                                t.user + t.system, t.children_user + t.children_system,
                                cpus)
    except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
        return None


def read_processes(roots: Iterable[int], extra_pids: Iterable[int] = ()
                   ) -> dict[tuple[int, float], ProcessTimes]:
    """The known processes now: every process in the trees under `roots` (the roots
    included) and the `extra_pids` themselves. Pids not alive are skipped."""
    procs: dict[int, psutil.Process] = {}
    for pid in roots:
        try:
            root = psutil.Process(pid)
            tree = [root, *root.children(recursive=True)]
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            continue
        procs.update((p.pid, p) for p in tree)
    for pid in extra_pids:
        if pid not in procs:
            try:
                procs[pid] = psutil.Process(pid)
            except (psutil.NoSuchProcess, psutil.AccessDenied):
                continue
    found = (_process_times(p) for p in procs.values())
    return {t.key: t for t in found if t is not None}


def read_host() -> tuple[dict[int, float], dict[int, float], dict[int, float]]:
    """Busy, idle and steal seconds since boot per CPU. psutil lists the online CPUs in
    order; their index is the CPU number when every CPU is online (the lab's case)."""
    per_cpu = psutil.cpu_times(percpu=True)
    return ({i: busy_seconds(t) for i, t in enumerate(per_cpu)},
            {i: idle_seconds(t) for i, t in enumerate(per_cpu)},
            {i: getattr(t, "steal", 0.0) for i, t in enumerate(per_cpu)})


def snapshot(roots: Iterable[int] = (), extra_pids: Iterable[int] = ()) -> Snapshot:
    """The host's CPU times and the known processes' times, read back to back."""
    processes = read_processes(roots, extra_pids)
    busy, idle, steal = read_host()
    return Snapshot(time.monotonic(), busy, idle, steal, processes)


class Window:
    """A measurement window over `cpus`: `open()` at the start of a measured phase,
    `close()` at its end returns a HostCpu. The known processes are the trees under
    `roots` and the `extra_pids`, looked up again at the close (so processes born in
    between are found); a root that is gone by then is simply not there.

    `roots` and `extra_pids` may be callables returning the pids, read at each end.
    `sut_cpus` (some of `cpus`) are the system under test's: the window judges them
    alone too, against `sut_limit`.
    """

    def __init__(self, cpus: Iterable[int], roots: Iterable[int] | Callable = (),
                 extra_pids: Iterable[int] | Callable = (),
                 limit: float = NOISE_LIMIT_PERCENT, sut_cpus: Iterable[int] | None = None,
                 sut_limit: float = SUT_NOISE_LIMIT_PERCENT):
        self.cpus = tuple(sorted(set(cpus)))
        if not self.cpus:
            raise ValueError("a host window needs at least one cpu")
        self.sut_cpus = tuple(sorted(set(sut_cpus))) if sut_cpus else None
        if self.sut_cpus and not set(self.sut_cpus) <= set(self.cpus):
            raise ValueError(f"the system's cpus {list(self.sut_cpus)} are not all among "
                             f"the window's {list(self.cpus)}")
        self.sut_limit = sut_limit
        self._roots = roots if callable(roots) else tuple(roots)
        self._extra = extra_pids if callable(extra_pids) else tuple(extra_pids)
        self.limit = limit
        self._before: Snapshot | None = None
        self.result: HostCpu | None = None

    def _pids(self) -> tuple[list[int], list[int]]:
        roots = self._roots() if callable(self._roots) else self._roots
        extra = self._extra() if callable(self._extra) else self._extra
        return list(roots), list(extra)

    def open(self) -> "Window":
        self._before = snapshot(*self._pids())
        missing = set(self.cpus) - set(self._before.busy)
        if missing:
            raise ValueError(f"no such cpu(s): {sorted(missing)}")
        return self

    def close(self) -> HostCpu:
        if self._before is None:
            raise RuntimeError("close() before open()")
        after = snapshot(*self._pids())
        after = Snapshot(after.at, after.busy, after.idle, after.steal,
                         self._still_alive(after.processes))
        self.result = summarize(self._before, after, self.cpus, self.limit,
                                sut_cpus=self.sut_cpus, sut_limit=self.sut_limit)
        return self.result

    def _still_alive(self, found: dict[tuple[int, float], ProcessTimes]
                     ) -> dict[tuple[int, float], ProcessTimes]:
        """`found` plus processes known at the open that left the trees without exiting
        (reparented when their parent ended): they are still readable."""
        found = dict(found)
        for key in self._before.processes.keys() - found.keys():
            try:
                proc = psutil.Process(key[0])
            except psutil.NoSuchProcess:
                continue
            now = _process_times(proc)
            if now is not None and now.key == key:
                found[key] = now
        return found
