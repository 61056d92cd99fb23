"""One Locust process: its command line, its environment and its life (start, stop,
check that it wrote its stats)."""

import json
import os
import signal
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from archlab import config
from archlab.errors import LabError
from archlab.experiment import Experiment
from archlab.platforms import processes
from loadtests import latency

# Locust gets this long past its run time (startup, --stop-timeout, writing files).
LOCUST_GRACE_SECONDS = 60.0
LOCUST_STOP_TIMEOUT_SECONDS = 5
# An open loop's histograms and counts (loadtests.openloop), beside Locust's files.
OPENLOOP_FILE = "openloop.json"
# Requests answered once a second on the wall clock (loadtests.series).
SERIES_FILE = "series.csv"


def locust_wait(experiment: Experiment) -> str:
    """ARCHLAB_WAIT for the locustfile: "MIN,MAX" seconds, or one number."""
    low, high = experiment.wait_s
    return f"{low:g}" if low == high else f"{low:g},{high:g}"


@dataclass
class LocustRun:
    """One Locust process writing its files into `folder`."""

    folder: Path
    argv: list[str]
    env: dict[str, str]
    seconds: float
    preexec: Callable[[], None] | None
    process: subprocess.Popen | None = None

    def start(self) -> int:
        """Start Locust (pinned to its cores) with its JSON stdout in locust.json; empty
        checkouts.jsonl and degraded.jsonl are there from the start, for runs without
        buyers or without degraded answers."""
        self.folder.mkdir(parents=True, exist_ok=True)
        for name in ("checkouts.jsonl", "degraded.jsonl"):
            (self.folder / name).touch()
        with (open(self.folder / "locust.json", "w") as out,
              open(self.folder / "locust.log", "w") as log):
            # Its own session: Ctrl-C in the terminal reaches the runner only, which then
            # stops Locust itself, so a half-run never looks like a finished one.
            self.process = subprocess.Popen(
                self.argv, env=self.env, cwd=config.project_root(), stdin=subprocess.DEVNULL,
                stdout=out, stderr=log, start_new_session=True,
                preexec_fn=self.preexec,
            )
        return self.process.pid

    def poll(self) -> int | None:
        return self.process.poll()

    def stop(self) -> None:
        """Stop Locust if it still runs: SIGTERM (it writes its stats), then SIGKILL."""
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(LOCUST_STOP_TIMEOUT_SECONDS + 5)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()

    def check_output(self) -> None:
        """Refuse a run whose locust.json is not Locust's stats (it crashed), or an open
        loop that did not write its histograms."""
        try:
            stats = json.loads((self.folder / "locust.json").read_text())
        except ValueError:
            stats = None
        if not isinstance(stats, list):
            log = self.folder / "locust.log"
            tail = "\n".join(log.read_text(errors="replace").splitlines()[-10:])
            raise LabError(f"Locust exited with {self.process.returncode} without its stats; "
                           f"{log} ends with:\n{tail}")
        if "ARCHLAB_ARRIVAL" in self.env and not (self.folder / OPENLOOP_FILE).is_file():
            raise LabError(f"the open loop wrote no {OPENLOOP_FILE}; read "
                           f"{self.folder / 'locust.log'}")


def locust_argv(experiment: Experiment, host: str, folder: Path, seconds: float) -> list[str]:
    """The Locust command line: headless, --csv with full history, --json to stdout. An
    open loop runs one user, OpenLoop, which sends the schedule and ends Locust itself;
    its run time is only a backstop past the schedule and the drain."""
    if experiment.users is None:
        users, classes = ["-u", "1", "-r", "1"], ["OpenLoop"]
        seconds += openloop_backstop_s()
    else:
        users = ["-u", str(experiment.users), "-r", f"{experiment.spawn_rate:g}"]
        classes = list(experiment.personas)
    return [
        sys.executable, "-m", "locust", "-f",
        str(config.project_root() / "loadtests" / "locustfile.py"),
        "--headless", *users, "-t", f"{seconds:.0f}s", "--host", host,
        "--csv", str(folder / "locust"), "--csv-full-history", "--json", "--only-summary",
        "--stop-timeout", str(LOCUST_STOP_TIMEOUT_SECONDS),
        *classes,
    ]


# Warming an open loop's slots (each persona's on_start, a login for a buyer) comes
# before its schedule's clock starts.
WARM_BACKSTOP_S = 60


def openloop_backstop_s() -> float:
    """Seconds Locust may run past an open loop's schedule: the slots' warming, the
    drain and a margin."""
    return WARM_BACKSTOP_S + latency.DRAIN_S + 10


def arrival_steps(experiment: Experiment, measured: bool) -> list[list[float]]:
    """The open loop's schedule: the experiment's steps, or for the warm-up its first
    step's rate for warmup_s."""
    if measured:
        return [list(step) for step in experiment.arrival_steps]
    return [[experiment.arrival_steps[0][0], float(experiment.warmup_s)]]


def locust_env(experiment: Experiment, folder: Path, logins: Path, *, run_id: str,
               measured: bool) -> dict[str, str]:
    """The locustfile's settings: personas, think time, checkout and degraded-answer logs,
    the logins file the warm-up fills and the measured run reuses, and the shape; and the
    stack's run id, so `archlab down` stops a Locust that a killed bench left running."""
    env = dict(os.environ)
    env.pop("ARCHLAB_SHAPE", None)
    env.update({
        processes.RUN_ID_VAR: run_id,
        "ARCHLAB_DEGRADED_LOG": str(folder / "degraded.jsonl"),
        "ARCHLAB_PERSONAS": json.dumps(experiment.personas),
        "ARCHLAB_WAIT": locust_wait(experiment),
        "ARCHLAB_CHECKOUT_LOG": str(folder / "checkouts.jsonl"),
        # The request series and the event loop's lag (loadtests.series).
        "ARCHLAB_SERIES_OUT": str(folder / SERIES_FILE),
        "ARCHLAB_TOKEN_CACHE": str(logins),
        "PYTHONPATH": os.pathsep.join(
            p for p in (str(config.project_root()), env.get("PYTHONPATH")) if p),
    })
    # The shape drives the measured run only; the warm-up holds the plain user count.
    if measured and experiment.shape:
        env["ARCHLAB_SHAPE"] = experiment.shape
    for key in ("ARCHLAB_ARRIVAL", "ARCHLAB_MAX_IN_FLIGHT", "ARCHLAB_OPENLOOP_OUT"):
        env.pop(key, None)
    if experiment.users is None:
        env.update({"ARCHLAB_ARRIVAL": json.dumps(arrival_steps(experiment, measured)),
                    "ARCHLAB_MAX_IN_FLIGHT": str(experiment.max_in_flight),
                    "ARCHLAB_OPENLOOP_OUT": str(folder / OPENLOOP_FILE)})
    return env
