"""The runner: one architecture's repeat at a time, in the planned order.

Per repeat: start the stack on the system under test's cores, reseed (and restock, for a
run that buys), a warm-up run of Locust (kept under warmup/, never in figures), the
measured run with the sampler, the host-CPU window and the stack census, run.json, and the
stack down again - always, Ctrl-C included, but only a stack this runner started: a stack
that was already up at the port base is the user's and is never touched.
"""

import datetime
import json
import os
import shutil
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import requests
from rich.console import Console

from archlab import budget as budgets
from archlab import canary, formats, hostcpu
from archlab.bench import census
from archlab.bench.locust import (
    LOCUST_GRACE_SECONDS,
    OPENLOOP_FILE,
    SERIES_FILE,
    LocustRun,
    locust_argv,
    locust_env,
)
from archlab.bench.plan import run_order
from archlab.bench.progress import HistoryTail, live_line, progress_text
from archlab.bench.restock import restock_level
from archlab.errors import LabError
from archlab.experiment import Experiment
from archlab.metrics import GENERATOR, Sampler, cpu_between, stack_roots
from archlab.platforms.base import Platform, StackInfo
from archlab.platforms.compose import ComposePlatform
from archlab.platforms.statefiles import read_json
from archlab.windows import SAMPLER_CHECK_POINTS, SAMPLER_CHECK_SHARE

# Above this mean CPU (percent of one core) the generator, not the system, set the pace.
GENERATOR_OVERLOAD_PERCENT = 80.0
REFRESH_SECONDS = 0.5


class Bench:
    """Runs one experiment into one run folder."""

    def __init__(self, experiment: Experiment, run_dir: Path, budget: budgets.Budget,
                 platform: Platform, echo: Callable[[str], None], console: Console,
                 on_stack: Callable[[StackInfo], None] | None = None):
        self.experiment = experiment
        self.run_dir = run_dir
        self.budget = budget
        self.platform = platform
        self.echo = echo
        self.console = console
        # Told about every stack once it is up (the manifest records the server that ran).
        self.on_stack = on_stack or (lambda info: None)

    def run_all(self) -> None:
        """Every architecture and repeat in the planned order; stops at the first failure."""
        for arch, repeat in run_order(self.experiment):
            self.run_one(arch, repeat)

    def run_one(self, arch: str, repeat: int) -> dict:
        """Up, reseed, warm-up, measured run, run.json, down - down whatever happens, if
        this repeat started the stack."""
        e = self.experiment
        folder = self.run_dir / arch / str(repeat)
        folder.mkdir(parents=True)
        record = {
            "format": formats.RUN_FORMAT,
            "arch": arch, "repeat": repeat, "status": "running", "error": None,
            "started_at": _now(), "finished_at": None,
            "warmup_s": e.warmup_s, "duration_s": e.duration_s, "users": e.users,
            "spawn_rate": e.spawn_rate, "personas": e.personas, "wait_s": list(e.wait_s),
            "shape": e.shape, "host": None, "stack": None, "measured": None,
            "generator": None, "host_cpu": None, "census": None,
            "warmup_exit_code": None, "exit_code": None, "stock_min_available": None,
            "restocked_to": None, "supervision": None,
            # The speed canary on every core the lab uses, before and after.
            "canary": None,
            # The open loop's schedule (None: a closed loop).
            "arrival": ({"steps": [list(step) for step in e.arrival_steps],
                         "max_in_flight": e.max_in_flight}
                        if e.users is None else None),
        }
        label = f"{arch} {repeat}/{e.repeats}" + (" (open loop)" if e.users is None else "")
        # Bearer tokens stay out of the results: they live as long as this repeat.
        scratch = Path(tempfile.mkdtemp(prefix="archlab-bench-"))
        logins = scratch / "logins.jsonl"
        started = False
        try:
            self.echo(f"{label}: starting the stack at port base {self.platform.ports.base} ...")
            # up() refuses when a stack already runs here; that stack is not ours to stop.
            # The stack inherits the system's cores; the lab goes back to its own.
            with budgets.system_share(self.budget):
                info = self.platform.up(arch, settings=self.experiment.settings,
                                        sizing=self.experiment.sizing_choice())
            started = True
            state = read_json(info.state_dir / "state.json")
            self.on_stack(info)
            record["host"] = info.base_url
            record["stack"] = {"run_id": info.run_id, "startup_seconds": info.startup_seconds,
                               "sizing": state["sizing"], "settings": state["settings"],
                               "environment": state.get("environment"),
                               "postgres": info.database_server_version}
            self.platform.reseed()
            # A run that buys gets enough stock not to sell out (archlab.bench.restock);
            # a browsing run keeps the seeded shelf stock.
            level = restock_level(e)
            if level is not None:
                self.platform.restock(level)
                record["restocked_to"] = level
            restocked = f", every product restocked to {level}" if level is not None else ""
            self.echo(f"{label}: up in {info.startup_seconds:.1f} s at {info.base_url}, "
                      f"reseeded{restocked}")
            # With the stack up and idle: how fast each core runs fixed work, so a repeat
            # on slower cores shows (archlab/canary.py).
            canary_before = canary.measure(self.budget.lab_cpus)
            record["canary"] = canary.record(canary_before, None, self.budget.sut_cpus)
            if e.warmup_s > 0:
                warmup = self._warm_up(arch, repeat, folder / "warmup", info, logins)
                record["warmup_exit_code"] = warmup.process.returncode
            record.update(self._measure(arch, repeat, folder, info, state, logins))
            record["canary"] = canary.record(canary_before,
                                             canary.measure(self.budget.lab_cpus),
                                             self.budget.sut_cpus)
            record["stock_min_available"] = self._stock_min(info.base_url, info.admin_token)
            record["supervision"] = supervision(self.platform.status())
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
            if started:
                self._down(label)
        return record

    def _measure(self, arch: str, repeat: int, folder: Path, info: StackInfo, state: dict,
                 logins: Path) -> dict:
        """The measured Locust run with the sampler, the host windows and the log counter;
        its part of run.json.

        The sampler and the windows run over Locust's whole life, from before its first
        request to after its last: the report finds the steady state inside that span on
        the request series (series.csv) and takes requests and CPU over exactly that
        window, from rows on the same wall clock."""
        e = self.experiment
        run = LocustRun(folder, locust_argv(e, info.base_url, folder, e.duration_s),
                        locust_env(e, folder, logins, run_id=info.run_id, measured=True),
                        e.duration_s, budgets.generator_preexec(self.budget))
        started_epoch = None
        pid = run.start()
        sampling = sampler_on(repeat)
        sampler = Sampler(info.state_dir, pid, folder / "metrics.csv",
                          cpus=self.budget.generator_cpus,
                          connections_out=folder / "connections.csv").start(sampling)
        containers = isinstance(self.platform, ComposePlatform)
        # The engine's processes a container stack uses, as the window last read them.
        engine_pids: list[int] = []

        def roots() -> list[int]:
            # Read again at the close: a restarted process counts.
            engine_pids[:] = self.platform.engine_pids()
            return [*stack_roots(info.state_dir), pid, *engine_pids]

        # Every core the lab uses: a busy core the stack, Locust and the lab do not
        # explain is another program's load.
        window = hostcpu.Window(cpus=self.budget.lab_cpus, roots=roots,
                                extra_pids=[os.getpid()], sut_cpus=self.budget.sut_cpus)
        # Containers: their logs through the engine, and the engine's own CPU and memory
        # readings of each container beside the sampler's of their processes.
        logs = (self.platform.access_logs() if containers
                else census.AccessLogs(self.platform.logs_dir))
        engine = (self.platform.engine_stats(folder / "containers.csv").start()
                  if containers else None)
        window.open()
        logs.mark()
        try:
            series = folder / SERIES_FILE

            def measuring_started() -> bool:
                nonlocal started_epoch
                if started_epoch is None and series.exists():
                    # Locust's test started (its first series row): the progress line's
                    # clock and the generator's mean CPU start here.
                    sampler.begin()
                    if engine is not None:
                        engine.begin()  # docker stats' means: from the test's start
                    started_epoch = time.time()
                return started_epoch is not None

            self._follow(run, "measure" if e.users is not None else "open", arch, repeat,
                         sampler, measuring_started)
        finally:
            load = sampler.stop()
            engine_figures = engine.stop() if engine is not None else None
            run.stop()
        host = window.close()
        # The sampler's figure for the stack against the stack read from /proc at its
        # first and last sample (the generator is left out of both: it has exited and
        # been reaped by the last one).
        checked = (sampler_check(folder / "metrics.csv", hostcpu.summarize(
            *sampler.check_snapshots, cpus=self.budget.lab_cpus))
            if sampling and len(sampler.check_snapshots) == 2 else None)
        lines = logs.count()
        run.check_output()
        self._check_schedule(arch, repeat, folder)
        overloaded = load.mean is not None and load.mean > GENERATOR_OVERLOAD_PERCENT
        if overloaded:
            self.echo(f"WARNING: {arch} {repeat}: the load generator averaged {load.mean:.0f}% "
                      f"of its core (over {GENERATOR_OVERLOAD_PERCENT:.0f}%): it, not the "
                      "system under test, may have set the pace; use fewer users or a "
                      "bigger machine")
        if host.lab_flagged:
            self.echo(f"WARNING: {arch} {repeat}: {host.unexplained_percent:.0f}% of a core "
                      "was busy with something other than the stack, the generator and the "
                      f"lab (over {host.limit_percent:.0f}%): another program's "
                      "load may have changed this repeat's figures")
        elif host.sut_flagged:
            self.echo(f"WARNING: {arch} {repeat}: {host.sut_unexplained_percent:.0f}% of the "
                      "system's cores was busy with something other than the stack (over "
                      f"{host.sut_limit_percent:.0f}%): another program's load may have "
                      "changed this repeat's figures")
        if checked and checked["flagged"]:
            self.echo(f"WARNING: {arch} {repeat}: the sampler measured "
                      f"{checked['sampler_percent']:.0f}% of a core for the stack, /proc at "
                      f"the window's ends {checked['window_percent']:.0f}%"
                      f" (over {SAMPLER_CHECK_POINTS:g} points and "
                      f"{100 * SAMPLER_CHECK_SHARE:.0f}% apart): its CPU figures may "
                      "miss processes")
        return {
            "measured": {"started_at_epoch": started_epoch, "ended_at_epoch": time.time(),
                         # The span the sampler and the host window covered.
                         "sampled_from_epoch": checked and checked["from_epoch"],
                         "sampled_to_epoch": checked and checked["to_epoch"]},
            "generator": {"pid": pid, "cpu_percent_mean": load.mean,
                          "cpu_percent_max": load.max, "samples": load.samples,
                          "overloaded": overloaded},
            # None: sampling was off in this repeat (ARCHLAB_SAMPLER, an A/A check).
            "sampler": sampler.cost.to_dict() | {"check": checked} if sampling else None,
            # Where the lab's own loop ran while it measured (the generator's side).
            "lab_cpus": sorted(os.sched_getaffinity(0)),
            # On containers, which engine processes the window counted as the stack's.
            "host_cpu": host.to_dict() | ({"engine_pids": engine_pids} if containers
                                          else {}),
            "census": census.take(info.state_dir, state) | {"access_log_lines": lines,
                                                             "liveness_probes": logs.probes},
            "exit_code": run.process.returncode,
        } | ({"containers": engine_figures} if engine is not None else {})

    def _check_schedule(self, arch: str, repeat: int, folder: Path) -> None:
        """Say when an open loop's generator fell behind its schedule or left arrivals
        unanswered (the report flags both from openloop.json), and the rates it ran at."""
        if self.experiment.users is not None:
            return
        loop = read_json(folder / OPENLOOP_FILE)
        if loop.get("answered_rps") is not None:
            self.echo(f"  {arch} {repeat}: {loop['arrivals_per_s']:.1f} arrivals/s offered, "
                      f"{loop['answered_rps']:.1f} requests answered/s")
        if loop.get("behind_schedule"):
            median = loop.get("corrected_p50_ms")
            against = (f"over {loop['lag_limit_ms']:.2f} ms, {loop['lag_limit_share']:.0%} "
                       f"of the corrected p50 of {median:.1f} ms"
                       if median is not None and loop.get("lag_limit_share")
                       else f"over {loop['lag_limit_ms']:.0f} ms")
            self.echo(f"WARNING: {arch} {repeat}: the load generator fell behind its "
                      f"schedule (its lateness p99 {loop['scheduler_lag']['p99_ms']:.2f} ms, "
                      f"{against}): it, not the system under test, delayed arrivals; lower "
                      "the rate or give the generator more CPU")
        if loop.get("unfinished"):
            self.echo(f"WARNING: {arch} {repeat}: {loop['unfinished']} of "
                      f"{loop['intended']} arrivals were not answered by the end of the "
                      "drain (counted as failed): the rate is above what this architecture "
                      "served, or requests hung")

    def _warm_up(self, arch: str, repeat: int, folder: Path, info: StackInfo,
                 logins: Path) -> LocustRun:
        """The warm-up Locust run (no sampler); its files stay in warmup/."""
        e = self.experiment
        run = LocustRun(folder, locust_argv(e, info.base_url, folder, e.warmup_s),
                        locust_env(e, folder, logins, run_id=info.run_id, measured=False),
                        e.warmup_s, budgets.generator_preexec(self.budget))
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


def supervision(status) -> dict:
    """Each process's restarts by the end of the repeat, and how many its liveness check
    caused (a crash or a hang during the measured run shows here)."""
    return {p.name: {"restarts": p.restarts, "liveness_restarts": p.liveness_restarts}
            for p in status.processes}


def sampler_on(repeat: int) -> bool:
    """Whether this repeat samples: always, unless ARCHLAB_SAMPLER says "off" (never) or
    "alternate" (odd repeats on, even repeats off: an A/A check of what the sampler
    costs the generator, read from the repeats' loop lag)."""
    mode = os.environ.get("ARCHLAB_SAMPLER", "on").strip().lower()
    if mode not in ("on", "off", "alternate"):
        raise LabError(f"ARCHLAB_SAMPLER must be on, off or alternate, not {mode!r}")
    return mode == "on" or (mode == "alternate" and repeat % 2 == 1)


def sampler_check(metrics_csv: Path, window: hostcpu.HostCpu) -> dict:
    """The sampler's CPU of the stack over its first to last sample, beside the same
    processes' CPU read from /proc with those two samples; flagged when they are more
    than SAMPLER_CHECK_POINTS and SAMPLER_CHECK_SHARE of the /proc figure apart."""
    total, first, last = cpu_between(metrics_csv, leave_out=(GENERATOR,))
    span = (last - first) if first is not None else 0.0
    sampled = round(100 * total / span, 2) if span > 0 else None
    apart = abs(sampled - window.known_percent) if sampled is not None else None
    return {"sampler_percent": sampled, "window_percent": window.known_percent,
            "from_epoch": first, "to_epoch": last, "limit_points": SAMPLER_CHECK_POINTS,
            "difference_points": round(apart, 2) if apart is not None else None,
            "limit_share": SAMPLER_CHECK_SHARE,
            "flagged": apart is None or apart > max(
                SAMPLER_CHECK_POINTS, SAMPLER_CHECK_SHARE * window.known_percent)}


def _now() -> str:
    return datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds")
