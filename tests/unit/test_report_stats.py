import math

import pytest

from archlab.report.stats import estimate, merge_histograms, percentile, ratio, t95


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


def test_ratio_is_bracketed_by_the_two_intervals():
    a, b = estimate([100, 102]), estimate([50, 51])
    r = ratio(a, b)
    assert r.value == pytest.approx(2.0)
    assert (r.lo, r.hi) == pytest.approx((a.lo / b.hi, a.hi / b.lo))
    assert r.lo < 2.0 < r.hi and r.bounded


def test_ratio_has_no_upper_bound_when_the_denominator_may_be_zero():
    r = ratio(estimate([100, 102]), estimate([5, 50]))
    assert r.hi is None and not r.bounded
    assert r.lo == pytest.approx(estimate([100, 102]).lo / estimate([5, 50]).hi)


def test_ratio_without_repeats_has_no_interval():
    r = ratio(estimate([100]), estimate([49, 51]))
    assert (r.value, r.lo, r.hi, r.bounded) == (2.0, None, None, False)

