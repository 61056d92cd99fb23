"""The speed canary in the summary and the report: each repeat's figure on the system's
cores, the run's median over every architecture, the SLOW CPU flag, requests per canary
beside req/s; and a run recorded before the canary."""

import json
import shutil
from pathlib import Path

import pytest

from archlab.report import console, content
from archlab.report.raw import read_run
from archlab.report.summary import build_summary

FIXTURE = Path(__file__).parents[1] / "fixtures" / "run"
# CPU ms on the system's core 0 (before, after); core 1, the generator's, ran slower in
# every repeat and must not count.
CANARY = {("monolith", 1): (200.0, 200.0), ("monolith", 2): (198.0, 202.0),
          ("microservices", 1): (201.0, 199.0), ("microservices", 2): (226.0, 234.0)}


def with_canary(tmp_path: Path) -> Path:
    run_dir = tmp_path / "20261125T184000Z_fixture"
    shutil.copytree(FIXTURE, run_dir)
    for (arch, repeat), (before, after) in CANARY.items():
        path = run_dir / arch / str(repeat) / "run.json"
        run = json.loads(path.read_text())
        run["canary"] = {"iterations": 2_000_000, "sut_cpus": [0], "pinned": True,
                         "before": {"0": before, "1": 400.0},
                         "after": {"0": after, "1": 420.0},
                         "wall_ms": {"before": {"0": before, "1": 400.0},
                                     "after": {"0": after, "1": 420.0}}}
        path.write_text(json.dumps(run))
    return run_dir


@pytest.fixture
def summary(tmp_path):
    return build_summary(read_run(with_canary(tmp_path)))


def texts(blocks) -> str:
    return "\n".join(getattr(b, "text", "") or " ".join(map(str, getattr(b, "rows", [])))
                     for b in blocks)


def test_each_repeat_is_judged_against_the_runs_median_over_every_architecture(summary):
    session = summary["canary"]
    # Repeat figures 200, 200, 200, 230: the median is 200, over both architectures.
    assert session["median_ms"] == 200.0 and session["repeats"] == 4
    assert (session["min_ms"], session["max_ms"]) == (200.0, 230.0)
    assert session["spread_percent"] == pytest.approx(15.0)
    micro = summary["arch"]["microservices"]
    slow = micro["repeats"][1]
    assert slow["canary_ms"] == 230.0 and slow["canary_before_ms"] == 226.0
    assert slow["canary_off"] == pytest.approx(0.15) and slow["slow_cpu"]
    assert micro["slow_cpu_repeats"] == [2]
    assert summary["arch"]["monolith"]["slow_cpu_repeats"] == []
    assert not any(r["slow_cpu"] for r in summary["arch"]["monolith"]["repeats"])


def test_requests_per_canary_is_throughput_times_the_canarys_seconds(summary):
    mono = summary["arch"]["monolith"]
    # 100 and 102 req/s; 0.2 s of canary each: 20 and 20.4 requests per canary.
    assert [r["requests_per_canary"] for r in mono["repeats"]] == \
        pytest.approx([20.0, 20.4])
    est = mono["stats"]["requests_per_canary"]
    assert est["mean"] == pytest.approx(20.2) and est["n"] == 2


def test_the_report_shows_the_canary_flags_it_and_gives_the_spread(summary):
    headline = texts(content.headline(summary))
    assert "microservices repeat 2: the speed canary" in headline
    repeats = content._repeats_table(summary)
    column = repeats.columns.index("canary ms (vs median)")
    cells = [row[column] for row in repeats.rows]
    assert cells == ["200 (+0.0%) ok", "200 (+0.0%) ok", "200 (+0.0%) ok",
                     "230 (+15.0%) SLOW CPU"]
    table = content._summary_table(summary)
    assert [row[0] for row in table.rows][:2] == ["throughput (req/s)",
                                                 "requests per canary"]
    noise = texts(content._host_noise(summary))
    assert "median of 200 ms" in noise and "from 200 to 230 ms" in noise
    assert "spread of 15.0% of the median" in noise
    assert "More than 5% off the median" in noise and "microservices 2 (+15.0%)." in noise
    assert any("speed canary ran more than 5% off the run's median in repeat(s) [2]" in line
               for line in console._flags(summary, "microservices"))
    assert not any("speed canary" in line for line in console._flags(summary, "monolith"))


def test_a_repeat_faster_than_the_median_is_flagged_as_such():
    cell = content.canary_cell({"canary_ms": 180.0, "canary_off": -0.1, "slow_cpu": True})
    assert cell == "180 (-10.0%) FAST CPU"


def test_a_run_recorded_before_the_canary_still_builds_and_says_so(tmp_path):
    run_dir = tmp_path / "old"
    shutil.copytree(FIXTURE, run_dir)
    summary = build_summary(read_run(run_dir))
    assert summary["canary"] is None
    repeats = content._repeats_table(summary)
    column = repeats.columns.index("canary ms (vs median)")
    assert {row[column] for row in repeats.rows} == {"-"}
    assert "requests per canary" not in [row[0] for row in content._summary_table(summary).rows]
    noise = texts(content._host_noise(summary))
    assert "before the lab ran the speed canary" in noise


def test_the_noise_cell_says_which_figure_flagged():
    base = {"unexplained_percent": 12.0, "flagged": True}
    assert content.noise_cell(base) == "12.0% NOISY"
    sut = base | {"sut_unexplained_percent": 19.0, "lab_flagged": False, "sut_flagged": True}
    assert content.noise_cell(sut) == "12.0%, system 19.0% NOISY (system)"
    assert content.noise_verdict(sut) == "NOISY (system's cores)"
    both = sut | {"unexplained_percent": 25.0, "lab_flagged": True}
    assert content.noise_cell(both) == "25.0%, system 19.0% NOISY (both)"
    assert content.noise_verdict(both) == "NOISY (lab's cores and system's cores)"
    quiet = {"unexplained_percent": 2.0, "sut_unexplained_percent": -1.0, "flagged": False}
    assert content.noise_cell(quiet) == "2.00%, system 0.00% ok"
