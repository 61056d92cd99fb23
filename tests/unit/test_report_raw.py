"""A broken or missing raw file stops the report with a LabError naming the file."""

import dataclasses
import json
import re
import shutil
import sys
from pathlib import Path

import pytest

from archlab import formats
from archlab.cli import main
from archlab.errors import LabError
from archlab.report import build
from archlab.report.raw import read_run
from archlab.report.summary import calibration_rows, component_use

FIXTURE = Path(__file__).parents[1] / "fixtures" / "run"


@pytest.fixture
def run_dir(tmp_path):
    shutil.copytree(FIXTURE, tmp_path / "run")
    return tmp_path / "run"


@pytest.mark.parametrize(("name", "content"), [
    ("locust.json", "{not json"),
    ("locust.json", '{"name": "not a list"}'),
    ("run.json", "[]"),
    ("metrics.csv", "elapsed_s,component\n1,monolith\n"),
    ("metrics.csv", "elapsed_s,component,pid,cpu_percent,rss_bytes,pss_bytes\n"
                    "one,monolith,1,2,3,4\n"),
    ("locust_stats_history.csv", "Timestamp,Name\n"),
    ("checkouts.jsonl", '{"order_id": 1}\n{broken\n'),
])
def test_broken_raw_file_is_named(run_dir, name, content):
    path = run_dir / "monolith" / "1" / name
    path.write_text(content)
    with pytest.raises(LabError, match=re.escape(str(path))):
        build(run_dir)
    assert not (run_dir / "report.html").exists()


def test_missing_raw_file_of_a_finished_repeat_is_named(run_dir):
    (run_dir / "microservices" / "2" / "locust_failures.csv").unlink()
    with pytest.raises(LabError, match=r"microservices/2/locust_failures.csv: missing"):
        read_run(run_dir)


def test_missing_manifest_is_named(run_dir):
    (run_dir / "manifest.json").unlink()
    with pytest.raises(LabError, match=r"manifest.json: missing"):
        read_run(run_dir)


def test_unfinished_repeat_is_missing_not_broken(run_dir):
    (run_dir / "monolith" / "2" / "run.json").unlink()
    run = read_run(run_dir)
    assert [(m.arch, m.repeat) for m in run.missing] == [("monolith", 2)]
    assert [(r.arch, r.repeat) for r in run.repeats] == [
        ("monolith", 1), ("microservices", 1), ("microservices", 2)]


def test_aborted_repeat_says_why(run_dir):
    (run_dir / "microservices" / "1" / "run.json").rename(
        run_dir / "microservices" / "1" / "aborted.json")
    (run_dir / "microservices" / "1" / "aborted.json").write_text(
        '{"status": "failed", "error": "StackNotReady: gateway did not start"}')
    run = read_run(run_dir)
    assert [(m.arch, m.repeat, m.reason) for m in run.missing] == [
        ("microservices", 1, "failed: StackNotReady: gateway did not start")]


def test_cli_prints_the_error_without_a_traceback(run_dir, monkeypatch, capsys):
    (run_dir / "monolith" / "1" / "locust.json").write_text("")
    monkeypatch.setattr(sys, "argv", ["archlab", "report", str(run_dir)])
    with pytest.raises(SystemExit) as exit_:
        main()
    err = capsys.readouterr().err
    assert exit_.value.code == 2
    assert "monolith/1/locust.json" in err and "Traceback" not in err


def test_rss_when_pss_is_not_reported_and_late_samples_averaged(run_dir):
    repeat = read_run(run_dir).repeats[0]
    mib = 2**20
    rows = [{"t": t, "component": c, "pid": pid, "cpu": cpu, "rss": rss * mib, "pss": None}
            for t, c, pid, cpu, rss in [
                (1.0, "monolith", "1", 50.0, 100), (2.0, "monolith", "1", 70.0, 100),
                # a late sample lands in the same second: averaged, not added
                (2.4, "monolith", "1", 90.0, 100),
                (1.0, "postgres", "2", 10.0, 40), (2.0, "postgres", "2", 30.0, 40),
                (11.0, "postgres", "2", 400.0, 40)]]  # after the measured phase: ignored
    use = component_use(dataclasses.replace(repeat, metrics=rows), "rss")
    assert use["monolith"] == pytest.approx({"cpu_percent": 65.0, "memory_mib": 100.0})
    assert use["postgres"] == pytest.approx({"cpu_percent": 20.0, "memory_mib": 40.0})


def test_first_calibration_shape_is_understood():
    old = {"endpoint": "GET /api/products/{id} (random ids)",
           "medians": {"monolith-floor": {"rps": 800.0, "p50_ms": 10.0, "p99_ms": 40.0},
                       "monolith": {"rps": 600.0, "p50_ms": 12.0, "p99_ms": 50.0}},
           "ratio_to_floor": {"monolith": {"rps": 0.75, "p50": 0.83, "p99": 0.8}}}
    assert calibration_rows(old) == [{
        "arch": "monolith", "endpoint": "GET /api/products/{id} (random ids)",
        "app_rps": 600.0, "floor_rps": 800.0, "rps_ratio": 0.75, "app_p50_ms": 12.0,
        "floor_p50_ms": 10.0, "app_p99_ms": 50.0, "floor_p99_ms": 40.0}]


def rewrite(path: Path, **fields) -> None:
    """A JSON file of the run with `fields` set at its top level."""
    path.write_text(json.dumps(json.loads(path.read_text()) | fields, indent=2))


NEWER = (r"made by a newer archlab \(format 99; this one reads up to {}\): update "
         r"archlab to rebuild this report")


def test_the_fixture_is_unversioned_and_reads_as_format_1(run_dir):
    files = [run_dir / "manifest.json", *run_dir.glob("*/*/run.json")]
    assert len(files) == 5
    assert all("format" not in json.loads(f.read_text()) for f in files)
    run = read_run(run_dir)
    assert run.format == 1 and {r.format for r in run.repeats} == {1}
    assert build(run_dir) == run_dir / "report.html"


def test_the_current_formats_are_read(run_dir):
    rewrite(run_dir / "manifest.json", format=formats.MANIFEST_FORMAT)
    for path in run_dir.glob("*/*/run.json"):
        rewrite(path, format=formats.RUN_FORMAT)
    run = read_run(run_dir)
    assert run.format == formats.MANIFEST_FORMAT
    assert {r.format for r in run.repeats} == {formats.RUN_FORMAT}
    assert build(run_dir).is_file()


def test_a_newer_manifest_is_refused_before_its_fields_are_read(run_dir):
    path = run_dir / "manifest.json"
    # a newer layout: the fields format 2 reads are gone
    path.write_text(json.dumps({"format": 99, "plan": {"monolith": [1, 2]}}))
    with pytest.raises(formats.NewerFormat,
                       match=re.escape(str(path)) + ": " + NEWER.format(
                           formats.MANIFEST_FORMAT)):
        build(run_dir)
    assert not (run_dir / "summary.json").exists()


def test_a_newer_run_json_is_refused_before_its_fields_are_read(run_dir):
    path = run_dir / "microservices" / "2" / "run.json"
    path.write_text(json.dumps({"format": 99, "measured": {"seconds": 10}}))
    with pytest.raises(formats.NewerFormat,
                       match=re.escape(str(path)) + ": " + NEWER.format(formats.RUN_FORMAT)):
        build(run_dir)
    assert not (run_dir / "summary.json").exists()


def test_a_damaged_format_is_named(run_dir):
    path = run_dir / "monolith" / "1" / "run.json"
    rewrite(path, format="2")
    with pytest.raises(LabError, match=re.escape(f"{path}: 'format' must be a whole number")):
        read_run(run_dir)


def test_the_cli_refuses_a_newer_run_without_a_traceback(run_dir, monkeypatch, capsys):
    rewrite(run_dir / "manifest.json", format=99)
    monkeypatch.setattr(sys, "argv", ["archlab", "report", str(run_dir)])
    with pytest.raises(SystemExit) as exit_:
        main()
    err = capsys.readouterr().err
    assert exit_.value.code == 2 and "Traceback" not in err
    assert "made by a newer archlab (format 99; this one reads up to 2)" in err


def test_a_folder_that_is_not_a_run_folder_is_named(tmp_path, monkeypatch, capsys):
    (tmp_path / "notes").mkdir()
    monkeypatch.setattr(sys, "argv", ["archlab", "report", str(tmp_path)])
    with pytest.raises(SystemExit) as exit_:
        main()
    err = " ".join(capsys.readouterr().err.split())
    assert exit_.value.code == 2 and "Traceback" not in err
    assert (f"{tmp_path} is not a run folder (no manifest.json): give a folder made by "
            "`archlab bench`") in err
    assert "never edited" not in err


def test_the_results_folder_points_at_a_run_in_it(run_dir):
    with pytest.raises(LabError, match=re.escape(
            f"{run_dir.parent} is not a run folder (no manifest.json): give a folder made "
            f"by `archlab bench`, e.g. {run_dir}")):
        read_run(run_dir.parent)


def test_degraded_answers_are_counted_and_not_recorded_in_older_runs(run_dir):
    assert {r.degraded for r in read_run(run_dir).repeats} == {None}
    (run_dir / "monolith" / "2" / "degraded.jsonl").write_text(
        '{"name": "/products/[id]", "what": "stock unknown", "ts": 1}\n\n'
        '{"name": "/products/[id]", "what": "stock unknown", "ts": 2}\n')
    (run_dir / "microservices" / "1" / "degraded.jsonl").write_text("")
    degraded = {(r.arch, r.repeat): r.degraded for r in read_run(run_dir).repeats}
    assert degraded == {("monolith", 1): None, ("monolith", 2): 2, ("microservices", 1): 0,
                        ("microservices", 2): None}


def test_a_broken_degraded_log_is_named(run_dir):
    path = run_dir / "monolith" / "1" / "degraded.jsonl"
    path.write_text("{broken\n")
    with pytest.raises(LabError, match=re.escape(f"{path}: line 1 is not JSON")):
        read_run(run_dir)
