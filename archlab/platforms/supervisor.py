"""The local platform's supervisor: starts a stack's processes and restarts crashed ones.

Run as `python -m archlab.platforms.supervisor STATE_DIR`. It reads
STATE_DIR/supervisor.json (what to run), starts each process in its own process
group with its output in STATE_DIR/logs/<name>.log and exactly the environment
supervisor.json gives it (none of the supervisor's own), restarts a process that
failed (policy like compose's `restart: on-failure`, with exponential backoff),
and keeps STATE_DIR/processes.json current for `archlab status`. SIGTERM or
SIGINT stops every process group: SIGTERM, a grace period, then SIGKILL.

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
from dataclasses import dataclass
from pathlib import Path

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
# "draining" (SIGTERM sent, going for good), "gone" (drained; leaves at once).
DRAINING = "draining"
GONE = "gone"


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

    @classmethod
    def from_entry(cls, entry: dict) -> "Child":
        """A child (not started) from its entry in supervisor.json."""
        return cls(name=entry["name"], argv=entry["argv"], env=entry["env"],
                   cwd=entry["cwd"], log=Path(entry["log"]), restart=entry["restart"],
                   entry=entry)

    def start(self) -> None:
        """Start the process in a new session (its own process group), output to its log,
        with its environment from supervisor.json and nothing else."""
        with open(self.log, "a") as log:
            log.write(f"--- archlab: starting {self.name} at {time.strftime('%H:%M:%S')}"
                      f" (restart {self.restarts}) ---\n")
            log.flush()
            self.popen = subprocess.Popen(
                self.argv, env=dict(self.env), cwd=self.cwd,
                stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        self.started_at = time.monotonic()
        self.started_at_epoch = time.time()
        self.restart_at = None
        self.state = "running"
        note(f"started {self.name} (pid {self.popen.pid})")

    def drain(self, now: float) -> None:
        """Stop for good: SIGTERM to the process group (a gunicorn master stops gracefully),
        no restart; check() sends SIGKILL once STOP_GRACE_SECONDS have passed. One that is
        not running (waiting to restart, exited) is gone at once."""
        self.drain_started = now
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

    def check(self, now: float) -> bool:
        """Notice an exit, a due restart or the end of a drain; returns whether anything
        changed."""
        if self.state == DRAINING:
            return self._check_drain(now)
        if self.state == "running" and self.popen.poll() is not None:
            self._exited(self.popen.returncode, now)
            return True
        if self.state == "backoff" and now >= self.restart_at:
            self.restarts += 1
            self.start()
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
        if code == 0 or self.restart != "on-failure":
            self.state = "exited"
            note(f"{self.name} exited with {exit_text(code)}; not restarting")
            return
        ran = now - self.started_at
        self.failures_in_a_row = 1 if ran >= STABLE_SECONDS else self.failures_in_a_row + 1
        delay = backoff_seconds(self.failures_in_a_row)
        self.restart_at = now + delay
        self.state = "backoff"
        note(f"{self.name} exited with {exit_text(code)} after {ran:.1f} s; "
             f"restarting in {delay:.1f} s")

    def report(self) -> dict:
        """This process for processes.json."""
        running = self.state in ("running", DRAINING)
        return {"pid": self.popen.pid if running else None, "state": self.state,
                "started_at": self.started_at_epoch, "restarts": self.restarts,
                "last_exit": self.last_exit}


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
                child.start()
        self.generation = spec.get("generation", 0)
        self.step(now)
        self.publish()

    def step(self, now: float) -> None:
        """One round: notice exits, due restarts and finished drains; a drained child
        leaves (and its waiting replacement starts); publish what changed."""
        changed = [child.check(now) for child in self.children]
        gone = [child for child in self.children if child.state == GONE]
        for child in gone:
            self.drained[child.name] = child.drain_record(now)
            replacement = self.waiting.pop(child.name, None)
            index = self.children.index(child)
            if replacement is None:
                del self.children[index]
            else:
                self.children[index] = replacement
                replacement.start()
        if any(changed) or gone:
            self.publish()

    def stop_all(self) -> None:
        """SIGTERM every process group (draining ones too), wait for the grace period,
        SIGKILL what is left."""
        running = [c for c in self.children if c.state in ("running", DRAINING)]
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
        self.publish()
        note("stopped")

    def publish(self) -> None:
        """Write processes.json: the supervisor's pid, the generation of supervisor.json it
        applied, each child's state, and how the last drains ended."""
        write_json(self.state_dir / STATUS_FILE, {
            "supervisor_pid": os.getpid(),
            "generation": self.generation,
            "processes": {child.name: child.report() for child in self.children},
            "drained": self.drained,
        })


def main() -> None:
    """Entry point: supervise the stack whose state folder is the first argument."""
    Supervisor(Path(sys.argv[1])).run()


if __name__ == "__main__":
    main()
