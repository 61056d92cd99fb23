"""The measurement's own floor in the report: the open phase manifest's "floor" record
(archlab/bench/floor.py) said as a paragraph of the open-loop section, its failure as a
warning, and nothing for a run from before the floor was measured."""

import json
import shutil

from archlab.report import content, floor
from archlab.report.raw import read_run
from archlab.report.summary import build_summary
from tests.unit.test_report_openloop import FIXTURE, open_folder, summary_of

RECORD = {"app": "archlab.floors.apps.monolith:app", "endpoint": "GET /readyz",
          "folder": "floor", "steps": [[20.0, 5.0]], "max_in_flight": 64, "warmup_s": 2,
          "error": None, "port": 28109, "web_workers": 1, "web_threads": 8,
          "corrected": {"p50_ms": 1.234, "p95_ms": 2.5, "p99_ms": 12.75},
          "uncorrected": {"p50_ms": 1.1, "p95_ms": 2.2, "p99_ms": 9.9},
          "intended": 100, "completed": 100, "unfinished": 0, "behind_schedule": False,
          "failures": 0}


def test_the_floor_is_said_with_its_corrected_percentiles():
    [(text, kind)] = floor.paragraphs(RECORD)
    assert kind == "text"
    assert text.startswith("The measurement's own floor: the same schedule against a null "
                           "endpoint")
    assert "answered in p50 1.23 / p95 2.50 / p99 12.8 ms (corrected" in text
    assert "100 of 100 arrivals answered" in text
    assert text.endswith("latency differences smaller than this are the generator's and "
                         "the network stack's, not the architectures'.")


def test_what_makes_the_floor_less_than_a_floor_is_a_warning():
    record = RECORD | {"behind_schedule": True, "completed": 97, "unfinished": 3,
                       "failures": 2}
    said = floor.paragraphs(record)
    assert [kind for _, kind in said] == ["text", "warning", "warning", "warning"]
    warnings = " ".join(text for text, _ in said[1:])
    assert "fell behind its schedule" in warnings
    assert "3 arrivals unanswered" in warnings
    assert "failed 2 requests" in warnings


def test_a_failed_floor_is_a_warning_with_its_error_and_no_figures():
    record = {k: v for k, v in RECORD.items() if k not in ("corrected", "uncorrected")}
    record["error"] = "LabError: port 28109 is already in use\nmore lines of a log"
    [(text, kind)] = floor.paragraphs(record)
    assert kind == "warning"
    assert "was not measured" in text and "port 28109 is already in use" in text
    assert "more lines" not in text


def test_a_run_without_a_floor_says_nothing_about_it():
    assert floor.paragraphs(None) == []


def test_the_summary_carries_the_manifests_floor(tmp_path):
    folder = tmp_path / "run"
    shutil.copytree(FIXTURE, folder)
    assert build_summary(read_run(folder))["floor"] is None  # a run from before
    manifest = json.loads((folder / "manifest.json").read_text())
    (folder / "manifest.json").write_text(json.dumps(manifest | {"floor": RECORD}))
    assert build_summary(read_run(folder))["floor"] == RECORD


def open_loop_section(summary: dict):
    return next(s for s in content.document(summary, set()).sections if s.id == "open-loop")


def test_the_open_loop_section_states_the_floor_from_the_manifest(tmp_path):
    folder = open_folder(tmp_path, {"monolith": [10.0, 20.0], "microservices": [30.0, 40.0]})
    manifest = json.loads((folder / "manifest.json").read_text())
    (folder / "manifest.json").write_text(json.dumps(manifest | {"floor": RECORD}))
    summary = summary_of(folder)
    assert summary["floor"] == RECORD
    texts = [getattr(block, "text", "") for block in open_loop_section(summary).blocks]
    assert floor.text(RECORD) in texts


def test_an_old_run_without_a_floor_still_has_its_open_loop_section(tmp_path):
    folder = open_folder(tmp_path, {"monolith": [10.0, 20.0], "microservices": [30.0, 40.0]})
    summary = summary_of(folder)
    assert summary["floor"] is None
    texts = [getattr(block, "text", "") for block in open_loop_section(summary).blocks]
    assert texts and not any("own floor" in text for text in texts)
