"""The benchmark runner: the same load on each architecture, interleaved and repeated,
with raw results written as docs/results-format.md describes.

Per architecture and repeat: start the stack on the system under test's cores, reseed,
a warm-up run of Locust (kept under warmup/, never in figures), the measured run with
the sampler, run.json, and the stack down again - always, Ctrl-C included.

Equal budget (archlab.budget): with two or more cores the generator gets the last core
to itself and the system under test the others; this process runs pinned to the SUT's
cores (every stack process inherits that) and starts Locust pinned to the generator's.
"""

import datetime
import importlib.util
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import requests
from rich.console import Console
from rich.live import Live
from rich.text import Text

from archlab import budget as budgets
from archlab import config, report
from archlab.errors import LabError
from archlab.experiment import Experiment
from archlab.manifest import machine_facts, new_run_dir, results_root
from archlab.metrics import Sampler
from archlab.platforms.base import StackInfo
from archlab.platforms.local import LocalPlatform
from archlab.platforms.statefiles import read_json

# Above this mean CPU (percent of one core) the generator, not the system, set the pace.
GENERATOR_OVERLOAD_PERCENT = 80.0
# Locust gets this long past its run time (startup, --stop-timeout, writing files).
LOCUST_GRACE_SECONDS = 60.0
LOCUST_STOP_TIMEOUT_SECONDS = 5
REFRESH_SECONDS = 0.5
UNPINNED_NOTE = ("1 core: the generator and the system under test share it, unpinned, so "
                 "the generator's load is part of what is measured")


def newest_calibration(results_dir: Path) -> dict | None:
    """The newest results/*_calibration/calibration.json, or None."""
    found = sorted(results_dir.glob("*_calibration/calibration.json"))
    return json.loads(found[-1].read_text()) if found else None


def run_order(experiment: Experiment) -> list[tuple[str, int]]:
    """Interleaved: every architecture's repeat 1, then every architecture's repeat 2, ..."""
    return [(arch, repeat) for repeat in range(1, experiment.repeats + 1)
            for arch in experiment.architectures]


def locust_wait(experiment: Experiment) -> str:
    """ARCHLAB_WAIT for the locustfile: "MIN,MAX" seconds, or one number."""
    low, high = experiment.wait_s
    return f"{low:g}" if low == high else f"{low:g},{high:g}"


# -- progress ------------------------------------------------------------------------


@contextmanager
def live_line(console: Console) -> Iterator[Callable[[str], None]]:
    """A function that shows one updating line; the last text stays when the block ends.
    Without a terminal only that last text is printed."""
    if not console.is_terminal:
        last = [""]

        def remember(text: str) -> None:
            last[0] = text

        yield remember
        console.print(last[0], highlight=False, soft_wrap=True)
        return
    with Live(console=console, auto_refresh=False, transient=False) as live:
        yield lambda text: live.update(Text(text, no_wrap=True, overflow="ellipsis"),
                                       refresh=True)


class HistoryTail:
    """The newest "Aggregated" rows of a growing locust_stats_history.csv."""

    def __init__(self, path: Path):
        self.path = path
        self.offset = 0
        self.header: list[str] | None = None
        self.rows: list[dict[str, str]] = []

    def read(self) -> "HistoryTail":
        """Take in the lines written since the last call."""
        try:
            with open(self.path, "rb") as f:
                f.seek(self.offset)
                chunk = f.read()
        except FileNotFoundError:
            return self
        # Only whole lines: Locust may be half-way through writing the last one.
        complete = chunk[:chunk.rfind(b"\n") + 1]
        self.offset += len(complete)
        for line in complete.decode().splitlines():
            fields = line.split(",")
            if self.header is None:
                self.header = fields
            elif len(fields) == len(self.header) and fields[3] == "Aggregated":
                self.rows = [*self.rows[-1:], dict(zip(self.header, fields, strict=True))]
        return self

    def rate(self) -> float:
        """Requests per second between the last two rows (Locust's own Requests/s lags by
        its averaging window)."""
        if len(self.rows) < 2:
            return 0.0
        before, last = self.rows
        seconds = float(last["Timestamp"]) - float(before["Timestamp"])
        done = int(last["Total Request Count"]) - int(before["Total Request Count"])
        return done / seconds if seconds > 0 else 0.0

    @property
    def latest(self) -> dict[str, str]:
        return self.rows[-1] if self.rows else {}


def progress_text(phase: str, arch: str, repeat: int, repeats: int, elapsed: float,
                  total: float, history: HistoryTail, generator_cpu: float | None) -> str:
    """The progress line: phase, arch, repeat i/N, elapsed/total, req/s, p95, errors."""
    row = history.latest
    p95 = row.get("95%", "N/A")
    p95 = f"{p95} ms" if p95 not in ("N/A", "", "0") else "-"
    errors = row.get("Total Failure Count", "0")
    text = (f"{phase:<7} {arch:<13} {repeat}/{repeats} {min(elapsed, total):3.0f}/{total:.0f} s "
            f"{history.rate():5.0f} req/s  p95 {p95:>7}  errors {errors}")
    if generator_cpu is not None:
        text += f"  gen {generator_cpu:.0f}%"
    return text


# -- one Locust run ------------------------------------------------------------------


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
        """Start Locust (pinned to its cores) with its JSON stdout in locust.json; an
        empty checkouts.jsonl is there from the start, for runs without buyers."""
        self.folder.mkdir(parents=True, exist_ok=True)
        (self.folder / "checkouts.jsonl").touch()
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
        """Refuse a run whose locust.json is not Locust's stats (it crashed)."""
        try:
            stats = json.loads((self.folder / "locust.json").read_text())
        except ValueError:
            stats = None
        if not isinstance(stats, list):
            log = self.folder / "locust.log"
            tail = "\n".join(log.read_text(errors="replace").splitlines()[-10:])
            raise LabError(f"Locust exited with {self.process.returncode} without its stats; "
                           f"{log} ends with:\n{tail}")


def locust_argv(experiment: Experiment, host: str, folder: Path, seconds: float) -> list[str]:
    """The Locust command line: headless, --csv with full history, --json to stdout."""
    return [
        sys.executable, "-m", "locust", "-f",
        str(config.project_root() / "loadtests" / "locustfile.py"),
        "--headless", "-u", str(experiment.users), "-r", f"{experiment.spawn_rate:g}",
        "-t", f"{seconds:.0f}s", "--host", host,
        "--csv", str(folder / "locust"), "--csv-full-history", "--json", "--only-summary",
        "--stop-timeout", str(LOCUST_STOP_TIMEOUT_SECONDS),
        *experiment.personas,
    ]


def locust_env(experiment: Experiment, folder: Path, logins: Path, *,
               measured: bool) -> dict[str, str]:
    """The locustfile's settings: personas, think time, checkout log, the logins file the
    warm-up fills and the measured run reuses, and the shape."""
    env = dict(os.environ)
    env.pop("ARCHLAB_SHAPE", None)
    env.update({
        "ARCHLAB_PERSONAS": json.dumps(experiment.personas),
        "ARCHLAB_WAIT": locust_wait(experiment),
        "ARCHLAB_CHECKOUT_LOG": str(folder / "checkouts.jsonl"),
        "ARCHLAB_TOKEN_CACHE": str(logins),
        "PYTHONPATH": os.pathsep.join(
            p for p in (str(config.project_root()), env.get("PYTHONPATH")) if p),
    })
    # The shape drives the measured run only; the warm-up holds the plain user count.
    if measured and experiment.shape:
        env["ARCHLAB_SHAPE"] = experiment.shape
    return env


# -- the runner ----------------------------------------------------------------------


class Bench:
    """Runs one experiment into one run folder."""

    def __init__(self, experiment: Experiment, run_dir: Path, budget: budgets.Budget,
                 platform: LocalPlatform, echo: Callable[[str], None], console: Console):
        self.experiment = experiment
        self.run_dir = run_dir
        self.budget = budget
        self.platform = platform
        self.echo = echo
        self.console = console

    def run_all(self) -> None:
        """Every architecture and repeat in the planned order; stops at the first failure."""
        for arch, repeat in run_order(self.experiment):
            self.run_one(arch, repeat)

    def run_one(self, arch: str, repeat: int) -> dict:
        """Up, reseed, warm-up, measured run, run.json, down - down whatever happens."""
        e = self.experiment
        folder = self.run_dir / arch / str(repeat)
        folder.mkdir(parents=True)
        record = {
            "arch": arch, "repeat": repeat, "status": "running", "error": None,
            "started_at": _now(), "finished_at": None,
            "warmup_s": e.warmup_s, "duration_s": e.duration_s, "users": e.users,
            "spawn_rate": e.spawn_rate, "personas": e.personas, "wait_s": list(e.wait_s),
            "shape": e.shape, "host": None, "stack": None, "measured": None,
            "generator": None, "warmup_exit_code": None, "exit_code": None,
            "stock_min_available": None,
        }
        label = f"{arch} {repeat}/{e.repeats}"
        # Bearer tokens stay out of the results: they live as long as this repeat.
        scratch = Path(tempfile.mkdtemp(prefix="archlab-bench-"))
        logins = scratch / "logins.jsonl"
        try:
            self.echo(f"{label}: starting the stack at port base {self.platform.ports.base} ...")
            info = self.platform.up(arch, settings=self.experiment.settings)
            state = read_json(info.state_dir / "state.json")
            record["host"] = info.base_url
            record["stack"] = {"run_id": info.run_id, "startup_seconds": info.startup_seconds,
                               "sizing": state["sizing"], "settings": state["settings"]}
            self.platform.reseed()
            self.echo(f"{label}: up in {info.startup_seconds:.1f} s at {info.base_url}, "
                      "reseeded")
            if e.warmup_s > 0:
                warmup = self._warm_up(arch, repeat, folder / "warmup", info.base_url, logins)
                record["warmup_exit_code"] = warmup.process.returncode
            record.update(self._measure(arch, repeat, folder, info, logins))
            record["stock_min_available"] = self._stock_min(info.base_url, info.admin_token)
            record["status"] = "completed"
        except KeyboardInterrupt:
            record.update(status="interrupted", error="interrupted (Ctrl-C or SIGTERM)")
            raise
        except Exception as exc:
            record.update(status="failed", error=f"{type(exc).__name__}: {exc}")
            raise
        finally:
            record["finished_at"] = _now()
            # run.json marks a completed repeat (`archlab report` reads only those); a
            # repeat cut short says why in aborted.json instead.
            name = "run.json" if record["status"] == "completed" else "aborted.json"
            (folder / name).write_text(json.dumps(record, indent=2) + "\n")
            shutil.rmtree(scratch, ignore_errors=True)
            self._down(label)
        return record

    def _measure(self, arch: str, repeat: int, folder: Path, info: StackInfo,
                 logins: Path) -> dict:
        """The measured Locust run with the sampler; its part of run.json."""
        e = self.experiment
        run = LocustRun(folder, locust_argv(e, info.base_url, folder, e.duration_s),
                        locust_env(e, folder, logins, measured=True), e.duration_s,
                        budgets.generator_preexec(self.budget))
        started_epoch = None
        pid = run.start()
        sampler = Sampler(info.state_dir, pid, folder / "metrics.csv",
                          cpus=self.budget.generator_cpus).start()
        try:
            history = folder / "locust_stats_history.csv"

            def measuring_started() -> bool:
                nonlocal started_epoch
                if started_epoch is None and history.exists():
                    # Locust writes the history's first row when the test starts, after
                    # its imports: the measured phase (and metrics.csv's clock) start here.
                    sampler.begin()
                    started_epoch = time.time()
                return started_epoch is not None

            self._follow(run, "measure", arch, repeat, sampler, measuring_started)
        finally:
            load = sampler.stop()
            run.stop()
        run.check_output()
        overloaded = load.mean is not None and load.mean > GENERATOR_OVERLOAD_PERCENT
        if overloaded:
            self.echo(f"WARNING: {arch} {repeat}: the load generator averaged {load.mean:.0f}% "
                      f"of its core (over {GENERATOR_OVERLOAD_PERCENT:.0f}%): it, not the "
                      "system under test, may have set the pace; use fewer users or a "
                      "bigger machine")
        return {
            "measured": {"started_at_epoch": started_epoch, "ended_at_epoch": time.time()},
            "generator": {"pid": pid, "cpu_percent_mean": load.mean,
                          "cpu_percent_max": load.max, "samples": load.samples,
                          "overloaded": overloaded},
            "exit_code": run.process.returncode,
        }

    def _warm_up(self, arch: str, repeat: int, folder: Path, host: str,
                 logins: Path) -> LocustRun:
        """The warm-up Locust run (no sampler); its files stay in warmup/."""
        e = self.experiment
        run = LocustRun(folder, locust_argv(e, host, folder, e.warmup_s),
                        locust_env(e, folder, logins, measured=False), e.warmup_s,
                        budgets.generator_preexec(self.budget))
        run.start()
        history = folder / "locust_stats_history.csv"
        try:
            self._follow(run, "warm-up", arch, repeat, None, history.exists)
        finally:
            run.stop()
        run.check_output()
        return run

    def _follow(self, run: LocustRun, phase: str, arch: str, repeat: int,
                sampler: Sampler | None, started: Callable[[], bool]) -> None:
        """Show the progress line until Locust exits; kill it when it overruns."""
        tail = HistoryTail(run.folder / "locust_stats_history.csv")
        began = time.monotonic()
        load_began = None
        with live_line(self.console) as show:
            while run.poll() is None:
                now = time.monotonic()
                if load_began is None and started():
                    load_began = now
                if now - began > run.seconds + LOCUST_GRACE_SECONDS:
                    raise LabError(f"Locust ran {LOCUST_GRACE_SECONDS:.0f} s past its "
                                   f"{run.seconds:.0f} s; read {run.folder / 'locust.log'}")
                elapsed = now - load_began if load_began is not None else 0.0
                show(progress_text(phase, arch, repeat, self.experiment.repeats, elapsed,
                                   run.seconds, tail.read(),
                                   sampler.generator_now if sampler else None))
                time.sleep(REFRESH_SECONDS)
            show(progress_text(phase, arch, repeat, self.experiment.repeats, run.seconds,
                               run.seconds, tail.read(),
                               sampler.generator_now if sampler else None))

    def _stock_min(self, base_url: str, admin_token: str) -> int | None:
        """The lowest available stock of any product after the run (GET /api/admin/audit)."""
        try:
            answer = requests.get(f"{base_url}/api/admin/audit", timeout=30,
                                  headers={"Authorization": f"Bearer {admin_token}"})
            answer.raise_for_status()
            return min(s["available"] for s in answer.json()["stock"])
        except (requests.RequestException, ValueError, KeyError) as exc:
            self.echo(f"could not read the stock after the run: {exc}")
            return None

    def _down(self, label: str) -> None:
        report = self.platform.down()
        if report.was_running:
            left = f"; killed leftovers: {report.leftovers}" if report.leftovers else ""
            self.echo(f"{label}: stack down{left}")


def _now() -> str:
    return datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds")


def manifest(experiment: Experiment, budget: budgets.Budget, port_base: int,
             results_dir: Path) -> dict:
    """manifest.json: where the run came from and what it plans to do."""
    path = experiment.path.resolve()
    try:
        shown = str(path.relative_to(config.project_root()))
    except ValueError:
        shown = str(path)
    share = budget.to_dict()
    if not budget.pinned:
        share["note"] = UNPINNED_NOTE
    return {
        "experiment": experiment.name,
        "experiment_file": shown,
        "config": experiment.to_config(),
        "machine": machine_facts(),
        "budget": share,
        "port_base": port_base,
        "order": [list(step) for step in run_order(experiment)],
        "calibration": newest_calibration(results_dir),
    }


def build_report(run_dir: Path, echo: Callable[[str], None]) -> None:
    """Build the run's report; if that fails the raw results still stand."""
    try:
        built = report.build(run_dir)
    except Exception as exc:  # the raw results stand; the report can be rebuilt later
        echo(f"raw results in {run_dir}; building the report failed: "
             f"{type(exc).__name__}: {exc} (rebuild with `archlab report {run_dir}`)")
        return
    echo(f"report: {built}")


def run(experiment: Experiment, *, port_base: int | None = None,
        results_dir: Path | None = None, echo: Callable[[str], None] = print,
        console: Console | None = None) -> Path:
    """Run `experiment` and return its run folder; the stack is down and this process's
    cores and ARCHLAB_CORES are restored afterwards, whatever happens."""
    if importlib.util.find_spec("locust") is None:
        raise LabError("locust is not installed; install the bench extra: "
                       "pip install -e '.[bench]'")
    platform = LocalPlatform(port_base)
    budget = budgets.plan()
    root = Path(results_dir) if results_dir else results_root()
    run_dir = new_run_dir(experiment.name, root)
    (run_dir / "manifest.json").write_text(json.dumps(
        manifest(experiment, budget, platform.ports.base, root), indent=2) + "\n")
    echo(f"run folder: {run_dir}")
    where = (f"system under test on cpu {_cpus(budget.sut_cpus)}, generator on cpu "
             f"{_cpus(budget.generator_cpus)}" if budget.pinned else UNPINNED_NOTE)
    echo(f"budget: {where}; {budget.web_workers} web worker(s) x {budget.web_threads} threads")
    with budgets.system_share(budget):
        Bench(experiment, run_dir, budget, platform, echo, console or Console()).run_all()
    build_report(run_dir, echo)
    return run_dir


def _cpus(cpus) -> str:
    return ",".join(str(c) for c in cpus)
