"""equal-total's probe: which stacks it measures, and the shares it reads off metrics.csv."""

import dataclasses

import pytest

from archlab import experiment, sizing
from archlab.bench import probe
from archlab.config import Ports
from archlab.errors import LabError
from archlab.platforms.local import sizing_plan
from archlab.stacks import get_stack
from tests.unit.test_bench_experiment import VALID, write

HEADER = "elapsed_s,component,pid,cpu_percent,rss_bytes,pss_bytes\n"


def metrics(tmp_path, rows):
    path = tmp_path / "metrics.csv"
    path.write_text(HEADER + "".join(f"{i},{name},1,{cpu},1,1\n"
                                     for i, (name, cpu) in enumerate(rows)))
    return path


def test_shares_are_each_web_process_cpu_over_the_web_processes_total(tmp_path):
    path = metrics(tmp_path, [("gateway", 60), ("gateway", 40), ("catalog", 50),
                              ("catalog", 50), ("postgres", 300), ("orders-worker", 90),
                              ("generator", 80)])
    measured = probe.shares_from_metrics(path, ("gateway", "catalog"))
    # PostgreSQL, the workers and the generator are outside the split.
    assert measured["cpu_seconds"] == {"gateway": 1.0, "catalog": 1.0}
    assert measured["shares"] == {"gateway": 0.5, "catalog": 0.5}


def test_a_process_the_load_never_reached_keeps_a_sliver(tmp_path):
    path = metrics(tmp_path, [("gateway", 99), ("catalog", 0)])
    shares = probe.shares_from_metrics(path, ("gateway", "catalog", "payments"))["shares"]
    assert all(share > 0 for share in shares.values())
    assert shares["gateway"] > 0.97 and sum(shares.values()) == pytest.approx(1, abs=1e-3)


def test_no_web_cpu_at_all_is_refused(tmp_path):
    with pytest.raises(LabError, match="measured no CPU in the web processes"):
        probe.shares_from_metrics(metrics(tmp_path, [("postgres", 50)]), ("gateway",))


def test_only_equal_total_with_probed_shares_probes_and_only_stacks_it_splits(tmp_path):
    base = VALID.replace("architectures: [monolith]", "architectures: [monolith, microservices]")
    assert "microservices" in base
    probed = experiment.load(write(tmp_path, base + "sizing: equal-total\n"))
    # The monolith has one web process: nothing to split, nothing to probe.
    assert probe.wanted(probed) == ["microservices"]
    stated = experiment.load(write(tmp_path, base + "sizing: {policy: equal-total, "
                                                    "shares: default}\n"))
    assert probe.wanted(stated) == []
    assert probe.wanted(experiment.load(write(tmp_path, base))) == []
    run = probe.probe_experiment(probed)
    assert (run.sizing, run.repeats, run.duration_s) == ("per-process", 1, probed.probe_s)


def test_the_plan_splits_by_the_probed_shares_and_says_so():
    stack = get_stack("microservices", Ports.from_base(8000))
    names = probe.web_processes("microservices")
    measured = {name: (0.9 if name == "catalog" else 0.1 / (len(names) - 1)) for name in names}
    choice = dataclasses.replace(
        experiment.Experiment(name="x", path=None, personas={}, users=1, spawn_rate=1,
                              warmup_s=0, duration_s=1, repeats=1,
                              architectures=("microservices",), sizing="equal-total",
                              shares="probe", probe_s=2),
        measured_shares={"microservices": measured}).sizing_choice()
    plan = sizing_plan(stack, 4, choice)
    assert plan.shares_source == "probe"
    assert plan.processes["catalog"].share == pytest.approx(0.9, abs=1e-3)
    default = sizing_plan(stack, 4, {"policy": "equal-total"})
    assert default.shares_source == "default"
    assert default.processes["catalog"].share == sizing.DEFAULT_SHARES["microservices"]["catalog"]
    # More CPU share, more of the threads.
    assert plan.processes["catalog"].total_threads > default.processes["catalog"].total_threads
