"""The summary `make demo`, `archlab bench` and `archlab report` print, from
summary.json: it must print whatever the summary holds, including ratios and estimates
without (all of) their bounds, and never state a ratio whose interval includes 1 as a
finding."""

import pytest

from archlab.report.console import summary_lines


def _est(mean: float, lo: float | None = None, hi: float | None = None, n: int = 3) -> dict:
    if lo is None:
        return {"mean": mean, "stdev": None, "n": n, "half_width": None, "ci95": None}
    return {"mean": mean, "stdev": 1.0, "n": n, "half_width": (hi - lo) / 2,
            "ci95": [lo, hi]}


def _arch(n: int, interval: bool = True) -> dict:
    def est(mean):
        return _est(mean, mean * 0.9, mean * 1.1, n) if interval else _est(mean, n=n)

    return {"n": n, "overloaded_repeats": [],
            "repeats": [{"repeat": i + 1, "errors": 2} for i in range(n)],
            "stats": {"throughput_rps": est(200.0), "p50_ms": est(20.0),
                      "p95_ms": est(80.0), "p99_ms": est(150.0)}}


def _summary(throughput: dict, p95: dict, n: int = 3) -> dict:
    return {"architectures": ["monolith", "microservices"],
            "arch": {"monolith": _arch(n, n > 1), "microservices": _arch(n, n > 1)},
            "ratios": {"numerator": "monolith", "denominator": "microservices",
                       "method": "...", "throughput": throughput, "p95": p95}}


def _r(value, lo, hi):
    return {"value": value, "lo": lo, "hi": hi, "bounded": lo is not None and hi is not None}


def _row(lines: list[str], arch: str) -> list[str]:
    return next(line for line in lines if line.startswith(arch + " ")).split()


def test_a_normal_summary():
    lines = summary_lines(_summary(_r(2.0, 1.8, 2.2), _r(0.5, 0.4, 0.6)))
    assert lines[0].startswith("req/s: each repeat's requests over its measured window")
    assert lines[1].startswith("architecture")
    assert _row(lines, "monolith")[:4] == ["monolith", "3", "200", "[180-220]"]
    assert _row(lines, "monolith")[-1] == "6"  # errors over the three repeats
    assert lines[-3:] == ["monolith / microservices, ratio of geometric means [95% CI]:",
                          "  throughput 2.00x [1.80-2.20]", "  p95 0.50x [0.40-0.60]"]


def test_an_interval_that_includes_one_is_not_distinguishable():
    lines = summary_lines(_summary(_r(2.0, 1.8, 2.2), _r(0.46, 0.21, 1.13)))
    assert lines[-1] == "  p95 0.46x [0.21-1.13], not distinguishable in this run"
    assert lines[-2] == "  throughput 2.00x [1.80-2.20]"


def test_a_ratio_without_an_upper_bound():
    # older summaries: the bracket had no upper bound when b's interval reached zero
    lines = summary_lines(_summary(_r(3.0, 1.5, None), _r(0.9, 0.5, None)))
    assert lines[-2] == "  throughput 3.00x [1.50-no upper bound]"
    assert lines[-1] == "  p95 0.90x [0.50-no upper bound], not distinguishable in this run"


def test_a_single_repeat_has_no_intervals():
    lines = summary_lines(_summary(_r(2.0, None, None), _r(0.5, None, None), n=1))
    assert _row(lines, "monolith")[:5] == ["monolith", "1", "200", "[no", "interval]"]
    assert lines[-2:] == [
        "  throughput 2.00x [no interval], not distinguishable in this run",
        "  p95 0.50x [no interval], not distinguishable in this run"]


@pytest.mark.parametrize("missing", [None, _r(None, None, None)])
def test_a_ratio_without_a_value(missing):
    summary = _summary(missing, _r(0.5, 0.4, 0.6))
    summary["arch"]["monolith"]["stats"]["p99_ms"] = None
    lines = summary_lines(summary)
    assert "  throughput -" in lines
    assert _row(lines, "monolith")[-2:] == ["-", "6"]


def test_no_ratios_with_one_architecture():
    summary = _summary(_r(2.0, 1.8, 2.2), _r(0.5, 0.4, 0.6))
    summary["architectures"], summary["ratios"] = ["monolith"], None
    assert len(summary_lines(summary)) == 3


def test_the_flags_are_printed_briefly():
    summary = _summary(_r(2.0, 1.8, 2.2), _r(0.5, 0.4, 0.6))
    mono = summary["arch"]["monolith"]
    mono["repeats"][1]["drift"] = {"flagged": True, "lowest_share": 0.66}
    mono["sold_out_repeats"] = [3]
    lines = summary_lines(summary)
    at = next(i for i, line in enumerate(lines) if line.startswith("monolith "))
    assert lines[at + 1:at + 3] == [
        "  ! repeat 2: throughput drifted within its measured window (slowest part 66% of "
        "the fastest; report: How to read this, Drift)",
        "  ! SOLD OUT in repeat(s) [3]: a product's stock reached 0, so their 409s measure "
        "the sell-out, not the architecture"]
