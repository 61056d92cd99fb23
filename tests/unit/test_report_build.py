"""Building a report from tests/fixtures/run: a 2 x 2 run whose figures were chosen by
hand (monolith 1,000 and 1,020 requests in 10 s, microservices 500 and 510)."""

import hashlib
import json
import re
import shutil
from pathlib import Path

import pytest

from archlab import formats, report
from archlab.cli import build_cli
from archlab.commands import report as command

FIXTURE = Path(__file__).parents[1] / "fixtures" / "run"
# The fixture's system has one core: no req/s-per-core chart (test_report_rules.py).
CHARTS = {"throughput", "latency", "latency_percentiles", "throughput_over_time",
          "p95_over_time", "cpu_by_component", "cpu_per_request", "memory_by_component",
          "rps_per_gib", "calibration"}
T1 = 12.706  # t for one degree of freedom (two repeats)


def digests(folder: Path) -> dict[str, str]:
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    run_dir = tmp_path_factory.mktemp("report") / "20261125T184000Z_fixture"
    shutil.copytree(FIXTURE, run_dir)
    before = digests(run_dir)
    html = report.build(run_dir)
    return run_dir, html, before


@pytest.fixture(scope="module")
def summary(built):
    return json.loads((built[0] / "summary.json").read_text())


def test_build_writes_every_derived_file(built):
    run_dir, html, _ = built
    assert html == run_dir / "report.html"
    assert (run_dir / "summary.json").is_file() and (run_dir / "report.md").is_file()
    pngs = {p.stem for p in (run_dir / "charts").glob("*.png")}
    assert pngs == CHARTS
    for name in CHARTS:
        assert (run_dir / "charts" / f"{name}.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_raw_files_are_never_edited(built):
    run_dir, _, before = built
    after = digests(run_dir)
    assert {k: after[k] for k in before} == before == digests(FIXTURE)
    derived = set(after) - set(before)
    assert derived == {"summary.json", "report.html", "report.md"} | {
        f"charts/{name}.png" for name in CHARTS}


def test_summary_structure(summary):
    assert summary["format"] == formats.SUMMARY_FORMAT
    assert summary["architectures"] == ["monolith", "microservices"]
    assert summary["missing"] == []
    for arch in summary["architectures"]:
        a = summary["arch"][arch]
        assert a["n"] == 2 and [r["repeat"] for r in a["repeats"]] == [1, 2]
        assert set(a["stats"]) == {"throughput_rps", "goodput_rps", "p50_ms", "p95_ms",
                                   "p99_ms", "error_rate", "rps_per_core", "rps_per_gib",
                                   "cpu_ms_per_request", "requests_per_canary"}
        # Recorded before the speed canary: its figures are None, nothing is flagged.
        assert a["stats"]["requests_per_canary"] is None and a["slow_cpu_repeats"] == []
        assert all(r["canary_ms"] is None and r["slow_cpu"] is False for r in a["repeats"])
        for est in filter(None, a["stats"].values()):
            assert set(est) == {"mean", "stdev", "n", "half_width", "ci95"}
        assert {"method", "name", "requests", "rps", "p50_ms", "p95_ms", "p99_ms",
                "failures"} == set(a["endpoints"][0])
        repeat = a["repeats"][0]
        assert {"throughput_rps", "p50_ms", "p95_ms", "p99_ms", "errors", "error_rate",
                "conflicts_409", "generator", "components", "timeline", "measured_s",
                "cpu_ms_per_request", "cpu_ms_by_component", "drift",
                "stock_min_available", "restocked_to", "sold_out"} <= set(repeat)
        assert a["drifting_repeats"] == [] and a["sold_out_repeats"] == []
    assert set(summary["ratios"]) == {"numerator", "denominator", "method", "coverage",
                                      "throughput", "goodput", "p50", "p95", "p99",
                                      "cpu_per_request"}
    assert summary["workload"]["personas"] == {"BrowserUser": 3, "BuyerUser": 1}
    assert summary["workload"]["measured_s"] == [10.0, 10.0]
    assert summary["memory_basis"] == "pss" and summary["sut_cores"] == 1
    assert summary["canary"] is None


def test_throughput_and_its_interval(summary):
    mono = summary["arch"]["monolith"]
    assert [r["throughput_rps"] for r in mono["repeats"]] == [100.0, 102.0]
    est = mono["stats"]["throughput_rps"]
    # stdev of [100, 102] is sqrt(2): half-width = t(1) * sqrt(2) / sqrt(2)
    assert est["mean"] == 101.0 and est["n"] == 2
    assert est["half_width"] == pytest.approx(T1)
    assert est["ci95"] == pytest.approx([101 - T1, 101 + T1])
    micro = summary["arch"]["microservices"]["stats"]["throughput_rps"]
    assert micro["ci95"] == pytest.approx([50.5 - T1 / 2, 50.5 + T1 / 2])


def test_percentiles_from_the_merged_endpoint_histograms(summary):
    for arch, expected in (("monolith", (10, 40, 100)), ("microservices", (20, 80, 200))):
        for r in summary["arch"][arch]["repeats"]:
            assert (r["p50_ms"], r["p95_ms"], r["p99_ms"]) == expected
    assert sum(summary["arch"]["monolith"]["latency_histogram"].values()) == 2020


def test_timeline_rates_from_the_growing_request_count(summary):
    timeline = summary["arch"]["monolith"]["repeats"][0]["timeline"]
    # ten history rows 1 s apart, ~100 req/s with a wobble of a few per cent
    assert [row[0] for row in timeline] == [float(s) for s in range(1, 10)]
    assert [row[1] for row in timeline] == [104, 97, 102, 99, 103, 97, 102, 96, 100]
    assert [row[2] for row in timeline][:2] == [43, 38]


def test_errors_and_409s(summary):
    first = summary["arch"]["monolith"]["repeats"][0]
    assert (first["errors"], first["error_rate"], first["conflicts_409"]) == (4, 0.004, 3)
    assert first["checkouts"] == 16
    assert summary["arch"]["monolith"]["overloaded_repeats"] == [2]
    assert summary["arch"]["microservices"]["overloaded_repeats"] == []


def test_ratios_with_welch_interval_on_the_logarithms(summary):
    thr = summary["ratios"]["throughput"]
    assert thr["value"] == pytest.approx(2.0, rel=1e-3)
    assert (thr["lo"], thr["hi"]) == pytest.approx((1.883, 2.124), abs=1e-3)
    assert summary["ratios"]["p95"]["value"] == pytest.approx(0.5)
    coverage = summary["ratios"]["coverage"]
    assert 0.93 <= coverage["3"] <= 0.97 and 0.93 <= coverage["5"] <= 0.97


def test_goodput_leaves_failures_out(summary):
    first = summary["arch"]["monolith"]["repeats"][0]
    # 1,000 requests of which 4 failed, over Locust's 10 s window; no degraded file
    assert first["goodput_rps"] == pytest.approx(first["throughput_rps"] * 996 / 1000)
    assert first["degraded"] is None and summary["arch"]["monolith"]["degraded"] is None


def test_endpoints_pooled_over_repeats(summary):
    products = next(e for e in summary["arch"]["monolith"]["endpoints"]
                    if (e["method"], e["name"]) == ("GET", "/api/products"))
    assert products["requests"] == 1040 and products["rps"] == pytest.approx(52.0)
    orders = next(e for e in summary["arch"]["monolith"]["endpoints"]
                  if e["name"] == "/api/orders")
    assert orders["failures"] == 6 and orders["p99_ms"] == 200


def test_resources_per_component(summary):
    mono = summary["arch"]["monolith"]
    assert mono["components"]["monolith"] == pytest.approx({"cpu_percent": 60.0,
                                                            "memory_mib": 90.0})
    assert mono["components"]["postgres"] == pytest.approx({"cpu_percent": 30.0,
                                                            "memory_mib": 80.0})
    assert set(mono["lab_processes"]) == {"generator", "supervisor"}
    assert mono["repeats"][0]["sut_memory_mib"] == pytest.approx(170.0)
    assert mono["stats"]["rps_per_core"]["mean"] == pytest.approx(101.0)
    assert mono["stats"]["rps_per_gib"]["mean"] == pytest.approx(101 / (170 / 1024))


def test_calibration_is_carried_over(summary):
    rows = summary["calibration"]["rows"]
    assert [(r["arch"], r["endpoint"]) for r in rows] == [
        ("monolith", "product"), ("monolith", "search"), ("microservices", "product"),
        ("microservices", "search")]
    assert rows[0]["rps_ratio"] == pytest.approx(0.9)


def test_html_is_self_contained(built):
    text = built[1].read_text()
    assert not re.search(r"""(?:src|href)\s*=\s*["']?\s*(?:https?:)?//""", text, re.I)
    images = re.findall(r"<img [^>]*src=\"([^\"]*)\"", text)
    assert len(images) == len(CHARTS)
    assert all(src.startswith("data:image/png;base64,") for src in images)
    assert "<style>" in text and "<link" not in text and "<script" not in text


def test_html_says_what_the_data_says(built):
    text = built[1].read_text()
    assert ("The monolith served 2.01x the microservices&#39; goodput (successful, complete "
            "answers per second; 95% CI 1.89–2.15x)") in text
    assert "generator-overloaded" in text and "monolith repeat 2" in text
    for section in ("Summary", "Per endpoint", "Resource use", "Generator self-check",
                    "The equal budget", "Calibration", "How to read this",
                    "Machine, code and configuration"):
        assert f">{section}</h2>" in text
    assert "4.30 for n = 3" in text and "7e2e4470000000000000000000000000000000ab (clean)" in text


def test_markdown_links_the_charts(built):
    run_dir = built[0]
    text = (run_dir / "report.md").read_text()
    links = set(re.findall(r"!\[[^\]]*\]\((charts/[^)]+\.png)\)", text))
    assert links == {f"charts/{name}.png" for name in CHARTS}
    assert all((run_dir / link).is_file() for link in links)
    assert "| ---: |" in text  # numbers right-aligned


def test_missing_repeat_is_reported_not_fatal(tmp_path):
    run_dir = tmp_path / "run"
    shutil.copytree(FIXTURE, run_dir)
    shutil.rmtree(run_dir / "microservices" / "2")
    lines = []
    command.run(run_dir, echo=lines.append)
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["missing"] == [{"arch": "microservices", "repeat": 2,
                                   "reason": "no folder: the repeat did not run"}]
    assert summary["arch"]["microservices"]["n"] == 1
    assert summary["arch"]["microservices"]["stats"]["throughput_rps"]["ci95"] is None
    assert summary["ratios"]["throughput"]["lo"] is None
    assert any("missing: microservices repeat 2" in line for line in lines)
    assert "Missing repeats: microservices 2" in (run_dir / "report.html").read_text()


def test_the_cli_knows_the_command():
    assert "report" in build_cli().commands


def _census(arch: str) -> dict:
    """A census like the bench's: the monolith one master + one worker + its background
    worker; the microservices a master + worker per service; both five postgres."""
    web = ["monolith"] if arch == "monolith" else ["gateway", "catalog", "inventory"]
    procs = []
    for i, name in enumerate(web):
        procs += [{"pid": 100 + 2 * i, "component": name, "role": "web master", "threads": 1},
                  {"pid": 101 + 2 * i, "component": name, "role": "web worker", "threads": 9}]
    procs.append({"pid": 90, "component": f"{web[0]}-worker", "role": "process",
                  "threads": 2})
    procs += [{"pid": 200 + i, "component": "postgres", "role": "postgres", "threads": 1}
              for i in range(5)]
    lines = ({"monolith": 1000} if arch == "monolith" else
             {"gateway": 500, "catalog": 500, "inventory": 400})
    return {"processes": procs, "entrypoint": web[0], "access_log_lines": lines}


def _host(unexplained: float) -> dict:
    return {"seconds": 10.0, "cpus": [0, 1], "busy_percent": {"0": 90.0, "1": 60.0},
            "busy_total_percent": 150.0, "steal_percent": 0.0,
            "known_percent": 150.0 - unexplained, "known_processes": 12, "lost_processes": 0,
            "unexplained_percent": unexplained, "limit_percent": 20.0,
            "flagged": unexplained > 20.0}


@pytest.fixture(scope="module")
def enriched(tmp_path_factory):
    """The fixture run as today's bench writes it: with the census, host window,
    connections and degraded answers."""
    run_dir = tmp_path_factory.mktemp("enriched") / "20261125T184000Z_fixture"
    shutil.copytree(FIXTURE, run_dir)
    for arch in ("monolith", "microservices"):
        for rep in (1, 2):
            folder = run_dir / arch / str(rep)
            run = json.loads((folder / "run.json").read_text())
            noisy = arch == "microservices" and rep == 2
            run |= {"format": formats.RUN_FORMAT, "census": _census(arch),
                    "host_cpu": _host(45.0 if noisy else 3.0)}
            (folder / "run.json").write_text(json.dumps(run))
            databases = ["monolith"] if arch == "monolith" else ["catalog", "inventory"]
            rows = ["elapsed_s,database,open,in_use"] + [
                f"{t},{db},{4 + t % 3},{t % 3}" for t in range(1, 11) for db in databases]
            (folder / "connections.csv").write_text("\n".join(rows) + "\n")
            (folder / "degraded.jsonl").write_text(
                '{"name": "/api/products/[id]", "what": "stock unknown"}\n' * (
                    7 if arch == "microservices" else 0))
    html = report.build(run_dir)
    return json.loads((run_dir / "summary.json").read_text()), html.read_text()


def test_held_equal_figures_come_from_the_census_connections_and_logs(enriched):
    summary, _ = enriched
    mono, micro = (summary["arch"][a]["held"] for a in ("monolith", "microservices"))
    assert mono["processes"] == [8, 8] and micro["processes"] == [12, 12]
    assert (mono["web_masters"], mono["web_workers"]) == ([1, 1], [1, 1])
    assert (micro["web_masters"], micro["web_workers"]) == ([3, 3], [3, 3])
    assert mono["threads"] == [12, 12] and micro["threads"] == [32, 32]
    # open peaks at 6 per database and second; in use at 2
    assert mono["connections_open_max"] == [6, 6] and micro["connections_open_max"] == [12, 12]
    assert micro["connections_in_use_max"] == [4, 4]
    assert mono["hops_per_request"] == [1.0, 1.0]
    assert micro["hops_per_request"] == [2.8, 2.8]


def test_degraded_answers_are_counted_and_left_out_of_goodput(enriched):
    summary, html = enriched
    micro = summary["arch"]["microservices"]
    assert micro["degraded"] == 14 and summary["arch"]["monolith"]["degraded"] == 0
    first = micro["repeats"][0]
    assert first["goodput_rps"] == pytest.approx(
        first["throughput_rps"] * (first["requests"] - first["errors"] - 7) / first["requests"])
    assert "degraded answers, all repeats" in html


def test_a_noisy_repeat_is_flagged_in_the_summary_and_the_report(enriched):
    summary, html = enriched
    assert summary["arch"]["microservices"]["noisy_repeats"] == [2]
    assert summary["arch"]["monolith"]["noisy_repeats"] == []
    assert ">What was held equal, and what was not</h2>" in html and ">Host noise</h2>" in html
    assert "microservices repeat(s) 2: the host" in html
    assert "45.0% NOISY" in html
    assert "Not held equal: processes" in html


def test_a_calibration_from_another_machine_budget_or_commit_is_flagged():
    from archlab.report.summary import calibration_mismatches

    machine = {"hostname": "lab", "cpu_model": "EPYC", "cpu_count": 2, "git_commit": "a" * 40}
    budget = {"sut_cpus": [0], "generator_cpus": [1], "web_workers": 1, "web_threads": 8}
    manifest = {"machine": machine, "budget": budget}
    assert calibration_mismatches({"machine": machine, "budget": budget}, manifest) == []
    other = calibration_mismatches(
        {"machine": machine | {"hostname": "laptop", "git_commit": "b" * 40},
         "budget": budget | {"sut_cpus": [0, 1, 2]}}, manifest)
    assert len(other) == 3
    assert other[0].startswith("another machine (host laptop there, lab here)")
    assert other[1].startswith("another core budget (sut_cpus [0, 1, 2] there, [0] here")
    assert other[2] == "another commit (bbbbbbbbbbbb there, aaaaaaaaaaaa here)"
