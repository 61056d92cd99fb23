import math

import numpy as np
import pytest
import scipy.stats

from archlab.report import coverage
from archlab.report.stats import (
    RATIO_METHOD,
    estimate,
    log_welch_bounds,
    merge_histograms,
    percentile,
    ratio,
    t95,
)


def test_t_critical_values_come_from_the_table_then_the_normal():
    assert t95(1) == 12.706
    assert t95(2) == 4.303
    assert t95(30) == 2.042
    assert t95(31) == 1.96
    with pytest.raises(ValueError):
        t95(0)


def test_ci_of_three_known_values():
    est = estimate([10, 12, 14])
    assert est.mean == 12
    assert est.stdev == pytest.approx(2)
    assert est.n == 3
    assert est.half_width == pytest.approx(4.303 * 2 / math.sqrt(3))
    assert est.to_dict()["ci95"] == pytest.approx([12 - 4.9687, 12 + 4.9687], abs=1e-3)


def test_a_single_value_has_no_interval():
    est = estimate([7.5])
    assert (est.mean, est.stdev, est.half_width, est.lo, est.to_dict()["ci95"]) == (
        7.5, None, None, None, None)


def test_histograms_merge_by_bucket_with_json_string_keys():
    assert merge_histograms([{"10": 2, "20": 1}, {"10": 3, "100": 4}]) == {
        10: 5, 20: 1, 100: 4}


@pytest.mark.parametrize(("p", "ms"), [(50, 20), (66, 20), (80, 100), (95, 100), (99, 100),
                                       (100, 100)])
def test_percentile_follows_locusts_rule(p, ms):
    # 40 requests at 10 ms, 40 at 20, 20 at 100: Locust reports the largest bucket with
    # at most floor(N * p) requests below it, so p80 is already 100.
    assert percentile({10: 40, 20: 40, 100: 20}, p) == ms


def test_percentile_of_one_request_per_millisecond():
    hist = {ms: 1 for ms in range(1, 101)}
    assert [percentile(hist, p) for p in (50, 95, 99, 99.9)] == [51, 96, 100, 100]


def test_percentile_of_nothing_is_none():
    assert percentile({}, 95) is None


def test_ratio_is_welchs_interval_on_the_logarithms():
    # A worked example, checked against scipy's own Welch test on the logarithms.
    a, b = [120, 100, 110], [50, 60, 55, 45]
    r = ratio(a, b)
    welch = scipy.stats.ttest_ind(np.log(a), np.log(b), equal_var=False)
    ci = welch.confidence_interval(0.95)
    assert welch.df == pytest.approx(4.992, abs=1e-3)  # fractional degrees of freedom
    assert (r.lo, r.hi) == pytest.approx((math.exp(ci.low), math.exp(ci.high)))
    assert (r.value, r.lo, r.hi) == pytest.approx((2.1014, 1.7050, 2.5900), abs=1e-4)
    assert r.value == pytest.approx(math.exp(np.log(a).mean() - np.log(b).mean()))
    assert r.bounded and r.method == "welch-log-t" and r.note is None


def test_ratio_by_hand_with_the_t_quantile():
    la, lb = np.log([100, 102]), np.log([50, 51, 49])
    va, vb = la.var(ddof=1) / 2, lb.var(ddof=1) / 3
    df = (va + vb) ** 2 / (va ** 2 / 1 + vb ** 2 / 2)
    half = scipy.stats.t.ppf(0.975, df) * math.sqrt(va + vb)
    d = la.mean() - lb.mean()
    r = ratio([100, 102], [50, 51, 49])
    assert (r.lo, r.hi) == pytest.approx((math.exp(d - half), math.exp(d + half)))
    assert r.lo < r.value < r.hi


def test_ratio_takes_estimates_or_values_alike():
    assert ratio(estimate([100, 102]), estimate([50, 51])) == ratio([100, 102], [50, 51])
    with pytest.raises(ValueError):
        ratio([], [1, 2])


def test_the_interval_flips_with_the_ratio():
    r, inverse = ratio([100, 102, 97], [50, 51, 55]), ratio([50, 51, 55], [100, 102, 97])
    assert (inverse.value, inverse.lo, inverse.hi) == pytest.approx(
        (1 / r.value, 1 / r.hi, 1 / r.lo))


def test_a_very_noisy_denominator_still_has_an_upper_bound():
    r = ratio([100, 102], [5, 50])
    assert r.bounded and r.hi is not None and r.lo < r.value < r.hi


def test_ratio_without_repeats_has_a_value_and_no_interval():
    r = ratio([100], [49, 51])
    assert (r.lo, r.hi, r.bounded) == (None, None, False)
    assert r.value == pytest.approx(100 / math.sqrt(49 * 51))  # geometric mean of b
    assert "single repeat" in r.note
    assert ratio(estimate([100]), estimate([50])).to_dict() == {
        "value": pytest.approx(2.0), "lo": None, "hi": None, "bounded": False,
        "method": "welch-log-t", "note": "no interval: an architecture has a single repeat"}


@pytest.mark.parametrize(("a", "b", "value"), [
    ([0, 10, 20], [5, 5, 5], 2.0),        # a repeat of zero goodput: plain means
    ([10, 20, 30], [-1, 1, 3], 20.0),     # negative (not a lab figure, but defined)
    ([10, 20], [0, 0], None),             # b's mean is zero: no value either
])
def test_ratio_of_figures_that_cannot_be_logged_has_no_interval(a, b, value):
    r = ratio(a, b)
    assert (r.lo, r.hi, r.bounded) == (None, None, False)
    assert r.value == (pytest.approx(value) if value is not None else None)
    assert "zero or less" in r.note


def test_repeats_that_do_not_vary_give_a_single_value():
    r = ratio([100, 100, 100], [50, 50])
    assert (r.value, r.lo, r.hi) == pytest.approx((2.0, 2.0, 2.0)) and r.bounded


def test_the_method_is_described_in_words():
    assert "Welch" in RATIO_METHOD and "logarithm" in RATIO_METHOD
    assert "includes 1 is not a finding" in RATIO_METHOD


def _old_bracket(a, b):
    """The previous method: [lo_a / hi_b, hi_a / lo_b] of the two 95% t intervals of the
    means (an unbounded end is infinite)."""
    def t_interval(x):
        n = x.shape[-1]
        half = t95(n - 1) * x.std(axis=-1, ddof=1) / math.sqrt(n)
        return x.mean(axis=-1) - half, x.mean(axis=-1) + half

    (lo_a, hi_a), (lo_b, hi_b) = t_interval(a), t_interval(b)
    with np.errstate(divide="ignore"):
        return (np.maximum(lo_a, 0) / hi_b,
                np.where(lo_b > 0, hi_a / np.where(lo_b > 0, lo_b, 1), np.inf))


@pytest.mark.parametrize("n", [3, 5])
def test_the_ratio_interval_covers_95_percent_of_simulated_runs(n):
    assert coverage.simulate(log_welch_bounds, n, runs=4000) == pytest.approx(0.95, abs=0.02)


@pytest.mark.parametrize("n", [3, 5])
def test_the_coverage_check_fails_the_old_bracket(n):
    # The bracket called itself a 95% interval but holds the true ratio far more often:
    # the same check must reject it.
    covered = coverage.simulate(_old_bracket, n, runs=4000)
    assert covered != pytest.approx(0.95, abs=0.02)
    assert covered > 0.98


def test_the_coverage_check_fails_an_interval_too_narrow():
    def half_as_wide(a, b):
        lo, hi = log_welch_bounds(a, b)
        centre = np.sqrt(lo * hi)
        return centre * (lo / centre) ** 0.5, centre * (hi / centre) ** 0.5

    assert coverage.simulate(half_as_wide, 3, runs=4000) < 0.93


def test_the_simulation_is_seeded_and_covers_the_grid():
    assert coverage.simulate(log_welch_bounds, 3, seed=1) == coverage.simulate(
        log_welch_bounds, 3, seed=1)
    assert len(coverage.CONDITIONS) == 27
    assert {c.ratio for c in coverage.CONDITIONS} == {0.3, 1.0, 3.5}
    assert any(c.cv_a != c.cv_b for c in coverage.CONDITIONS)
    # unequal repeats per side and the ratio of plain means as the target also hold
    assert coverage.simulate(log_welch_bounds, (3, 2)) == pytest.approx(0.95, abs=0.02)
    assert coverage.simulate(log_welch_bounds, 3, target="mean") == pytest.approx(
        0.95, abs=0.02)


def test_measured_coverage_for_the_report():
    figures = coverage.measured_coverage()
    assert set(figures) == {"3", "5", "runs", "seed"}
    assert figures["3"] == pytest.approx(0.95, abs=0.02)
    assert figures["5"] == pytest.approx(0.95, abs=0.02)
    assert figures["runs"] == coverage.REPORT_RUNS and figures["seed"] == coverage.SEED
    assert "95.0% with 5" in coverage.describe(figures | {"5": 0.95})
