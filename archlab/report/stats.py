"""Small statistics for a handful of repeats: t-based confidence intervals, Locust
histogram percentiles and a conservative interval for a ratio of two means.

No scipy: the two-sided 95% critical values of Student's t are tabulated for
1..30 degrees of freedom; above 30 the normal value 1.96 is used (at most 4% too
narrow there, and the lab never runs that many repeats).
"""

import math
import statistics
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass

T95 = (12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228,
       2.201, 2.179, 2.160, 2.145, 2.131, 2.120, 2.110, 2.101, 2.093, 2.086,
       2.080, 2.074, 2.069, 2.064, 2.060, 2.056, 2.052, 2.048, 2.045, 2.042)
Z95 = 1.96


def t95(df: int) -> float:
    """The two-sided 95% critical value of Student's t with `df` degrees of freedom."""
    if df < 1:
        raise ValueError("a t interval needs at least one degree of freedom (two values)")
    return T95[df - 1] if df <= len(T95) else Z95


@dataclass(frozen=True)
class Estimate:
    """Mean of repeated measurements with its 95% confidence interval (None when n < 2)."""

    mean: float
    stdev: float | None
    n: int
    half_width: float | None

    @property
    def lo(self) -> float | None:
        return None if self.half_width is None else self.mean - self.half_width

    @property
    def hi(self) -> float | None:
        return None if self.half_width is None else self.mean + self.half_width

    def to_dict(self) -> dict:
        return asdict(self) | {"ci95": None if self.half_width is None else [self.lo, self.hi]}


def estimate(values: Iterable[float]) -> Estimate:
    """Mean, sample stdev and the t-based 95% interval mean +- t(n-1) * s / sqrt(n)."""
    xs = [float(v) for v in values]
    if not xs:
        raise ValueError("no values to estimate from")
    mean = statistics.fmean(xs)
    if len(xs) < 2:
        return Estimate(mean, None, len(xs), None)
    s = statistics.stdev(xs)
    return Estimate(mean, s, len(xs), t95(len(xs) - 1) * s / math.sqrt(len(xs)))


@dataclass(frozen=True)
class Ratio:
    """a/b of two means with a conservative 95% interval (bounds None when unbounded;
    value None when b is zero)."""

    value: float | None
    lo: float | None
    hi: float | None
    bounded: bool

    def to_dict(self) -> dict:
        return asdict(self)


def ratio(a: Estimate, b: Estimate) -> Ratio:
    """The ratio of means a/b, bracketed by [lo_a / hi_b, hi_a / lo_b].

    Both intervals hold together with probability at least 0.95^2 ~ 0.90 if the
    repeats are independent, and in practice the bracket is wider than a 95% interval,
    hence conservative. A lower bound below zero is clipped to 0 (the figures are
    non-negative); when b's interval reaches zero the upper bound is unbounded (None).
    """
    if not b.mean:
        return Ratio(None, None, None, False)
    value = a.mean / b.mean
    if a.half_width is None or b.half_width is None:
        return Ratio(value, None, None, False)
    lo = max(a.lo, 0.0) / b.hi if b.hi > 0 else None
    hi = a.hi / b.lo if b.lo > 0 else None
    return Ratio(value, lo, hi, lo is not None and hi is not None)


def merge_histograms(histograms: Iterable[Mapping]) -> dict[int, int]:
    """Add Locust response_times histograms (rounded ms -> count; JSON keys are strings)."""
    merged: dict[int, int] = {}
    for hist in histograms:
        for ms, count in hist.items():
            merged[int(ms)] = merged.get(int(ms), 0) + int(count)
    return merged


def percentile(hist: Mapping[int, int], p: float) -> float | None:
    """The response time that `p` percent of requests finished within, by Locust's own
    rule (so the figures match Locust's CSV): the largest bucket with at most
    floor(N * p / 100) requests below it. None for an empty histogram."""
    total = sum(hist.values())
    if total == 0:
        return None
    allowed_below = int(total * p / 100)
    seen = 0
    for ms in sorted(hist, reverse=True):
        seen += hist[ms]
        if total - seen <= allowed_below:
            return float(ms)
    return float(min(hist))
