"""The table `make demo` prints, from summary.json: it must print whatever the
summary holds, including ratios and estimates without (all of) their bounds."""

import pytest

from archlab.commands.demo import summary_lines


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


def test_a_normal_summary():
    lines = summary_lines(_summary(_r(2.0, 1.8, 2.2), _r(0.5, 0.4, 0.6)))
    assert lines[0].startswith("architecture")
    assert lines[1].split()[:4] == ["monolith", "3", "200", "[180-220]"]
    assert lines[1].split()[-1] == "6"  # errors over the three repeats
    assert lines[-1] == ("monolith / microservices: goodput 2.00x [1.80-2.20]; "
                         "p95 0.50x [0.40-0.60]")


def test_an_interval_that_includes_one_is_not_distinguishable():
    lines = summary_lines(_summary(_r(2.0, 1.8, 2.2), _r(0.46, 0.21, 1.13)))
    assert lines[-1].endswith("p95 0.46x [0.21-1.13], not distinguishable")
    assert "goodput 2.00x [1.80-2.20];" in lines[-1]


def test_a_ratio_without_an_upper_bound():
    # older summaries: the bracket had no upper bound when b's interval reached zero
    lines = summary_lines(_summary(_r(3.0, 1.5, None), _r(0.9, 0.5, None)))
    assert "goodput 3.00x [1.50-no upper bound];" in lines[-1]
    assert lines[-1].endswith("p95 0.90x [0.50-no upper bound], not distinguishable")


def test_a_single_repeat_has_no_intervals():
    lines = summary_lines(_summary(_r(2.0, None, None), _r(0.5, None, None), n=1))
    assert lines[1].split()[:5] == ["monolith", "1", "200", "[no", "interval]"]
    assert lines[-1] == ("monolith / microservices: goodput 2.00x [no interval], not "
                         "distinguishable; p95 0.50x [no interval], not distinguishable")


@pytest.mark.parametrize("missing", [None, _r(None, None, None)])
def test_a_ratio_without_a_value(missing):
    summary = _summary(missing, _r(0.5, 0.4, 0.6))
    summary["arch"]["monolith"]["stats"]["p99_ms"] = None
    lines = summary_lines(summary)
    assert "goodput -;" in lines[-1]
    assert lines[1].split()[-2:] == ["-", "6"]


def test_no_ratios_with_one_architecture():
    summary = _summary(_r(2.0, 1.8, 2.2), _r(0.5, 0.4, 0.6))
    summary["architectures"], summary["ratios"] = ["monolith"], None
    assert len(summary_lines(summary)) == 2
