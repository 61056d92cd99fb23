"""`archlab bench` end to end: a short real run on both architectures, checked for every
raw file of docs/results-format.md. Runs at a port base of its own (tests/ports.py),
clear of a developer's stack (8000) and of the other test stacks. No timing is asserted.
"""

import csv
import json
import os
import subprocess
import sys

import pytest

from archlab import budget as budgets
from archlab import formats
from archlab.bench import probe
from archlab.commands import bench as bench_command
from archlab.errors import StackAlreadyRunning
from archlab.platforms.local import LocalPlatform
from archlab.stacks import get_stack
from tests import ports

PORT_BASE = ports.BENCH
# Not `arch`: that name is the architecture fixture of tests/conftest.py.
ARCHITECTURES = ("monolith", "microservices")
RAW_FILES = ("run.json", "locust.json", "locust_stats.csv", "locust_stats_history.csv",
             "locust_failures.csv", "locust_exceptions.csv", "metrics.csv", "checkouts.jsonl",
             "degraded.jsonl", "connections.csv", "series.csv", "looplag.json")
WEB_COMPONENTS = {"monolith": {"monolith"},
                  "microservices": {"gateway", "accounts", "catalog", "inventory"}}


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    LocalPlatform(PORT_BASE).down()  # whatever an interrupted run left at this base
    results = tmp_path_factory.mktemp("results")
    return bench_command.run("experiments/baseline.yaml", repeats=1, warmup=2, duration=5,
                             archs=ARCHITECTURES, port_base=PORT_BASE, results_dir=results,
                             echo=print)


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_the_manifest_plans_the_interleaved_order_and_the_budget(run_dir):
    manifest = json.loads((run_dir / "manifest.json").read_text())
    assert manifest["experiment"] == "baseline"
    assert manifest["order"] == [["monolith", 1], ["microservices", 1]]
    assert manifest["format"] == formats.MANIFEST_FORMAT
    # the server each stack really ran on, one entry per stack started
    assert [s["arch"] for s in manifest["postgres_servers"]] == list(ARCHITECTURES)
    assert all("PostgreSQL" in s["server_version"]["version"]
               for s in manifest["postgres_servers"])
    assert manifest["config"]["duration_s"] == 5
    assert {"cpus_total", "generator_cpus", "sut_cpus", "web_workers", "web_threads"} \
        <= manifest["budget"].keys()
    assert manifest["machine"]["cpu_count"] >= 1
    assert not LocalPlatform(PORT_BASE).running()


@pytest.mark.slow
@pytest.mark.timeout(600)
@pytest.mark.parametrize("architecture", ARCHITECTURES)
def test_each_architecture_has_every_raw_file_and_served_without_failures(run_dir,
                                                                         architecture):
    arch = architecture
    folder = run_dir / arch / "1"
    for name in RAW_FILES:
        assert (folder / name).is_file(), f"{arch}: no {name}"
    run = json.loads((folder / "run.json").read_text())
    assert run["status"] == "completed" and run["arch"] == arch and run["repeat"] == 1
    assert run["generator"]["cpu_percent_mean"] is not None
    assert run["stock_min_available"] > 0
    stats = json.loads((folder / "locust.json").read_text())
    assert sum(entry["num_requests"] for entry in stats) > 0
    assert sum(entry["num_failures"] for entry in stats) == 0
    assert (folder / "checkouts.jsonl").read_text() == ""  # browsers do not buy


@pytest.mark.slow
@pytest.mark.timeout(600)
@pytest.mark.parametrize("architecture", ARCHITECTURES)
def test_metrics_cover_the_generator_the_database_and_the_web_processes(run_dir,
                                                                       architecture):
    with open(run_dir / architecture / "1" / "metrics.csv") as f:
        rows = list(csv.DictReader(f))
    assert list(rows[0]) == ["elapsed_s", "t_epoch", "component", "pid", "cpu_percent",
                             "cpu_seconds", "rss_bytes", "pss_bytes"]
    seen = {row["component"] for row in rows}
    assert {"generator", "postgres"} | WEB_COMPONENTS[architecture] <= seen
    assert all(float(row["elapsed_s"]) >= 0 and int(row["rss_bytes"]) > 0 for row in rows)


@pytest.mark.slow
@pytest.mark.timeout(600)
@pytest.mark.parametrize("architecture", ARCHITECTURES)
def test_the_census_counts_what_the_stack_started(run_dir, architecture):
    folder = run_dir / architecture / "1"
    run = json.loads((folder / "run.json").read_text())
    census = run["census"]
    # Derived from the stack's own definition, so adding a service needs no test change.
    stack = get_stack(architecture, LocalPlatform(PORT_BASE).ports)
    web = [p.name for p in stack.processes if "gunicorn" in p.argv[1:3]]
    roles = [p["role"] for p in census["processes"]]
    assert roles.count("web master") == len(web)
    assert roles.count("web worker") == len(web) * run["stack"]["sizing"]["web_workers"]
    assert roles.count("process") == len(stack.processes) - len(web)
    assert all(p["threads"] >= 1 for p in census["processes"])
    assert census["entrypoint"] == stack.entrypoint
    lines = census["access_log_lines"]
    served = sum(e["num_requests"] for e in json.loads((folder / "locust.json").read_text()))
    # the entry point logged the measured requests (the count starts a moment late)
    assert 0 < lines[stack.entrypoint] <= served
    if architecture == "monolith":
        assert set(lines) == {"monolith"}
    else:
        assert {"catalog", "inventory"} <= set(lines)
    assert run["host_cpu"]["cpus"] and run["host_cpu"]["known_percent"] > 0
    with open(folder / "connections.csv") as f:
        rows = list(csv.DictReader(f))
    assert {r["database"] for r in rows} == {d.name for d in stack.databases}
    assert max(int(r["open"]) for r in rows) >= 1


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_the_summary_has_the_held_equal_figures_goodput_and_noise(run_dir):
    summary = json.loads((run_dir / "summary.json").read_text())
    mono, micro = (summary["arch"][a] for a in ARCHITECTURES)
    assert mono["held"]["hops_per_request"] == [1.0, 1.0]
    assert micro["held"]["hops_per_request"][0] > 1.0
    assert micro["held"]["processes"][0] > mono["held"]["processes"][0]
    assert summary["ratios"]["goodput"]["value"] > 0
    assert mono["degraded"] == 0
    assert all(r["host_cpu"] is not None for a in (mono, micro) for r in a["repeats"])


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_the_open_loop_follows_at_half_the_slower_capacity(run_dir):
    manifest = json.loads((run_dir / "open" / "manifest.json").read_text())
    assert manifest["phase"] == "open" and set(manifest["capacity"]) == set(ARCHITECTURES)
    rate = manifest["config"]["arrival_rate"]
    assert rate == round(0.5 * min(manifest["capacity"].values()), 1) > 0
    for arch in ARCHITECTURES:
        folder = run_dir / "open" / arch / "1"
        run = json.loads((folder / "run.json").read_text())
        assert run["users"] is None and run["arrival"]["steps"] == [[rate, 5.0]]
        loop = json.loads((folder / "openloop.json").read_text())
        # every request due was sent and answered, and both clocks recorded each one
        assert loop["complete"] and loop["intended"] == round(rate * 5) > 0
        assert loop["completed"] == loop["intended"] and loop["unfinished"] == 0
        assert loop["corrected"]["count"] == loop["uncorrected"]["count"] >= loop["intended"]
        assert (folder / "warmup" / "openloop.json").is_file()
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["open_loop"]["ratios"]["corrected_p95"]["value"] > 0
    assert "At equal offered load" in (run_dir / "report.html").read_text()


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_the_bench_refuses_a_busy_port_base_and_leaves_that_stack_running(tmp_path, run_dir):
    platform = LocalPlatform(PORT_BASE)
    platform.up("monolith")
    try:
        with pytest.raises(StackAlreadyRunning):
            bench_command.run("experiments/baseline.yaml", repeats=1, warmup=0, duration=2,
                              archs=("monolith",), port_base=PORT_BASE, results_dir=tmp_path,
                              echo=print)
        assert platform.running()
        assert list(tmp_path.iterdir()) == []  # no run folder for a run that never began
    finally:
        platform.down()


EQUAL_TOTAL = """
personas: {BrowserUser: 1}
wait_s: 0
users: 8
spawn_rate: 8
sizing: {policy: equal-total, probe_s: 2}
warmup_s: 1
duration_s: 3
repeats: 1
architectures: [monolith, microservices]
"""


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_equal_total_sizing_runs_both_stacks_to_the_same_totals(tmp_path, run_dir):
    experiment_file = tmp_path / "equal-total.yaml"
    experiment_file.write_text(EQUAL_TOTAL)
    folder = bench_command.run(experiment_file, port_base=PORT_BASE,
                               results_dir=tmp_path / "results", echo=print)
    plans, workers = {}, {}
    for architecture in ARCHITECTURES:
        run = json.loads((folder / architecture / "1" / "run.json").read_text())
        assert run["status"] == "completed"
        plan = run["stack"]["sizing"]["plan"]
        assert plan["policy"] == "equal-total"
        plans[architecture] = plan["totals"]
        # What ran is what was planned: each web process's workers, counted by the census.
        census = [p for p in run["census"]["processes"] if p["role"] == "web worker"]
        workers[architecture] = len(census)
        planned = sum(p["workers"] * p["replicas"] for p in plan["processes"].values()
                      if p["kind"] != "background")
        assert workers[architecture] == planned
    assert plans["monolith"]["web_threads"] == plans["microservices"]["web_threads"]
    assert plans["monolith"]["web_connections"] == plans["microservices"]["web_connections"]
    # The microservices' split is the probe's measured shares, not the stated default.
    probed = json.loads((folder / "probe" / "shares.json").read_text())
    assert list(probed["architectures"]) == ["microservices"]
    measured = probed["architectures"]["microservices"]["shares"]
    assert json.loads((folder / "manifest.json").read_text())["probe"] == probed
    run = json.loads((folder / "microservices" / "1" / "run.json").read_text())
    plan = run["stack"]["sizing"]["plan"]
    assert plan["shares_source"] == "probe"
    assert {name: p["share"] for name, p in plan["processes"].items()
            if p["kind"] == "web"} == pytest.approx(measured, abs=1e-3)
    report = (folder / "report.html").read_text()
    assert "equal-total" in report and "max_connections" in report
    assert "shares: probe" in report and "probe run" in report


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_requests_and_cpu_are_taken_over_one_steady_window_the_sampler_covers(run_dir):
    """The sampler's rows bracket the steady window on both sides, CPU and requests are
    counted over exactly that window, the sampler is checked against /proc, and the
    lab's own loop ran on the generator's core, not on the system's."""
    manifest = json.loads((run_dir / "manifest.json").read_text())
    summary = json.loads((run_dir / "summary.json").read_text())
    for architecture in ARCHITECTURES:
        run = json.loads((run_dir / architecture / "1" / "run.json").read_text())
        assert run["lab_cpus"] == manifest["budget"]["generator_cpus"]
        sampler = run["sampler"]
        # Checked against /proc (whether the two agree depends on the host's load: on a
        # machine with two busy loops the sampler can miss short-lived processes, and
        # then says so; the checker's rule has its unit test).
        check = sampler["check"]
        assert check["sampler_percent"] > 0 and check["window_percent"] > 0
        assert isinstance(check["flagged"], bool)
        assert sampler["samples"] > sampler["pss_samples"] >= 1
        figures = summary["arch"][architecture]["repeats"][0]
        window = figures["steady"]
        assert window["source"] == "series"
        assert window["cpu_window"] == {"start_offset_s": 0.0, "end_offset_s": 0.0}
        assert window["sampled"]["start_offset_s"] < 0 < window["sampled"]["end_offset_s"]
        assert figures["generator"]["lag"]["count"] > 0


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_the_probe_measures_the_web_processes_cpu_beside_a_hog_on_the_systems_core(tmp_path):
    """A loaded host: a busy loop pinned to the system under test's core for the whole
    run. The probe's 2-second run must still measure every web process's CPU (it once
    measured none when the lab's loop, sharing that core, noticed Locust's start late)."""
    budget = budgets.plan()
    if not budget.pinned:
        pytest.skip("needs two cores to pin a hog to the system's")
    experiment_file = tmp_path / "equal-total.yaml"
    experiment_file.write_text(EQUAL_TOTAL.replace("[monolith, microservices]",
                                                   "[microservices]"))
    hog = subprocess.Popen([sys.executable, "-c", "while True: pass"],
                           preexec_fn=lambda: os.sched_setaffinity(0, budget.sut_cpus))
    try:
        folder = bench_command.run(experiment_file, port_base=PORT_BASE,
                                   results_dir=tmp_path / "results", echo=print)
    finally:
        hog.kill()
        hog.wait()
    probed = json.loads((folder / "probe" / "shares.json").read_text())
    seconds = probed["architectures"]["microservices"]["cpu_seconds"]
    assert set(seconds) == set(probe.web_processes("microservices"))
    # Every service a browser's request passes through did work.
    assert all(seconds[name] > 0 for name in ("gateway", "catalog", "inventory")), seconds
    # The sampler's readings bracket Locust's requests: its first before the first
    # request, its last after the last, so no part of the run is missed.
    repeat = folder / "probe" / "microservices" / "1"
    with open(repeat / "metrics.csv", newline="") as f:
        sampled = [float(row["t_epoch"]) for row in csv.DictReader(f)]
    entries = json.loads((repeat / "locust.json").read_text())
    assert min(sampled) <= min(e["start_time"] for e in entries if e["start_time"])
    assert max(sampled) >= max(e["last_request_timestamp"] for e in entries
                               if e["last_request_timestamp"])
