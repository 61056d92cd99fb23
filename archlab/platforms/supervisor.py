"""The local platform's supervisor: starts a stack's processes, restarts crashed ones and,
by liveness, hung ones.

Run as `python -m archlab.platforms.supervisor STATE_DIR`. It reads
STATE_DIR/supervisor.json (what to run), starts each process in its own process
group with its output in STATE_DIR/logs/<name>.log and exactly the environment
supervisor.json gives it (none of the supervisor's own), restarts a process that
failed (policy like compose's `restart: on-failure`, with exponential backoff),
and keeps STATE_DIR/processes.json current for `archlab status`. SIGTERM or
SIGINT stops every process group: SIGTERM, a grace period, then SIGKILL.

Liveness, as Kubernetes' liveness probes: every `period` seconds each running process
with a liveness check is asked - a web process GET /healthz (never /readyz: a database
outage must restart nothing) within `timeout`, a background worker whether its
heartbeat file is fresh (plumbing.worker touches it every round). A process counts
failures only once it has passed a check (or once `start_grace` has run out), so a slow
start is no failure; `failures` in a row and its process group is killed (SIGKILL: a
paused process cannot act on SIGTERM) and restarted like a crash, with the backoff,
and counted apart in processes.json ("liveness_restarts"). The probes run on a small
thread pool, so a probe waiting out its timeout never holds the loop up.

A process can be held down (`holds` in supervisor.json: name -> until, epoch seconds):
it is stopped (SIGTERM, then SIGKILL after the grace), not restarted until then, and
started again afterwards. Each process can have a memory limit (its entry's
`memory_limit_mib`), set before it runs (archlab/platforms/memlimit.py): a leak stops
it at the limit, and it is restarted like a crash.

SIGHUP reloads supervisor.json while the stack runs (how `archlab scale` adds and
removes replicas): a process new to the file is started; a process gone from it is
drained - SIGTERM to its group (gunicorn's graceful stop: it stops accepting, finishes
the requests in flight, exits), never restarted, SIGKILL after the grace period - and
then leaves processes.json; a process whose entry changed is drained and started anew
from its new entry once the old one is gone. processes.json carries the "generation" of
the supervisor.json it applied last, so the lab can tell when a reload has taken effect,
and under "drained" how the last drain of each process ended.
"""

import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from archlab.platforms import memlimit
from archlab.platforms.processes import signal_group
from archlab.platforms.statefiles import read_json, write_json

SPEC_FILE = "supervisor.json"
STATUS_FILE = "processes.json"
BACKOFF_FIRST = 0.5
BACKOFF_MAX = 4.0
# A process that ran this long before failing is restarted without the backoff
# of earlier failures: it was a new failure, not a crash loop.
STABLE_SECONDS = 10.0
STOP_GRACE_SECONDS = 10.0
POLL_SECONDS = 0.1
# A child's states: "running", "backoff" (waiting to restart), "exited" (not restarted),
# "draining" (SIGTERM sent, going for good), "gone" (drained; leaves at once), "held"
# (stopped on purpose, started again when its hold ends).
DRAINING = "draining"
GONE = "gone"
HELD = "held"
# Probes at once, at most: each waits out its timeout on a thread of its own.
PROBE_THREADS = 4


@dataclass(frozen=True)
class Liveness:
    """The liveness settings, the same for every process of a stack."""

    period: float
    timeout: float
    failures: int
    # Failures count from a process's first passed check, or from this long after its
    # start (one that never passes is restarted then).
    start_grace: float

    @classmethod
    def from_spec(cls, spec: dict | None) -> "Liveness | None":
        """The settings of supervisor.json's "liveness", or None when it has none."""
        if not spec:
            return None
        return cls(float(spec["period"]), float(spec["timeout"]), int(spec["failures"]),
                   float(spec["start_grace"]))


# Probes go straight to the process, never through a proxy the environment names.
_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def probe_http(url: str, timeout: float) -> str | None:
    """None when GET `url` answers 200 within `timeout`, else why not."""
    try:
        with _OPENER.open(url, timeout=timeout) as response:
            return None if response.status == 200 else f"HTTP {response.status}"
    except urllib.error.HTTPError as exc:
        return f"HTTP {exc.code}"
    except (OSError, ValueError) as exc:
        return f"{type(exc).__name__}: {exc}"


def probe_heartbeat(path: str, stale_after: float) -> str | None:
    """None when the heartbeat file was touched within `stale_after` seconds."""
    try:
        age = time.time() - os.stat(path).st_mtime
    except OSError:
        return "no heartbeat yet"
    return None if age <= stale_after else f"heartbeat {age:.1f} s old"


def backoff_seconds(failures_in_a_row: int) -> float:
    """The wait before restart number `failures_in_a_row` (1, 2, ...): 0.5 s doubling to 4 s."""
    return min(BACKOFF_FIRST * 2 ** (failures_in_a_row - 1), BACKOFF_MAX)


def exit_text(code: int) -> str:
    """A Popen return code for people: 'code 1' or 'signal SIGKILL'."""
    if code < 0:
        return f"signal {signal.Signals(-code).name}"
    return f"code {code}"


def note(message: str) -> None:
    """A timestamped line in the supervisor's own log (its stdout)."""
    print(f"{time.strftime('%Y-%m-%d %H:%M:%S')} supervisor: {message}", flush=True)


@dataclass
class Child:
    """One supervised process and its history."""

    name: str
    argv: list[str]
    env: dict[str, str]
    cwd: str
    log: Path
    restart: str
    popen: subprocess.Popen | None = None
    started_at: float = 0.0
    started_at_epoch: float = 0.0
    restarts: int = 0
    failures_in_a_row: int = 0
    restart_at: float | None = None
    last_exit: int | None = None
    state: str = "starting"
    # Its entry in supervisor.json as read, to notice a changed one on reload.
    entry: dict | None = None
    drain_started: float = 0.0
    drain_deadline: float = 0.0
    drain_killed: bool = False
    # Liveness: what is checked ({"url": ...} or {"heartbeat": ...}), the check in flight,
    # failures in a row, whether one has passed since the start, restarts it caused.
    liveness: dict | None = None
    probe: Future | None = None
    next_probe_at: float = 0.0
    probe_failures: int = 0
    probe_passed: bool = False
    last_probe: str | None = None
    liveness_restarts: int = 0
    killed_by_liveness: bool = False
    # Held down until this time (time.monotonic()); None when not held.
    held_until: float | None = None
    # The memory limit, MiB (memlimit sets it).
    memory_limit_mib: int | None = None

    @classmethod
    def from_entry(cls, entry: dict) -> "Child":
        """A child (not started) from its entry in supervisor.json."""
        return cls(name=entry["name"], argv=entry["argv"], env=entry["env"],
                   cwd=entry["cwd"], log=Path(entry["log"]), restart=entry["restart"],
                   entry=entry, liveness=entry.get("liveness"),
                   memory_limit_mib=entry.get("memory_limit_mib"))

    def start(self, limits: "MemoryLimits | None" = None) -> None:
        """Start the process in a new session (its own process group), output to its log,
        with its environment from supervisor.json and nothing else, under its memory
        limit."""
        preexec = limits.enter(self) if limits and self.memory_limit_mib else None
        with open(self.log, "a") as log:
            log.write(f"--- archlab: starting {self.name} at {time.strftime('%H:%M:%S')}"
                      f" (restart {self.restarts}) ---\n")
            log.flush()
            self.popen = subprocess.Popen(
                self.argv, env=dict(self.env), cwd=self.cwd,
                stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                start_new_session=True, preexec_fn=preexec,
            )
        self.started_at = time.monotonic()
        self.started_at_epoch = time.time()
        self.restart_at = None
        self.state = "running"
        self.probe_failures = 0
        self.probe_passed = False
        self.killed_by_liveness = False
        note(f"started {self.name} (pid {self.popen.pid})")

    def hold(self, until: float, now: float) -> None:
        """Stop the process (SIGTERM, SIGKILL after the grace) and keep it down until
        `until`."""
        self.held_until = until
        if self.state == "running":
            signal_group(self.popen.pid, signal.SIGTERM)
            self.drain_deadline = now + STOP_GRACE_SECONDS
            self.drain_killed = False
        note(f"holding {self.name} down for {until - now:.1f} s")
        self.state = HELD

    def _check_held(self, now: float, limits) -> bool:
        if self.popen is not None and self.popen.poll() is None:
            if now >= self.drain_deadline and not self.drain_killed:
                signal_group(self.popen.pid, signal.SIGKILL)
                self.drain_killed = True
            return False
        if now < self.held_until:
            return False
        if self.popen is not None:
            signal_group(self.popen.pid, signal.SIGKILL)  # workers a master left behind
        self.held_until = None
        note(f"the hold on {self.name} ended")
        self.start(limits)
        return True

    def check_liveness(self, now: float, settings: Liveness, pool: ThreadPoolExecutor) -> bool:
        """Send a due check, read a finished one; kill the process group after
        `failures` failed checks in a row (it is then restarted like a crash). Returns
        whether anything changed."""
        if self.state != "running" or not self.liveness or settings is None:
            return False
        if self.probe is None:
            if now >= self.next_probe_at:
                if "url" in self.liveness:
                    self.probe = pool.submit(probe_http, self.liveness["url"], settings.timeout)
                else:
                    self.probe = pool.submit(probe_heartbeat, self.liveness["heartbeat"],
                                             settings.period + settings.timeout)
                self.next_probe_at = now + settings.period
            return False
        if not self.probe.done():
            return False
        failure, self.probe = self.probe.result(), None
        before, self.last_probe = self.last_probe, failure or "ok"
        if failure is None:
            self.probe_passed = True
            self.probe_failures = 0
            return self.last_probe != before
        if not self.probe_passed and now - self.started_at < settings.start_grace:
            return self.last_probe != before  # still starting
        self.probe_failures += 1
        if self.probe_failures < settings.failures:
            return self.last_probe != before
        note(f"{self.name} failed its liveness check {self.probe_failures} times in a row "
             f"({failure}); killing it to restart it")
        self.liveness_restarts += 1
        self.killed_by_liveness = True
        signal_group(self.popen.pid, signal.SIGKILL)
        return True

    def drain(self, now: float) -> None:
        """Stop for good: SIGTERM to the process group (a gunicorn master stops gracefully),
        no restart; check() sends SIGKILL once STOP_GRACE_SECONDS have passed. One that is
        not running (waiting to restart, held, exited) is gone at once."""
        self.drain_started = now
        if self.state == HELD and self.popen is not None and self.popen.poll() is None:
            signal_group(self.popen.pid, signal.SIGKILL)
            self.popen.wait()
        if self.state != "running":
            self.state = GONE
            note(f"removed {self.name} (it was not running)")
            return
        signal_group(self.popen.pid, signal.SIGTERM)
        self.state = DRAINING
        self.drain_deadline = now + STOP_GRACE_SECONDS
        note(f"draining {self.name} (pid {self.popen.pid})")

    def drain_record(self, now: float) -> dict:
        """How its drain ended, for processes.json "drained"."""
        return {"pid": self.popen.pid if self.popen else None,
                "seconds": round(now - self.drain_started, 3),
                "exit": exit_text(self.last_exit) if self.last_exit is not None else None,
                "killed": self.drain_killed}

    def check(self, now: float, limits: "MemoryLimits | None" = None) -> bool:
        """Notice an exit, a due restart, the end of a drain or of a hold; returns whether
        anything changed."""
        if self.state == DRAINING:
            return self._check_drain(now)
        if self.state == HELD:
            return self._check_held(now, limits)
        if self.state == "running" and self.popen.poll() is not None:
            self._exited(self.popen.returncode, now)
            return True
        if self.state == "backoff" and now >= self.restart_at:
            self.restarts += 1
            self.start(limits)
            return True
        return False

    def _check_drain(self, now: float) -> bool:
        if self.popen.poll() is not None:
            # Workers a killed master left behind, if any.
            signal_group(self.popen.pid, signal.SIGKILL)
            self.last_exit = self.popen.returncode
            self.state = GONE
            note(f"{self.name} drained in {now - self.drain_started:.1f} s "
                 f"(exited with {exit_text(self.last_exit)})")
            return True
        if now >= self.drain_deadline and not self.drain_killed:
            note(f"{self.name} ignored SIGTERM for {STOP_GRACE_SECONDS:.0f} s; killing it")
            signal_group(self.popen.pid, signal.SIGKILL)
            self.drain_killed = True
        return False

    def _exited(self, code: int, now: float) -> None:
        # A killed gunicorn master leaves its workers behind in its group.
        signal_group(self.popen.pid, signal.SIGKILL)
        self.last_exit = code
        why = " (its liveness check failed)" if self.killed_by_liveness else ""
        if code == 0 or self.restart != "on-failure":
            self.state = "exited"
            note(f"{self.name} exited with {exit_text(code)}; not restarting")
            return
        ran = now - self.started_at
        self.failures_in_a_row = 1 if ran >= STABLE_SECONDS else self.failures_in_a_row + 1
        delay = backoff_seconds(self.failures_in_a_row)
        self.restart_at = now + delay
        self.state = "backoff"
        note(f"{self.name} exited with {exit_text(code)} after {ran:.1f} s{why}; "
             f"restarting in {delay:.1f} s")

    def report(self, limits: "MemoryLimits | None" = None) -> dict:
        """This process for processes.json."""
        running = self.state in ("running", DRAINING)
        return {"pid": self.popen.pid if running else None, "state": self.state,
                "started_at": self.started_at_epoch, "restarts": self.restarts,
                "last_exit": self.last_exit, "liveness_restarts": self.liveness_restarts,
                "last_probe": self.last_probe,
                "memory_limit_mib": self.memory_limit_mib,
                "oom_kills": limits.oom_kills(self) if limits else 0}


class MemoryLimits:
    """Each process's memory limit, set the way this machine allows (memlimit)."""

    def __init__(self, stack: str):
        self.stack = stack
        self.method = memlimit.detect()

    def enter(self, child: Child):
        """The function that puts a child under its limit before its program runs."""
        folder = memlimit.prepare(self.method, self.stack, child.name, child.memory_limit_mib)
        return memlimit.preexec(self.method, folder, child.memory_limit_mib)

    def oom_kills(self, child: Child) -> int:
        """How often the kernel killed a process of the child at its limit."""
        return memlimit.oom_kills(self.method, memlimit.group(self.method, self.stack,
                                                              child.name))

    def cleanup(self) -> None:
        """Remove the stack's cgroups."""
        memlimit.cleanup(self.method, self.stack)


class Supervisor:
    """Runs the children described in STATE_DIR/supervisor.json until told to stop, and
    follows that file when SIGHUP says it changed."""

    def __init__(self, state_dir: Path):
        self.state_dir = state_dir
        self.children: list[Child] = []
        # Children whose entry changed, each started once its old self has drained.
        self.waiting: dict[str, Child] = {}
        # How the last drain of each process ended (processes.json "drained").
        self.drained: dict[str, dict] = {}
        self.generation: int | None = None
        self.stopping = False
        self.reload_requested = False
        self.liveness: Liveness | None = None
        self.probes = ThreadPoolExecutor(PROBE_THREADS, thread_name_prefix="liveness")
        self.limits: MemoryLimits | None = None
        # The holds applied (name -> until, epoch seconds), to apply each once.
        self.holds: dict[str, float] = {}

    def _stop_requested(self, signum, frame) -> None:
        self.stopping = True

    def _reload_requested(self, signum, frame) -> None:
        self.reload_requested = True

    def run(self) -> None:
        """Start everything, supervise until SIGTERM/SIGINT (reloading on SIGHUP), then
        stop everything."""
        signal.signal(signal.SIGTERM, self._stop_requested)
        signal.signal(signal.SIGINT, self._stop_requested)
        signal.signal(signal.SIGHUP, self._reload_requested)
        self.reload()
        while not self.stopping:
            if self.reload_requested:
                self.reload_requested = False
                self.reload()
            self.step(time.monotonic())
            time.sleep(POLL_SECONDS)
        self.stop_all()

    def reload(self) -> None:
        """Make the children what supervisor.json says: start the new, drain the gone,
        drain and restart the changed (once drained); the rest run on untouched."""
        spec = read_json(self.state_dir / SPEC_FILE)
        if spec is None:
            note(f"no {SPEC_FILE} to read; the children stay as they are")
            return
        wanted = {entry["name"]: entry for entry in spec["processes"]}
        now = time.monotonic()
        self.liveness = Liveness.from_spec(spec.get("liveness"))
        if self.limits is None:
            self.limits = MemoryLimits(spec.get("run_id", "stack"))
            note(f"memory limits set by {self.limits.method.kind}")
        known = {child.name for child in self.children}
        for child in self.children:
            entry = wanted.get(child.name)
            if entry is None:
                self.waiting.pop(child.name, None)
                if child.state != DRAINING:
                    child.drain(now)
            elif child.state == DRAINING or child.entry != entry:
                # Never two of one name at once: the new one starts when the old is gone.
                if child.state != DRAINING:
                    note(f"{child.name} changed; restarting it once it has drained")
                    child.drain(now)
                self.waiting[child.name] = Child.from_entry(entry)
        for name, entry in wanted.items():
            if name not in known:
                child = Child.from_entry(entry)
                self.children.append(child)
                child.start(self.limits)
        self._apply_holds(spec.get("holds", {}), now)
        self.generation = spec.get("generation", 0)
        self.step(now)
        self.publish()

    def _apply_holds(self, holds: dict[str, float], now: float) -> None:
        """Hold down each process named in `holds` that is not held to that time yet."""
        for name, until in holds.items():
            if self.holds.get(name) == until or until <= time.time():
                continue
            self.holds[name] = until
            for child in self.children:
                if child.name == name and child.state in ("running", "backoff", HELD):
                    child.hold(now + (until - time.time()), now)

    def step(self, now: float) -> None:
        """One round: notice exits, due restarts and finished drains and holds, check
        liveness; a drained child leaves (and its waiting replacement starts); publish
        what changed."""
        changed = [child.check(now, self.limits) for child in self.children]
        changed += [child.check_liveness(now, self.liveness, self.probes)
                    for child in self.children]
        gone = [child for child in self.children if child.state == GONE]
        for child in gone:
            self.drained[child.name] = child.drain_record(now)
            replacement = self.waiting.pop(child.name, None)
            index = self.children.index(child)
            if replacement is None:
                del self.children[index]
            else:
                self.children[index] = replacement
                replacement.start(self.limits)
        if any(changed) or gone:
            self.publish()

    def stop_all(self) -> None:
        """SIGTERM every process group (draining ones too), wait for the grace period,
        SIGKILL what is left."""
        running = [c for c in self.children if c.state in ("running", DRAINING)
                   or (c.state == HELD and c.popen is not None and c.popen.poll() is None)]
        note(f"stopping {', '.join(c.name for c in running) or 'nothing'}")
        for child in running:
            signal_group(child.popen.pid, signal.SIGTERM)
        deadline = time.monotonic() + STOP_GRACE_SECONDS
        for child in running:
            try:
                child.popen.wait(max(deadline - time.monotonic(), 0))
            except subprocess.TimeoutExpired:
                note(f"{child.name} ignored SIGTERM for {STOP_GRACE_SECONDS:.0f} s; killing it")
        for child in self.children:
            if child.popen:
                # The leader may be gone while others in its group still run.
                signal_group(child.popen.pid, signal.SIGKILL)
                child.popen.wait()
            child.state = "stopped"
        self.waiting.clear()
        self.probes.shutdown(wait=False, cancel_futures=True)
        if self.limits is not None:
            self.limits.cleanup()
        self.publish()
        note("stopped")

    def publish(self) -> None:
        """Write processes.json: the supervisor's pid, the generation of supervisor.json it
        applied, each child's state, and how the last drains ended."""
        write_json(self.state_dir / STATUS_FILE, {
            "supervisor_pid": os.getpid(),
            "generation": self.generation,
            "processes": {child.name: child.report(self.limits) for child in self.children},
            "drained": self.drained,
            "memory_limits": self.limits.method.kind if self.limits else None,
        })


def main() -> None:
    """Entry point: supervise the stack whose state folder is the first argument."""
    Supervisor(Path(sys.argv[1])).run()


if __name__ == "__main__":
    main()
