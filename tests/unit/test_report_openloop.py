"""An open loop in the report: openloop.json read, corrected latencies summarised with
intervals and ratios, the headline and the section that say them, the console lines,
and the published figures beside the run's own. Built on copies of the fixture run
with open-loop records of known latencies."""

import json
import shutil
from pathlib import Path

import pytest

from archlab.errors import LabError
from archlab.report import content, openloop, published
from archlab.report.console import summary_lines
from archlab.report.raw import read_run
from archlab.report.summary import build_summary
from loadtests import latency

FIXTURE = Path(__file__).parent.parent / "fixtures" / "run"


def record(corrected_ms: list[float], uncorrected_ms: list[float], *, behind=False,
           unfinished=0) -> dict:
    """An openloop.json with these latencies: one request per arrival, the difference
    between the two clocks spent as slot wait (or, behind schedule, as the generator's
    lateness), plus `unfinished` arrivals censored at the drain's end."""
    rec = latency.Recorder([(10.0, 10.0)])
    for c, u in zip(corrected_ms, uncorrected_ms, strict=True):
        shift = (c - u) / 1000
        arrival = rec.due(0.0, 0)
        rec.started(arrival, shift if behind else min(shift, 0.00005))
        rec.slotted(arrival, shift)
        rec.request(arrival, "/", u)
        rec.finished(arrival, c / 1000)
    for _ in range(unfinished):
        rec.due(0.0, 0)
    rec.censor(20.0)
    return rec.to_dict(8, complete=True)


def open_folder(tmp_path: Path, latencies: dict[str, list[float]], *, users=None,
                behind=()) -> Path:
    """The fixture run as an open loop: each repeat gets an openloop.json whose
    corrected latencies are `latencies[arch]` scaled by the repeat number (so repeats
    differ), its uncorrected ones a tenth of that."""
    folder = tmp_path / "run"
    shutil.copytree(FIXTURE, folder)
    manifest = json.loads((folder / "manifest.json").read_text())
    manifest["config"].pop("users")
    manifest["config"].pop("spawn_rate")
    manifest["config"] |= {"arrival_rate": 10.0, "max_in_flight": 8}
    (folder / "manifest.json").write_text(json.dumps(manifest))
    for arch, values in latencies.items():
        for repeat in (1, 2):
            rep = folder / arch / str(repeat)
            run = json.loads((rep / "run.json").read_text())
            run["users"] = users
            (rep / "run.json").write_text(json.dumps(run))
            scaled = [v * (1 + 0.05 * repeat) for v in values]
            loop = record(scaled, [v / 10 for v in scaled],
                          behind=(arch, repeat) in behind)
            (rep / "openloop.json").write_text(json.dumps(loop))
    return folder


def summary_of(folder: Path) -> dict:
    return build_summary(read_run(folder))


FAST = [5.0] * 90 + [50.0] * 10
SLOW = [v * 3 for v in FAST]


def test_the_recorder_keeps_both_clocks_and_counts():
    rec = latency.Recorder([(10.0, 1.0)])
    waited = rec.due(0.0, 0)
    rec.started(waited, 0.0)
    rec.slotted(waited, 0.990)  # waited 990 ms for a slot, then 10 ms
    rec.request(waited, "/a", 10.0)
    on_time = rec.due(0.1, 0)
    rec.started(on_time, 0.1)
    rec.slotted(on_time, 0.1)
    rec.request(on_time, "/a", 10.0)
    assert rec.whole.corrected.get_max_value() // 1000 in range(999, 1002)
    assert rec.whole.uncorrected.get_max_value() // 1000 == 10
    assert latency.count_at_or_above(rec.whole.corrected, 500) == 1
    assert latency.count_at_or_above(rec.whole.uncorrected, 500) == 0
    described = latency.describe(rec.whole.corrected)
    assert described["count"] == 2 and described["hdr"]
    assert latency.decode(described["hdr"]).get_total_count() == 2
    assert latency.describe(latency.new_histogram())["p95_ms"] is None


def test_the_schedule_is_evenly_spaced_step_after_step():
    offsets = list(latency.intended_offsets([(10, 2), (20, 1)]))
    assert len(offsets) == 40
    assert offsets[:3] == [0.0, 0.1, 0.2]
    assert offsets[20] == pytest.approx(2.0) and offsets[21] == pytest.approx(2.05)


def test_corrected_latencies_get_estimates_and_ratios(tmp_path):
    s = summary_of(open_folder(tmp_path, {"monolith": FAST, "microservices": SLOW}))
    mono = s["arch"]["monolith"]
    assert mono["stats"]["corrected_p50_ms"]["mean"] == pytest.approx(5.0 * 1.075, rel=0.01)
    assert mono["repeats"][0]["open_loop"]["uncorrected"]["p50_ms"] == pytest.approx(
        0.525, rel=0.01)
    assert mono["corrected_percentiles"][-1][0] == 100
    r = s["ratios"]["corrected_p95"]
    assert r["value"] == pytest.approx(1 / 3, rel=0.01) and r["hi"] < 1
    assert openloop.is_open(s)


def test_an_open_only_run_leads_with_latency_at_equal_offered_load(tmp_path):
    s = summary_of(open_folder(tmp_path, {"monolith": FAST, "microservices": SLOW}))
    lead = content.headline(s)[0]
    assert lead.kind == "lead" and "At the same offered load (10 arrivals/s for 10 s)" in lead.text
    assert "the monolith's p95 response time" in lead.text and "0.33x" in lead.text
    doc = content.document(s, set())
    assert "open-loop" in [section.id for section in doc.sections]
    assert "open loop at 10.0 arrivals/s" in "\n".join(summary_lines(s))


def test_equal_latencies_are_not_a_finding(tmp_path):
    s = summary_of(open_folder(tmp_path, {"monolith": FAST, "microservices": FAST}))
    said = openloop.lead(s)
    assert "not distinguishable in this run" in said and "was" not in said.split("(")[0]


def test_a_generator_behind_its_schedule_is_flagged(tmp_path):
    s = summary_of(open_folder(tmp_path, {"monolith": FAST, "microservices": SLOW},
                               behind={("microservices", 2)}))
    assert s["arch"]["microservices"]["behind_schedule_repeats"] == [2]
    assert any("fell behind its schedule" in w for w in openloop.warnings(s))
    assert any("fell behind its schedule in repeat(s) [2]" in line
               for line in summary_lines(s))
    check = next(x for x in content.document(s, set()).sections if x.id == "generator")
    verdicts = [row[-1] for row in check.blocks[-1].rows]
    assert verdicts.count("BEHIND") == 1 and verdicts.count("ok") == 3


def test_a_closed_run_with_an_open_phase_shows_both(tmp_path):
    closed = tmp_path / "closed"
    shutil.copytree(FIXTURE, closed)
    phase = open_folder(tmp_path, {"monolith": FAST, "microservices": SLOW})
    manifest = json.loads((phase / "manifest.json").read_text())
    manifest |= {"phase": "open", "capacity": {"monolith": 40.0, "microservices": 20.0}}
    (phase / "manifest.json").write_text(json.dumps(manifest))
    shutil.move(phase, closed / "open")
    s = summary_of(closed)
    assert not openloop.is_open(s) and s["open_loop"]["capacity"]["microservices"] == 20.0
    leads = [p.text for p in content.headline(s) if p.kind == "lead"]
    assert len(leads) == 2 and "At the same offered load" in leads[1]
    section = next(x for x in content.document(s, set()).sections if x.id == "open-loop")
    assert "0.5 of the slower one's" in section.blocks[0].text
    assert "then, at equal offered load:" in summary_lines(s)


def test_published_figures_are_quoted_with_this_runs_figure(tmp_path):
    s = summary_of(FIXTURE)
    rows = published.rows(s)
    quotes = " ".join(row[1] for row in rows)
    assert "79.2% lower than the monolithic version" in quotes
    assert "4.22 times more time in the libraries of Node.js" in quotes
    assert all("doi" in row[0] or "http" in row[0] for row in rows)
    ueda = next(row for row in rows if "79.2%" in row[1])
    assert "goodput was" in ueda[3] and "% lower" in ueda[3]
    assert "not stated in the abstract" in ueda[2]


def test_a_claim_says_not_distinguishable_when_the_run_cannot_tell():
    ratios = {"numerator": "monolith", "denominator": "microservices",
              "goodput": {"value": 1.1, "lo": 0.9, "hi": 1.3, "bounded": True}}
    assert published.this_run("single_machine", ratios).startswith(
        "not distinguishable in this run")
    ratios["goodput"] = {"value": 2.0, "lo": 1.8, "hi": 2.2, "bounded": True}
    assert published.this_run("goodput_lower", ratios).startswith(
        "the microservices' goodput was 50.0% lower")


@pytest.mark.parametrize(("data", "words"), [
    ({"format": 2, "sources": []}, "expected format 1"),
    ({"format": 1, "sources": []}, "no sources"),
    ({"format": 1, "sources": [{"id": "x"}]}, "source x lacks citation"),
])
def test_a_broken_published_file_is_refused(data, words):
    with pytest.raises(LabError, match=words):
        published.check(data)
