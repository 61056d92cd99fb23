"""The open loop's report beyond its headline: format 1 files still read, percentiles
too few samples support greyed with their count, unanswered arrivals as lower bounds,
the parts of the corrected latency and each step of the schedule. Built on copies of
the fixture run with open-loop records of known latencies."""

import json
import shutil
from pathlib import Path

from archlab import report
from archlab.report import content, openloop
from archlab.report.raw import read_run
from archlab.report.summary import build_summary
from loadtests import latency
from tests.unit.test_report_openloop import FAST, SLOW, open_folder, record

FIXTURE = Path(__file__).parent.parent / "fixtures" / "run"


def format_1(corrected_ms: list[float]) -> dict:
    """An openloop.json as the first open loop wrote it: every answer mixed into
    corrected/uncorrected, an absolute lag limit, no arrivals, steps or parts."""
    corrected, uncorrected, lag = (latency.new_histogram() for _ in range(3))
    for ms in corrected_ms:
        latency.record_ms(corrected, ms)
        latency.record_ms(uncorrected, ms / 2)
        latency.record_ms(lag, 0.5)

    def described(h):
        return {k: v for k, v in latency.describe(h).items() if k != "mean_ms"}

    return {"format": 1, "complete": True, "steps": [[10.0, 10.0]], "max_in_flight": 8,
            "started_at_epoch": 0.0, "intended": len(corrected_ms),
            "sent": len(corrected_ms), "completed": len(corrected_ms), "unfinished": 0,
            "scheduler_lag": described(lag), "lag_limit_ms": 10.0,
            "behind_schedule": False, "send_delay": described(lag),
            "corrected": described(corrected), "uncorrected": described(uncorrected),
            "by_name": {}}


def section(summary: dict, name: str):
    return next(s for s in content.document(summary, set()).sections if s.id == name)


def test_a_format_1_open_loop_still_builds_a_report(tmp_path):
    folder = open_folder(tmp_path, {"monolith": FAST, "microservices": SLOW})
    for rep in folder.glob("*/*/openloop.json"):
        rep.write_text(json.dumps(format_1(FAST)))
    s = build_summary(read_run(folder))
    assert s["arch"]["monolith"]["repeats"][0]["open_loop"]["format"] == 1
    assert s["arch"]["monolith"]["open_loop_pooled"]["corrected"]["count"] == 200
    assert any("recorded before the open loop kept failed" in w
               for w in openloop.warnings(s))
    check = section(s, "generator").blocks[-1]
    assert check.rows[0][6] == "10.0 (absolute)"
    html = report.build(folder).read_text()
    assert "At equal offered load" in html


def test_a_newer_open_loop_format_is_refused(tmp_path):
    folder = open_folder(tmp_path, {"monolith": FAST, "microservices": SLOW})
    rep = folder / "monolith" / "1" / "openloop.json"
    rep.write_text(json.dumps(json.loads(rep.read_text()) | {"format": latency.FORMAT + 1}))
    try:
        read_run(folder)
    except Exception as exc:  # archlab.formats.NewerFormat
        assert "made by a newer archlab" in str(exc)
    else:
        raise AssertionError("a newer openloop.json was read")


def test_percentiles_too_few_samples_support_are_greyed_with_their_count(tmp_path):
    # 100 answers a repeat: p50 (20 needed) is supported, p95 (200) and p99 (1,000) not.
    s = build_summary(read_run(open_folder(tmp_path, {"monolith": FAST,
                                                      "microservices": SLOW})))
    support = s["arch"]["monolith"]["repeats"][0]["percentile_support"]
    assert support["corrected_p99_ms"] == {"count": 100, "needed": 1000, "supported": False}
    assert s["arch"]["monolith"]["repeats"][0]["open_loop"]["corrected"]["support"][
        "p50"]["supported"]
    row = openloop.table_rows(s)[0]
    p50, p95, p99 = row[5:8]
    assert not isinstance(p50, openloop.Greyed)
    assert isinstance(p95, openloop.Greyed) and isinstance(p99, openloop.Greyed)
    assert p99.startswith("(") and p99.endswith("n = 100)")


def test_the_closed_loops_percentile_cells_are_greyed_when_a_repeat_had_too_few(tmp_path):
    s = build_summary(read_run(FIXTURE))
    summary_table, repeats_table = section(s, "summary").blocks[:2]
    p99_row = next(row for row in summary_table.rows if row[0] == "p99 (ms)")
    for i, arch in enumerate(s["architectures"]):
        fewest = min(r["requests"] for r in s["arch"][arch]["repeats"])
        assert isinstance(p99_row[1 + 2 * i], openloop.Greyed) == (fewest < 1000)
    assert any(isinstance(cell, openloop.Greyed) for cell in p99_row)
    first = repeats_table.columns.index("p50 ms")
    greyed = [cell for row in repeats_table.rows for cell in row[first:first + 3]
              if isinstance(cell, openloop.Greyed)]
    expected = sum((r["requests"] < 20) + (r["requests"] < 200) + (r["requests"] < 1000)
                   for a in s["arch"].values() for r in a["repeats"])
    assert len(greyed) == expected


def test_greyed_cells_carry_a_css_class_in_html_and_parentheses_in_markdown(tmp_path):
    folder = open_folder(tmp_path, {"monolith": FAST, "microservices": SLOW})
    html = report.build(folder).read_text()
    assert 'class="r nw unsupported">(' in html
    assert "n = 100)" in (folder / "report.md").read_text()


def test_unanswered_arrivals_show_as_lower_bounds(tmp_path):
    folder = open_folder(tmp_path, {"monolith": FAST, "microservices": SLOW})
    rep = folder / "microservices" / "1" / "openloop.json"
    rep.write_text(json.dumps(record(SLOW, [v / 10 for v in SLOW], unfinished=30)))
    s = build_summary(read_run(folder))
    micro = s["arch"]["microservices"]
    assert micro["unfinished_repeats"] == [1]
    assert micro["open_loop_pooled"]["all_arrivals"]["censored"] == 30
    row = next(r for r in openloop.arrival_rows(s) if r[0] == "microservices")
    assert "≥" in row[8] and row[-1] == "30" and row[-2] == "30"
    assert any("lower bound" in w for w in openloop.warnings(s))


def test_the_parts_and_each_step_have_tables(tmp_path):
    folder = open_folder(tmp_path, {"monolith": FAST, "microservices": SLOW})
    for rep in folder.glob("*/*/openloop.json"):
        rec = latency.Recorder([(5.0, 5.0), (10.0, 5.0)])
        for i in range(75):
            arrival = rec.due(i / 10, 0 if i < 25 else 1)
            rec.started(arrival, i / 10 + 0.001)
            rec.slotted(arrival, i / 10 + 0.003)
            rec.request(arrival, "/", 6.0)
            rec.finished(arrival, i / 10 + 0.009)
        rec.censor(20.0)
        rep.write_text(json.dumps(rec.to_dict(8, complete=True)))
    s = build_summary(read_run(folder))
    parts = openloop.parts_rows(s)
    assert [row[0] for row in parts] == ["monolith", "microservices"]
    assert parts[0][1] == "9.00" and parts[0][2].startswith("1.00 (11%)")
    steps = openloop.step_rows(s)
    assert [(row[0], row[1], row[2]) for row in steps][:2] == [
        ("monolith", "1", "5.00"), ("monolith", "2", "10.0")]
    blocks = section(s, "open-loop").blocks
    assert any(getattr(b, "columns", None) == openloop.STEP_COLUMNS for b in blocks)
    charts = report.build(folder).parent / "charts"
    assert (charts / "open_loop_parts.png").is_file()


def test_a_fixture_copy_without_an_open_loop_has_no_pooled_record(tmp_path):
    folder = tmp_path / "run"
    shutil.copytree(FIXTURE, folder)
    s = build_summary(read_run(folder))
    assert all(a["open_loop_pooled"] is None for a in s["arch"].values())
