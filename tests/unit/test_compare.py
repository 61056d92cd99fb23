"""`archlab compare`: run folders made from tests/fixtures/run (a 2 x 2 run: monolith
about 100 req/s, microservices about 50) and altered copies of it."""

import json
import shutil
import sys
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from archlab import compare
from archlab.cli import build_cli, main
from archlab.errors import LabError
from archlab.report.raw import read_run
from archlab.report.summary import build_summary

FIXTURE = Path(__file__).parents[1] / "fixtures" / "run"


def copy_run(tmp_path: Path, name: str) -> Path:
    """A copy of the fixture run folder (raw files only, no summary.json)."""
    folder = tmp_path / name
    shutil.copytree(FIXTURE, folder)
    return folder


def edit_manifest(folder: Path, edit) -> None:
    """Change a copied run's manifest.json in place with `edit(manifest)`."""
    path = folder / "manifest.json"
    manifest = json.loads(path.read_text())
    edit(manifest)
    path.write_text(json.dumps(manifest, indent=2))


def write_summary(folder: Path, edit=None) -> dict:
    """Build the run's summary as `archlab report` would, alter it with `edit(summary)`
    and write it as the folder's summary.json (which compare then reads)."""
    summary = build_summary(read_run(folder))
    if edit:
        edit(summary)
    (folder / "summary.json").write_text(json.dumps(summary))
    return summary


def double_goodput(summary: dict) -> None:
    for arch in summary["arch"].values():
        for rep in arch["repeats"]:
            rep["goodput_rps"] *= 2


@pytest.fixture
def runs(tmp_path):
    return copy_run(tmp_path, "a"), copy_run(tmp_path, "b")


def rows_of(comparison: dict, metric: str) -> list[dict]:
    return [r for r in comparison["metrics"] if r["metric"] == metric]


def test_a_run_against_its_copy_differs_in_nothing(runs):
    result = compare.compare_folders(*runs)
    assert result["architectures"] == ["monolith", "microservices"]
    closed = [m for m in compare.METRICS if m.phase == "closed"]
    assert len(result["metrics"]) == 2 * len(closed)  # the fixture has no open loop
    for row in result["metrics"]:
        assert f"{row['ratio']['value']:.2f}" == "1.00"
        assert row["verdict"].startswith("not distinguishable in these runs (1.00x, 95% CI")
        assert row["finding"] is None and row["better"] is None
    assert not any(f.startswith("different") for f in result["flags"])
    assert [r["agree"] for r in result["between"]["rows"]] == [True] * 6


def test_goodput_doubled_in_every_repeat_is_higher_in_b(runs):
    a, b = runs
    write_summary(b, double_goodput)
    result = compare.compare_folders(a, b)
    for row in rows_of(result, "goodput_rps"):
        r = row["ratio"]
        assert r["value"] == pytest.approx(2.0)
        assert 1 < r["lo"] < 2 < r["hi"]
        assert row["verdict"] == f"higher in B: 2.00x (95% CI {r['lo']:.2f}-{r['hi']:.2f}x)"
        assert row["finding"] == "higher" and row["better"] is True
    # The other figures were left alone.
    assert all(r["finding"] is None for r in rows_of(result, "throughput_rps"))


def test_halved_throughput_is_lower_in_b_and_worse(runs):
    a, b = runs

    def halve(summary):
        for arch in summary["arch"].values():
            for rep in arch["repeats"]:
                rep["throughput_rps"] /= 2

    write_summary(b, halve)
    row = rows_of(compare.compare_folders(a, b), "throughput_rps")[0]
    assert row["verdict"].startswith("lower in B: 0.50x (95% CI")
    assert row["ratio"]["hi"] < 1 and row["better"] is False


def test_a_change_within_the_scatter_is_not_distinguishable(runs):
    a, b = runs

    def scatter(summary):
        # B's repeats 30% and 5% above A's: a mean 17% higher, but 2 repeats this
        # scattered cannot tell it from no change.
        for rep, factor in zip(summary["arch"]["monolith"]["repeats"], (1.3, 1.05),
                               strict=True):
            rep["goodput_rps"] *= factor

    write_summary(b, scatter)
    row = rows_of(compare.compare_folders(a, b), "goodput_rps")[0]
    r = row["ratio"]
    assert r["value"] > 1.1 and r["lo"] < 1 < r["hi"]
    assert row["verdict"].startswith(f"not distinguishable in these runs ({r['value']:.2f}x")
    assert row["finding"] is None and row["better"] is None


def test_an_interval_that_includes_1_is_no_finding():
    wide = {"value": 1.3, "lo": 0.9, "hi": 1.9, "bounded": True}
    assert compare.verdict(wide, 3, 3) == (
        "not distinguishable in these runs (1.30x, 95% CI 0.90-1.90x)")
    assert compare.finding(wide) is None


def test_a_single_repeat_gives_the_value_and_no_interval(runs):
    a, b = runs

    def one_repeat(summary):
        for arch in summary["arch"].values():
            arch["repeats"] = arch["repeats"][:1]
            arch["n"] = 1

    write_summary(b, one_repeat)
    result = compare.compare_folders(a, b)
    row = rows_of(result, "goodput_rps")[0]
    # B's one repeat (99.6) over the geometric mean of A's two (99.6 and 101.8).
    assert row["verdict"] == "0.99x; no interval can be given: a run has a single repeat"
    assert row["b"]["ci95"] is None and row["finding"] is None
    assert compare.figure_text(row["b"], "req/s") == "99.6 [no interval]"


def test_a_figure_at_zero_in_both_runs_is_no_ratio(runs):
    a, b = runs

    def no_errors(summary):
        for arch in summary["arch"].values():
            for rep in arch["repeats"]:
                rep["error_rate"] = 0.0

    write_summary(a, no_errors)
    write_summary(b, no_errors)
    row = rows_of(compare.compare_folders(a, b), "error_rate")[0]
    assert row["verdict"] == "zero in both runs" and row["ratio"] is None


def test_another_load_is_refused_naming_the_field(runs):
    a, b = runs
    edit_manifest(b, lambda m: m["config"].update(users=40))
    with pytest.raises(LabError, match="ran different experiments") as refused:
        compare.compare_folders(a, b)
    assert "users: 20 in A, 40 in B" in str(refused.value)


def test_a_key_only_one_run_has_is_a_difference(runs):
    a, b = runs
    edit_manifest(b, lambda m: m["config"].update(arrival_rate=50))
    with pytest.raises(LabError, match="arrival_rate: absent in A, 50 in B"):
        compare.compare_folders(a, b)


def test_repeats_and_names_may_differ(runs):
    a, b = runs
    edit_manifest(b, lambda m: m["config"].update(repeats=5, name="after",
                                                  description="after the change"))
    result = compare.compare_folders(a, b)
    assert any(n.startswith("repeats differ (2 in A, 5 in B): allowed") for n in result["notes"])


def test_another_machine_is_flagged_and_still_compared(runs):
    a, b = runs
    edit_manifest(b, lambda m: m["machine"].update(hostname="other", cpu_count=8))
    result = compare.compare_folders(a, b)
    [flag] = [f for f in result["flags"] if f.startswith("different machines")]
    assert "host fixture in A, other in B" in flag and "CPU count 2 in A, 8 in B" in flag
    assert "differ by the machine as well as by the change" in flag
    assert result["metrics"]


def test_another_postgres_version_is_flagged(runs):
    a, b = runs
    edit_manifest(b, lambda m: m["machine"].update(postgres="postgres (PostgreSQL) 18.1"))
    result = compare.compare_folders(a, b)
    [flag] = [f for f in result["flags"] if "PostgreSQL" in f]
    assert flag.startswith("different PostgreSQL versions (15.20 in A, 18.1 in B)")


def test_the_server_that_answered_counts_over_the_binaries(runs):
    a, b = runs
    server = {"arch": "monolith", "server_version": {
        "version": "PostgreSQL 15.20 on x86_64-pc-linux-gnu, compiled by gcc"}}
    # B's binaries say 18.1, but the server its stacks ran on answered 15.20, as A's.
    edit_manifest(b, lambda m: m.update(postgres_servers=[server]) or
                  m["machine"].update(postgres="postgres (PostgreSQL) 18.1"))
    assert not [f for f in compare.compare_folders(a, b)["flags"] if "PostgreSQL" in f]


def test_another_core_budget_is_flagged(runs):
    a, b = runs
    edit_manifest(b, lambda m: m["budget"].update(sut_cpus=[0, 1]))
    [flag] = [f for f in compare.compare_folders(a, b)["flags"] if "core budgets" in f]
    assert "sut_cpus [0] in A, [0, 1] in B" in flag


def test_commits_and_dirty_trees_are_shown(runs):
    a, b = runs
    edit_manifest(b, lambda m: m["machine"].update(git_commit="abcdef1234567890",
                                                   git_dirty=True))
    notes = compare.compare_folders(a, b)["notes"]
    assert ("commits: A 7e2e44700000 (clean tree), B abcdef123456 (uncommitted changes)"
            in notes)


def test_only_the_architectures_both_ran_are_compared(runs):
    a, b = runs
    shutil.rmtree(b / "microservices")
    edit_manifest(b, lambda m: m.update(order=[["monolith", 1], ["monolith", 2]]) or
                  m["config"].update(architectures=["monolith"]))
    result = compare.compare_folders(a, b)
    assert result["architectures"] == ["monolith"] and result["only_in_a"] == ["microservices"]
    assert result["between"]["rows"] == [] and "in B" in result["between"]["note"]


def test_between_architecture_ratios_that_do_not_overlap_disagree(runs):
    a, b = runs

    def monolith_faster(summary):
        for rep in summary["arch"]["monolith"]["repeats"]:
            rep["throughput_rps"] *= 3
        summary["ratios"]["throughput"] = {"value": 6.0, "lo": 5.5, "hi": 6.5,
                                           "bounded": True}

    write_summary(b, monolith_faster)
    [row] = [r for r in compare.compare_folders(a, b)["between"]["rows"]
             if r["name"] == "throughput"]
    assert row["agree"] is False and row["text"] == "differ (intervals do not overlap)"


def test_not_a_run_folder_is_a_clear_error(runs, tmp_path):
    (tmp_path / "notes").mkdir()
    with pytest.raises(LabError, match="is not a run folder"):
        compare.compare_folders(runs[0], tmp_path / "notes")


def test_a_run_without_a_completed_repeat_is_refused(runs):
    a, b = runs
    for run_json in b.glob("*/*/run.json"):
        run_json.unlink()
    with pytest.raises(LabError, match="no completed repeat"):
        compare.compare_folders(a, b)


def test_the_same_folder_twice_is_refused(runs):
    a, _ = runs
    with pytest.raises(LabError, match="given twice"):
        compare.compare_folders(a, a / ".." / a.name)


def test_comparing_writes_nothing(runs):
    a, b = runs
    before = sorted(p for p in b.rglob("*"))
    compare.compare_folders(a, b)
    assert sorted(p for p in b.rglob("*")) == before


@click.command(context_settings={"ignore_unknown_options": True})
@click.argument("args", nargs=-1, type=click.UNPROCESSED)
def archlab(args):
    """The real entry point (archlab.cli.main, which turns a LabError into exit 2) as a
    click command, so CliRunner can capture what a user sees."""
    sys.argv = ["archlab", *args]
    main()


def test_cli_prints_the_tables_and_exits_0(runs, monkeypatch):
    monkeypatch.setattr(sys, "argv", sys.argv)  # restored after `archlab` sets it
    a, b = runs
    write_summary(b, double_goodput)
    result = CliRunner().invoke(archlab, ["compare", str(a), str(b)],
                                env={"COLUMNS": "160"})
    assert result.exit_code == 0, result.output
    assert "monolith: run B against run A (A n=2, B n=2)" in result.output
    assert "higher in B: 2.00x (95% CI" in result.output
    assert "not distinguishable in these runs (1.00x" in result.output


def test_cli_json(runs):
    result = CliRunner().invoke(build_cli(), ["compare", "--json", *map(str, runs)])
    assert result.exit_code == 0
    data = json.loads(result.output)
    assert data["method"] == "welch-log-t" and data["architectures"] == [
        "monolith", "microservices"]


@pytest.mark.parametrize("case", ["other users", "not a run folder", "same folder"])
def test_cli_bad_input_exits_2_in_one_line(runs, tmp_path, monkeypatch, case):
    monkeypatch.setattr(sys, "argv", sys.argv)
    a, b = runs
    if case == "other users":
        edit_manifest(b, lambda m: m["config"].update(users=40))
    elif case == "not a run folder":
        b = tmp_path / "empty"
        b.mkdir()
    else:
        b = a
    result = CliRunner().invoke(archlab, ["compare", str(a), str(b)])
    assert result.exit_code == 2
    assert result.stderr.startswith("archlab: ") and result.stderr.count("\n") == 1
    assert "Traceback" not in result.output


def test_open_loop_latencies_are_compared_too(tmp_path):
    from tests.unit.test_report_openloop import FAST, SLOW, open_folder

    a = open_folder(tmp_path / "a", {"monolith": FAST, "microservices": FAST})
    b = open_folder(tmp_path / "b", {"monolith": FAST, "microservices": SLOW})
    result = compare.compare_folders(a, b)
    rows = {(r["arch"], r["metric"]): r for r in result["metrics"]}
    slower = rows[("microservices", "open_loop.corrected_p95_ms")]
    assert slower["finding"] == "higher" and slower["better"] is False
    assert rows[("monolith", "open_loop.corrected_p95_ms")]["finding"] is None


def test_runs_that_differ_only_in_sizing_compare_the_policy(runs):
    a, b = runs
    edit_manifest(b, lambda m: m["config"].update(sizing="equal-total"))
    comparison = compare.compare_folders(a, b)
    assert rows_of(comparison, "goodput_rps")
    assert any("sizing differs (per-process in A, equal-total in B)" in line
               for line in comparison["notes"])
