"""equal-total's measured CPU shares: a short probe run before the measured repeats.

Each architecture of the experiment with more than one web process (the microservices)
runs once under per-process sizing and the experiment's own load, for `probe_s` seconds
after a 2 s warm-up, with the sampler on. A web process's share is its CPU seconds over
the web processes' total (PostgreSQL, the card processor and the background workers are
outside the split, as in archlab/sizing.py). The probe's repeat stays in probe/ of the
run folder, with shares.json; the manifest records the shares, and each stack's plan
says "shares: probe".
"""

import csv
import dataclasses
import json
from collections import defaultdict
from pathlib import Path

from archlab import metrics, sizing, windows
from archlab.bench.runner import Bench
from archlab.config import DEFAULT_PORT_BASE, Ports
from archlab.errors import LabError
from archlab.experiment import Experiment
from archlab.stacks import get_stack

FOLDER = "probe"
WARMUP_S = 2
# An open-loop-only experiment has no users; the probe's closed loop then runs this many.
OPEN_LOOP_USERS = 16
# A web process the probe's load never reached still gets a sliver of the split (every
# share must be above 0): this fraction of the web processes' CPU.
FLOOR = 0.01


def wanted(experiment: Experiment) -> list[str]:
    """The experiment's architectures whose equal-total split the probe measures: those
    with more than one web process, when the experiment asks for probed shares."""
    if experiment.sizing != "equal-total" or experiment.shares != "probe":
        return []
    return [arch for arch in experiment.architectures if len(web_processes(arch)) > 1]


def web_processes(arch: str) -> tuple[str, ...]:
    """The web processes that equal-total splits, by name."""
    return tuple(sizing.shape_of(get_stack(arch, Ports.from_base(DEFAULT_PORT_BASE))).web)


def probe_experiment(experiment: Experiment) -> Experiment:
    """The probe's run: one short repeat per stack, per-process sizing, the same personas
    and settings."""
    users = experiment.users or OPEN_LOOP_USERS
    return dataclasses.replace(
        experiment, sizing="per-process", threads_per_core=None, shares=None, probe_s=None,
        measured_shares=None, repeats=1, warmup_s=WARMUP_S, duration_s=experiment.probe_s,
        users=users, spawn_rate=experiment.spawn_rate or users, arrival_steps=None,
        capacity_share=None)


def shares_from_metrics(metrics_csv: Path, names: tuple[str, ...]) -> dict:
    """{"cpu_seconds": {name: s}, "shares": {name: fraction}} of the web processes
    `names` from a repeat's metrics.csv.

    CPU seconds come from each process's cumulative CPU time at the sampler's first and
    last readings (which bracket the whole Locust run), not from summing per-second
    percentages: on a loaded host a late or missed sample then loses nothing, and a
    probe that ran gets its CPU even when the load gave the sampler few readings.
    Files written before the cumulative column fall back to the percentages."""
    readings = metrics.cpu_readings(metrics_csv)
    if readings:
        first = min(t for _, _, t, _ in readings)
        last = max(t for _, _, t, _ in readings)
        used = windows.cpu_seconds(readings, first, last)
        seconds = {name: round(used.get(name, 0.0), 3) for name in names}
    else:
        percent = defaultdict(float)
        with open(metrics_csv, newline="") as f:
            for row in csv.DictReader(f):
                if row["component"] in names and row["cpu_percent"]:
                    percent[row["component"]] += float(row["cpu_percent"])
        # cpu_percent covers the sampler's one-second interval.
        seconds = {name: round(percent[name] / 100, 3) for name in names}
    total = sum(seconds.values())
    if total <= 0:
        raise LabError(f"the probe run measured no CPU in the web processes "
                       f"({', '.join(names)}); read {metrics_csv}")
    floored = {name: max(value, FLOOR * total) for name, value in seconds.items()}
    whole = sum(floored.values())
    return {"cpu_seconds": seconds,
            "shares": {name: round(value / whole, 4) for name, value in floored.items()}}


def measure(experiment: Experiment, run_dir: Path, bench_args: dict, echo) -> dict:
    """Run the probe of every wanted architecture into run_dir/probe/; the record the
    manifest keeps ({"probe_s", "users", "architectures": {arch: shares...}}).
    `bench_args` are Bench's other arguments (budget, platform, echo, console)."""
    archs = wanted(experiment)
    probe = probe_experiment(experiment)
    folder = run_dir / FOLDER
    record = {"probe_s": probe.duration_s, "warmup_s": probe.warmup_s, "users": probe.users,
              "sizing": "per-process", "architectures": {}}
    bench = Bench(probe, folder, echo=echo, **bench_args)
    for arch in archs:
        echo(f"probe: {arch} for {probe.duration_s} s under per-process sizing, to measure "
             "each web process's share of CPU for equal-total")
        bench.run_one(arch, 1)
        measured = shares_from_metrics(folder / arch / "1" / "metrics.csv",
                                       web_processes(arch))
        record["architectures"][arch] = measured | {"repeat": f"{FOLDER}/{arch}/1"}
        split = ", ".join(f"{name} {share:.0%}" for name, share in
                          sorted(measured["shares"].items(), key=lambda kv: -kv[1]))
        echo(f"probe: {arch} shares: {split}")
    (folder / "shares.json").write_text(json.dumps(record, indent=2) + "\n")
    return record


def with_shares(experiment: Experiment, record: dict) -> Experiment:
    """The experiment with the probe's shares, as `up` splits the threads by them."""
    return dataclasses.replace(experiment, measured_shares={
        arch: measured["shares"] for arch, measured in record["architectures"].items()})
