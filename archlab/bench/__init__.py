"""The benchmark: the same load on each architecture, interleaved and repeated, with
raw results written as docs/results-format.md describes.

    plan.py      the order of the repeats and the manifest
    runner.py    one repeat: stack up, warm-up, measured run, run.json, stack down
    locust.py    one Locust process
    restock.py   the stock a run that buys gets, sized to its load
    census.py    what a stack ran with: processes, threads, connections, log lines
    progress.py  the live progress line
    probe.py     equal-total's measured CPU shares, from a short run before the repeats
    floor.py     an open loop's noise floor: its schedule against a null endpoint, once

Equal budget (archlab.budget): with two or more cores the generator gets the last core
to itself and the system under test the others. This process runs on the generator's
side with Locust (its loop, the sampler and the windows are the lab's work, kept off the
cores it measures) and pins itself to the system's cores only while it starts a stack,
so every stack process inherits those.
"""

import dataclasses
import importlib.util
import json
from collections.abc import Callable
from pathlib import Path

from rich.console import Console

from archlab import budget as budgets
from archlab import config, platforms, report
from archlab.bench import floor, probe
from archlab.bench.locust import locust_argv, locust_env, locust_wait
from archlab.bench.plan import UNPINNED_NOTE, manifest, newest_calibration, run_order
from archlab.bench.progress import HistoryTail, progress_text
from archlab.bench.runner import Bench, sampler_on
from archlab.errors import LabError, StackAlreadyRunning
from archlab.experiment import Experiment
from archlab.manifest import new_run_dir, results_root
from archlab.platforms.base import Platform, StackInfo
from archlab.report.raw import read_run
from archlab.report.summary import OPEN_PHASE, build_summary

__all__ = ["Bench", "HistoryTail", "build_report", "locust_argv", "locust_env",
           "locust_wait", "manifest", "newest_calibration", "progress_text", "run",
           "run_order"]


def build_report(run_dir: Path, echo: Callable[[str], None]) -> Path | None:
    """Build the run's report and return its path (the command that ran the bench says
    where it is, once); if that fails the raw results still stand: None."""
    try:
        return report.build(run_dir)
    except Exception as exc:  # the raw results stand; the report can be rebuilt later
        echo(f"raw results in {run_dir}; building the report failed: "
             f"{type(exc).__name__}: {exc} (rebuild with `archlab report {run_dir}`)")
        return None


def refuse_if_busy(platform: Platform) -> None:
    """Refuse to start when a stack already runs at the port base: the bench starts and
    stops its own stacks, and never one it did not start."""
    if platform.condition() in ("running", "starting"):
        base = platform.ports.base
        raise StackAlreadyRunning(
            f"a stack already runs at port base {base}; the bench starts and stops its "
            f"own. Stop that one with `{config.command_at(base, 'down')}`, or run the "
            f"bench beside it with ARCHLAB_PORT_BASE=<another base>, e.g. {base + 1000}.")


def run(experiment: Experiment, *, port_base: int | None = None,
        results_dir: Path | None = None, echo: Callable[[str], None] = print,
        console: Console | None = None, platform_name: str = "local") -> Path:
    """Run `experiment` on the platform `platform_name` and return its run folder; the
    stack is down and this process's cores and ARCHLAB_CORES are restored afterwards,
    whatever happens."""
    if importlib.util.find_spec("locust") is None:
        raise LabError("locust is not installed; install the bench extra: "
                       "pip install -e '.[bench]'")
    platform = platforms.make(platform_name, port_base)
    refuse_if_busy(platform)
    sampler_on(1)  # a wrong ARCHLAB_SAMPLER is refused before anything starts
    budget = budgets.plan()
    root = Path(results_dir) if results_dir else results_root()
    run_dir = new_run_dir(experiment.name, root)
    # A run with both loops runs the closed one here and the open one in open/.
    first = experiment if experiment.users is None else dataclasses.replace(
        experiment, arrival_steps=None, capacity_share=None)
    echo(f"run folder: {run_dir}")
    where = (f"system under test on cpu {_cpus(budget.sut_cpus)}, generator on cpu "
             f"{_cpus(budget.generator_cpus)}" if budget.pinned else UNPINNED_NOTE)
    shares = f", CPU shares: {experiment.shares}" if experiment.shares else ""
    echo(f"budget: {where}; sizing {experiment.sizing}{shares} (each stack's plan is in "
         "its run.json and the report)")
    with budgets.lab_share(budget):
        config_record = experiment.to_config()
        measured = {}  # the probe's record, for both loops' manifests
        if probe.wanted(experiment):
            # Before the repeats, so every repeat of every stack splits by the same shares.
            record = probe.measure(experiment, run_dir, {
                "budget": budget, "platform": platform, "console": console or Console()},
                echo)
            experiment = probe.with_shares(experiment, record)
            first = probe.with_shares(first, record)
            measured["probe"] = record
        # The run's manifest records the whole experiment, both loops.
        _run_phase(first, run_dir, budget, platform, root, echo, console,
                   extra={"config": config_record, "platform": platform_name, **measured})
        if experiment.phases == ("closed", "open"):
            steps, capacity = open_loop_rate(experiment, run_dir)
            echo(f"open loop: {steps_text(steps)} on every architecture"
                 + (f" ({experiment.capacity_share:g} of the slower one's goodput in the "
                    f"closed loop: {capacity_text(capacity)})" if capacity else ""))
            _run_phase(experiment.open_loop(steps), run_dir / OPEN_PHASE, budget, platform,
                       root, echo, console,
                       extra={"phase": "open", "capacity": capacity,
                              "platform": platform_name, **measured})
    build_report(run_dir, echo)
    return run_dir


def _run_phase(experiment: Experiment, run_dir: Path, budget: budgets.Budget,
               platform: Platform, root: Path, echo, console, extra=None) -> None:
    """Every repeat of one loop into `run_dir`, with its manifest (the open phase of a
    run with both loops is a run folder of its own inside the first one)."""
    run_dir.mkdir(parents=True, exist_ok=True)
    recorded = manifest(experiment, budget, platform.ports.base, root) | (extra or {})
    manifest_file = run_dir / "manifest.json"
    manifest_file.write_text(json.dumps(recorded, indent=2) + "\n")

    def record_server(info: StackInfo) -> None:
        # The bench's own file while it runs: which PostgreSQL server really answered.
        entry = {"arch": info.arch, "run_id": info.run_id,
                 "server_version": info.database_server_version,
                 "database": info.database}
        recorded["postgres_servers"].append(entry)
        manifest_file.write_text(json.dumps(recorded, indent=2) + "\n")

    if experiment.users is None:
        # An open loop's noise floor: its schedule against a null endpoint, once.
        recorded["floor"] = floor.run(experiment, run_dir, budget, platform.ports.base, echo)
        manifest_file.write_text(json.dumps(recorded, indent=2) + "\n")
    Bench(experiment, run_dir, budget, platform, echo, console or Console(),
          on_stack=record_server).run_all()


def open_loop_rate(experiment: Experiment, run_dir: Path):
    """The open phase's steps, and the closed loop's goodput per architecture when the
    rate is a share of the slower one's (else None)."""
    if experiment.capacity_share is None:
        return experiment.arrival_steps, None
    # The goodput the report gives each architecture (its mean over the repeats).
    archs = build_summary(read_run(run_dir))["arch"]
    capacity = {arch: figures["stats"]["goodput_rps"]["mean"]
                for arch, figures in archs.items()}
    slowest = min(capacity.values())
    if slowest <= 0:
        raise LabError("the closed loop served no request successfully: there is no "
                       "capacity to take a share of; see the report of the closed loop")
    rate = round(experiment.capacity_share * slowest, 1)
    return ((rate, float(experiment.duration_s)),), capacity


def steps_text(steps) -> str:
    """'40 arrivals/s for 20 s' (a step after another joined with 'then'): an arrival
    is one persona task, of one or more requests."""
    return ", then ".join(f"{rate:g} arrivals/s for {seconds:g} s"
                          for rate, seconds in steps)


def capacity_text(capacity: dict[str, float]) -> str:
    """'monolith 231 req/s, microservices 98 req/s'."""
    return ", ".join(f"{arch} {rps:.0f} req/s" for arch, rps in capacity.items())


def _cpus(cpus) -> str:
    return ",".join(str(c) for c in cpus)
