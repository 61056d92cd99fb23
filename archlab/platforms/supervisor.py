"""The local platform's supervisor: starts a stack's processes and restarts crashed ones.

Run as `python -m archlab.platforms.supervisor STATE_DIR`. It reads
STATE_DIR/supervisor.json (what to run), starts each process in its own process
group with its output in STATE_DIR/logs/<name>.log and exactly the environment
supervisor.json gives it (none of the supervisor's own), restarts a process that
failed (policy like compose's `restart: on-failure`, with exponential backoff),
and keeps STATE_DIR/processes.json current for `archlab status`. SIGTERM or
SIGINT stops every process group: SIGTERM, a grace period, then SIGKILL.
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

    def check(self, now: float) -> bool:
        """Notice an exit or a due restart; returns whether anything changed."""
        if self.state == "running" and self.popen.poll() is not None:
            self._exited(self.popen.returncode, now)
            return True
        if self.state == "backoff" and now >= self.restart_at:
            self.restarts += 1
            self.start()
            return True
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
        running = self.state == "running"
        return {"pid": self.popen.pid if running else None, "state": self.state,
                "started_at": self.started_at_epoch, "restarts": self.restarts,
                "last_exit": self.last_exit}


class Supervisor:
    """Runs the children described in STATE_DIR/supervisor.json until told to stop."""

    def __init__(self, state_dir: Path):
        self.state_dir = state_dir
        spec = read_json(state_dir / SPEC_FILE)
        self.children = [
            Child(name=p["name"], argv=p["argv"], env=p["env"], cwd=p["cwd"],
                  log=Path(p["log"]), restart=p["restart"])
            for p in spec["processes"]
        ]
        self.stopping = False

    def _stop_requested(self, signum, frame) -> None:
        self.stopping = True

    def run(self) -> None:
        """Start everything, supervise until SIGTERM/SIGINT, then stop everything."""
        signal.signal(signal.SIGTERM, self._stop_requested)
        signal.signal(signal.SIGINT, self._stop_requested)
        for child in self.children:
            child.start()
        self.publish()
        while not self.stopping:
            now = time.monotonic()
            changed = [child.check(now) for child in self.children]
            if any(changed):
                self.publish()
            time.sleep(POLL_SECONDS)
        self.stop_all()

    def stop_all(self) -> None:
        """SIGTERM every process group, wait for the grace period, SIGKILL what is left."""
        running = [c for c in self.children if c.state == "running"]
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
        self.publish()
        note("stopped")

    def publish(self) -> None:
        """Write processes.json: the supervisor's pid and each child's state."""
        write_json(self.state_dir / STATUS_FILE, {
            "supervisor_pid": os.getpid(),
            "processes": {child.name: child.report() for child in self.children},
        })


def main() -> None:
    """Entry point: supervise the stack whose state folder is the first argument."""
    Supervisor(Path(sys.argv[1])).run()


if __name__ == "__main__":
    main()
