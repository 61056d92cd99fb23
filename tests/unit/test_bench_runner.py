"""The runner's plain parts: order, Locust's command line and environment, the progress
line's source, the load shapes."""

import contextlib
import io
import json
from pathlib import Path
from types import SimpleNamespace

import pytest
from rich.console import Console

from archlab import bench
from archlab import budget as budgets
from archlab.errors import StackAlreadyRunning
from archlab.experiment import Experiment
from archlab.platforms import processes
from loadtests import shapes

EXPERIMENT = Experiment(
    name="t", path=Path("experiments/t.yaml"), personas={"BrowserUser": 3, "BuyerUser": 1},
    users=16, spawn_rate=8, warmup_s=2, duration_s=5, repeats=2,
    architectures=("monolith", "microservices"), wait_s=(0.0, 0.0))

HEADER = ("Timestamp,User Count,Type,Name,Requests/s,Failures/s,50%,66%,75%,80%,90%,95%,98%,"
          "99%,99.9%,99.99%,100%,Total Request Count,Total Failure Count,"
          "Total Median Response Time,Total Average Response Time,Total Min Response Time,"
          "Total Max Response Time,Total Average Content Size\n")


def history_row(ts: int, name: str, total: int, failures: int = 0, p95: str = "90") -> str:
    return (f"{ts},16,,{name},0.0,0.0,50,60,70,75,80,{p95},100,110,120,130,140,{total},"
            f"{failures},50,55.0,3,140,500\n")


def test_repeats_are_interleaved_and_balanced_so_neither_always_runs_first():
    four = Experiment(**{**EXPERIMENT.__dict__, "repeats": 4})
    assert bench.run_order(four) == [("monolith", 1), ("microservices", 1),
                                     ("microservices", 2), ("monolith", 2),
                                     ("monolith", 3), ("microservices", 3),
                                     ("microservices", 4), ("monolith", 4)]


def test_locust_runs_headless_with_every_raw_file_and_only_the_chosen_personas(tmp_path):
    argv = bench.locust_argv(EXPERIMENT, "http://127.0.0.1:40000", tmp_path, 5)
    assert argv[1:3] == ["-m", "locust"]
    assert argv[-2:] == ["BrowserUser", "BuyerUser"]
    for flag in ("--headless", "--csv-full-history", "--json"):
        assert flag in argv
    assert argv[argv.index("-u") + 1] == "16"
    assert argv[argv.index("-t") + 1] == "5s"
    assert argv[argv.index("--csv") + 1] == str(tmp_path / "locust")


def test_the_locustfile_learns_personas_wait_and_checkout_log(tmp_path):
    env = bench.locust_env(EXPERIMENT, tmp_path, tmp_path / "logins.jsonl",
                           run_id="8000-x", measured=True)
    assert json.loads(env["ARCHLAB_PERSONAS"]) == {"BrowserUser": 3, "BuyerUser": 1}
    assert env["ARCHLAB_DEGRADED_LOG"] == str(tmp_path / "degraded.jsonl")
    assert env["ARCHLAB_WAIT"] == "0"
    assert env["ARCHLAB_CHECKOUT_LOG"] == str(tmp_path / "checkouts.jsonl")
    assert env["ARCHLAB_TOKEN_CACHE"] == str(tmp_path / "logins.jsonl")
    assert "ARCHLAB_SHAPE" not in env


def test_a_wait_range_is_passed_as_min_max():
    assert bench.locust_wait(EXPERIMENT) == "0"
    ranged = Experiment(**{**EXPERIMENT.__dict__, "wait_s": (0.5, 1.5)})
    assert bench.locust_wait(ranged) == "0.5,1.5"


def test_the_history_tail_reads_whole_lines_and_rates_the_last_second(tmp_path):
    path = tmp_path / "locust_stats_history.csv"
    tail = bench.HistoryTail(path)
    assert tail.read().latest == {} and tail.rate() == 0.0  # not written yet
    path.write_text(HEADER + history_row(100, "Aggregated", 0, p95="N/A")
                    + history_row(101, "/", 40) + history_row(101, "Aggregated", 250)
                    + "102,16,,Aggre")  # Locust is half-way through this line
    tail.read()
    assert tail.latest["Total Request Count"] == "250"
    assert tail.rate() == 250.0
    with open(path, "a") as f:
        f.write("gated,0.0,0.0,50,60,70,75,80,95,100,110,120,130,140,520,3,50,55.0,3,140,500\n")
    tail.read()
    assert tail.rate() == 270.0
    assert tail.mean_rate() == 260.0  # (520 - 0) requests over the 2 s since the first row
    text = bench.progress_text("measure", "monolith", 1, 3, 2.0, 5, tail, 21.0)
    assert "260 req/s mean (270 last s)" in text
    assert "p95   95 ms" in text and "errors 3" in text
    assert "1/3" in text and "gen 21%" in text


def test_a_stage_table_is_followed_then_ends():
    stages = shapes.SHAPES["spike"]
    assert shapes.total_seconds(stages) == 30
    assert shapes.stage_at(stages, 0) == stages[0]
    assert shapes.stage_at(stages, 12).users == 120
    assert shapes.stage_at(stages, 29.9) == stages[2]
    assert shapes.stage_at(stages, 30) is None


def test_locust_carries_the_stacks_run_id_so_archlab_down_stops_it(tmp_path):
    # `archlab down` ends every process whose environment has the stack's run id: a
    # Locust left behind by a killed bench must be one of them.
    env = bench.locust_env(EXPERIMENT, tmp_path, tmp_path / "logins.jsonl",
                           run_id="8000-20261127T000000Z-abc", measured=False)
    assert env[processes.RUN_ID_VAR] == "8000-20261127T000000Z-abc"


class RefusingPlatform:
    """A platform whose port base already holds the user's stack."""

    ports = SimpleNamespace(base=8000)
    logs_dir = Path("/nonexistent")

    def __init__(self):
        self.downs = 0

    def running(self) -> bool:
        return True

    def condition(self) -> str:
        return "running"

    def up(self, arch, settings=None, sizing=None):
        raise StackAlreadyRunning("a monolith stack already runs at port base 8000")

    def down(self):
        self.downs += 1
        return SimpleNamespace(was_running=True, leftovers=[])


def test_the_bench_never_stops_a_stack_it_did_not_start(tmp_path):
    platform = RefusingPlatform()
    with pytest.raises(StackAlreadyRunning):
        bench.refuse_if_busy(platform)
    runner = bench.Bench(EXPERIMENT, tmp_path, budgets.plan(), platform, lambda text: None,
                         Console(file=io.StringIO()))
    with pytest.raises(StackAlreadyRunning):
        runner.run_one("monolith", 1)
    assert platform.downs == 0
    aborted = json.loads((tmp_path / "monolith" / "1" / "aborted.json").read_text())
    assert aborted["status"] == "failed" and "already runs" in aborted["error"]


class IdlePlatform:
    """A platform whose stack comes up at once and does nothing: the runner's order of
    steps is all there is to see."""

    ports = SimpleNamespace(base=8000)
    logs_dir = Path("/nonexistent")

    def __init__(self, state_dir: Path, steps: list[str]):
        self.state_dir, self.steps = state_dir, steps
        (state_dir / "state.json").write_text(json.dumps({"sizing": {}, "settings": {}}))

    def up(self, arch, settings=None, sizing=None):
        self.steps.append("up")
        return SimpleNamespace(base_url="http://127.0.0.1:8000", run_id="8000-x",
                               startup_seconds=1.0, database_server_version=None,
                               state_dir=self.state_dir, admin_token="t")

    def reseed(self):
        self.steps.append("reseed")

    def restock(self, level):
        self.steps.append("restock")

    def status(self):
        return SimpleNamespace(processes=[])

    def down(self):
        self.steps.append("down")
        return SimpleNamespace(was_running=True, leftovers=[])


def test_the_speed_canary_runs_on_every_lab_core_before_the_warm_up_and_after_the_run(
        tmp_path, monkeypatch):
    steps = []
    budget = budgets.Budget(cpus_total=2, generator_cpus=(1,), sut_cpus=(0,),
                            web_workers=1, web_threads=8)
    readings = iter([{"cpu_ms": {"0": 200.0, "1": 210.0}, "wall_ms": {"0": 201.0, "1": 211.0},
                      "pinned": True},
                     {"cpu_ms": {"0": 204.0, "1": 214.0}, "wall_ms": {"0": 205.0, "1": 215.0},
                      "pinned": True}])

    def measure(cpus):
        steps.append(("canary", tuple(cpus)))
        return next(readings)

    monkeypatch.setattr(bench.runner.canary, "measure", measure)
    monkeypatch.setattr(budgets, "system_share", lambda b: contextlib.nullcontext())
    runner = bench.Bench(EXPERIMENT, tmp_path / "run", budget, IdlePlatform(tmp_path, steps),
                         lambda text: None, Console(file=io.StringIO()))
    monkeypatch.setattr(runner, "_warm_up", lambda *a: steps.append("warm-up")
                        or SimpleNamespace(process=SimpleNamespace(returncode=0)))
    monkeypatch.setattr(runner, "_measure", lambda *a: steps.append("measure") or {})
    monkeypatch.setattr(runner, "_stock_min", lambda *a: 5)
    record = runner.run_one("monolith", 1)
    assert steps == ["up", "reseed", "restock", ("canary", (0, 1)), "warm-up", "measure",
                     ("canary", (0, 1)), "down"]
    assert record["canary"]["before"] == {"0": 200.0, "1": 210.0}
    assert record["canary"]["after"] == {"0": 204.0, "1": 214.0}
    assert record["canary"]["sut_cpus"] == [0]
    written = json.loads((tmp_path / "run" / "monolith" / "1" / "run.json").read_text())
    assert written["canary"] == record["canary"]
