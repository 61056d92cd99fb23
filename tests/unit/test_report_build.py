"""Building a report from tests/fixtures/run: a 2 x 2 run whose figures were chosen by
hand (monolith 1,000 and 1,020 requests in 10 s, microservices 500 and 510)."""

import hashlib
import json
import re
import shutil
from pathlib import Path

import pytest

from archlab import report
from archlab.cli import build_cli
from archlab.commands import report as command

FIXTURE = Path(__file__).parents[1] / "fixtures" / "run"
CHARTS = {"throughput", "latency", "latency_percentiles", "throughput_over_time",
          "p95_over_time", "cpu_by_component", "memory_by_component", "efficiency",
          "calibration"}
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
    assert summary["schema"] == 1
    assert summary["architectures"] == ["monolith", "microservices"]
    assert summary["missing"] == []
    for arch in summary["architectures"]:
        a = summary["arch"][arch]
        assert a["n"] == 2 and [r["repeat"] for r in a["repeats"]] == [1, 2]
        assert set(a["stats"]) == {"throughput_rps", "p50_ms", "p95_ms", "p99_ms",
                                   "error_rate", "rps_per_core", "rps_per_gib"}
        for est in a["stats"].values():
            assert set(est) == {"mean", "stdev", "n", "half_width", "ci95"}
        assert {"method", "name", "requests", "rps", "p50_ms", "p95_ms", "p99_ms",
                "failures"} == set(a["endpoints"][0])
        repeat = a["repeats"][0]
        assert {"throughput_rps", "p50_ms", "p95_ms", "p99_ms", "errors", "error_rate",
                "conflicts_409", "generator", "components", "timeline"} <= set(repeat)
    assert set(summary["ratios"]) == {"numerator", "denominator", "method", "throughput",
                                      "p95"}
    assert summary["memory_basis"] == "pss" and summary["sut_cores"] == 1


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


def test_ratios_with_conservative_interval(summary):
    thr = summary["ratios"]["throughput"]
    assert thr["value"] == pytest.approx(2.0)
    assert thr["lo"] == pytest.approx((101 - T1) / (50.5 + T1 / 2))
    assert thr["hi"] == pytest.approx((101 + T1) / (50.5 - T1 / 2))
    assert summary["ratios"]["p95"]["value"] == pytest.approx(0.5)


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
    assert "The monolith served 2.00x the microservices&#39; throughput (95% CI 1.55–2.58x)" \
        in text
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
