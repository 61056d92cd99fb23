"""`archlab bench` end to end: a short real run on both architectures, checked for every
raw file of docs/results-format.md. Runs at port base 29000, clear of a developer's
stack (8000) and of the other test stacks (18000-31999). No timing is asserted.
"""

import csv
import json

import pytest

from archlab.commands import bench as bench_command
from archlab.platforms.local import LocalPlatform

PORT_BASE = 29000
# Not `arch`: that name is the architecture fixture of tests/conftest.py.
ARCHITECTURES = ("monolith", "microservices")
RAW_FILES = ("run.json", "locust.json", "locust_stats.csv", "locust_stats_history.csv",
             "locust_failures.csv", "locust_exceptions.csv", "metrics.csv", "checkouts.jsonl")
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
    assert list(rows[0]) == ["elapsed_s", "component", "pid", "cpu_percent", "rss_bytes",
                             "pss_bytes"]
    seen = {row["component"] for row in rows}
    assert {"generator", "postgres"} | WEB_COMPONENTS[architecture] <= seen
    assert all(float(row["elapsed_s"]) >= 0 and int(row["rss_bytes"]) > 0 for row in rows)
