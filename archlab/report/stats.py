"""Small statistics for a handful of repeats: t-based confidence intervals, Locust
histogram percentiles and a 95% interval for the ratio of two architectures' figures.

The per-architecture intervals use Student's t critical values tabulated for 1..30
degrees of freedom; above 30 the normal value 1.96 is used (at most 4% too narrow
there, and the lab never runs that many repeats).

The ratio interval is Welch's t interval on the logarithms of the repeats, whose
Welch-Satterthwaite degrees of freedom are fractional: its t quantile comes from
scipy (imported on first use, so the rest of the lab does not need it). How often
that interval contains the true ratio is measured, not assumed: see coverage.py.
"""

import math
import statistics
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field

from archlab.errors import LabError

T95 = (12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228,
       2.201, 2.179, 2.160, 2.145, 2.131, 2.120, 2.110, 2.101, 2.093, 2.086,
       2.080, 2.074, 2.069, 2.064, 2.060, 2.056, 2.052, 2.048, 2.045, 2.042)
Z95 = 1.96

# The ratio method: its short name (in each ratio of summary.json) and the paragraph a
# report shows about it.
RATIO_METHOD_NAME = "welch-log-t"
RATIO_METHOD = (
    "Each ratio compares the two architectures' geometric means over their repeats (the "
    "average taken on a multiplicative scale; with a handful of repeats it lies within a "
    "few per cent of the ratio of the plain averages). Its 95% confidence interval is "
    "Welch's t interval on the logarithms of the repeats: taking logarithms turns the "
    "ratio into a difference, Welch's method lets the two architectures scatter by "
    "different amounts, and the interval is turned back into a ratio, which is why it "
    "is not symmetric around the value. How often such an interval contains the true "
    "ratio is measured, not assumed: the lab simulates thousands of experiments with 3 "
    "and 5 repeats scattered by 3% to 30% and counts the hits (figures alongside). A ratio whose "
    "interval includes 1 is not a finding: the repeats cannot tell the architectures "
    "apart. Without at least two repeats of each architecture there is no interval, and "
    "none either when a repeat measured zero (a logarithm needs a positive figure); the "
    "value is then the ratio of the plain averages.")


def t95(df: int) -> float:
    """The two-sided 95% critical value of Student's t with `df` degrees of freedom."""
    if df < 1:
        raise ValueError("a t interval needs at least one degree of freedom (two values)")
    return T95[df - 1] if df <= len(T95) else Z95


@dataclass(frozen=True)
class Estimate:
    """Mean of repeated measurements with its 95% confidence interval (None when n < 2).
    `values` keeps the repeats themselves (for `ratio`); it is not part of `to_dict`."""

    mean: float
    stdev: float | None
    n: int
    half_width: float | None
    values: tuple[float, ...] = field(default=(), repr=False, compare=False)

    @property
    def lo(self) -> float | None:
        return None if self.half_width is None else self.mean - self.half_width

    @property
    def hi(self) -> float | None:
        return None if self.half_width is None else self.mean + self.half_width

    def to_dict(self) -> dict:
        out = asdict(self)
        del out["values"]
        return out | {"ci95": None if self.half_width is None else [self.lo, self.hi]}


def estimate(values: Iterable[float]) -> Estimate:
    """Mean, sample stdev and the t-based 95% interval mean +- t(n-1) * s / sqrt(n)."""
    xs = tuple(float(v) for v in values)
    if not xs:
        raise ValueError("no values to estimate from")
    mean = statistics.fmean(xs)
    if len(xs) < 2:
        return Estimate(mean, None, len(xs), None, xs)
    s = statistics.stdev(xs)
    return Estimate(mean, s, len(xs), t95(len(xs) - 1) * s / math.sqrt(len(xs)), xs)


@dataclass(frozen=True)
class Ratio:
    """a/b of two architectures' figures with a 95% interval.

    `value` is the ratio of the geometric means (of the plain means when a figure is
    zero or negative; None when b's mean is zero). `lo` and `hi` are None when there is
    no interval, and `note` then says why; `bounded` is True when both bounds exist.
    """

    value: float | None
    lo: float | None
    hi: float | None
    bounded: bool
    method: str = RATIO_METHOD_NAME
    note: str | None = None

    def to_dict(self) -> dict:
        return asdict(self)


def _numeric():
    """numpy and Student's t quantile for fractional degrees of freedom (scipy's stdtrit,
    the function behind scipy.stats.t.ppf, without the import time of scipy.stats)."""
    try:
        import numpy
        from scipy.special import stdtrit
    except ImportError as exc:
        raise LabError(f"the ratio intervals need scipy ({exc}); install the bench extra: "
                       "pip install -e '.[bench]'") from None
    return numpy, stdtrit


def log_welch_bounds(a, b, level: float = 0.95):
    """Welch's t interval for mean(log a) - mean(log b), turned back into a ratio.

    `a` and `b` are arrays of positive repeats, shape (..., n_a) and (..., n_b) with
    n_a, n_b >= 2 (the leading axes index independent runs, which is how coverage.py
    simulates thousands at once). Returns numpy arrays (lo, hi) with the leading shape.
    The degrees of freedom are Welch-Satterthwaite's, between min(n_a, n_b) - 1 and
    n_a + n_b - 2; when neither side varies at all the interval is the single value.
    """
    np, stdtrit = _numeric()
    la, lb = np.log(np.asarray(a, dtype=float)), np.log(np.asarray(b, dtype=float))
    na, nb = la.shape[-1], lb.shape[-1]
    if na < 2 or nb < 2:
        raise ValueError("Welch's interval needs at least two values on each side")
    diff = la.mean(axis=-1) - lb.mean(axis=-1)
    va = la.var(axis=-1, ddof=1) / na
    vb = lb.var(axis=-1, ddof=1) / nb
    se2 = va + vb
    with np.errstate(divide="ignore", invalid="ignore"):
        df = se2 ** 2 / (va ** 2 / (na - 1) + vb ** 2 / (nb - 1))
    # 0/0 only when neither side varies (the half-width is then zero whatever df is).
    df = np.where(np.isfinite(df), df, min(na, nb) - 1)
    half = stdtrit(df, 0.5 + level / 2) * np.sqrt(se2)
    return np.exp(diff - half), np.exp(diff + half)


def _repeats(x: "Estimate | Iterable[float]") -> tuple[float, ...]:
    if isinstance(x, Estimate):
        if len(x.values) != x.n:
            raise ValueError("this Estimate does not carry its repeats; pass the values")
        return x.values
    return tuple(float(v) for v in x)


def ratio(a: "Estimate | Iterable[float]", b: "Estimate | Iterable[float]") -> Ratio:
    """a/b from the repeats of two architectures (the values, or `estimate`s of them),
    with the 95% Welch interval on their logarithms (`log_welch_bounds`).

    - all repeats positive, n >= 2 on both sides: value = ratio of geometric means,
      interval exp(d -+ t(0.975, df) * se) where d = mean(log a) - mean(log b);
    - n < 2 on either side: the value, no interval;
    - a repeat <= 0 (a logarithm needs a positive figure; e.g. a goodput of zero when
      every request of a repeat failed): no interval, and the value is the ratio of the
      plain means (None when b's mean is zero).
    """
    xs, ys = _repeats(a), _repeats(b)
    if not xs or not ys:
        raise ValueError("a ratio needs at least one value on each side")
    if min(xs) <= 0 or min(ys) <= 0:
        mean_b = statistics.fmean(ys)
        value = statistics.fmean(xs) / mean_b if mean_b else None
        return Ratio(value, None, None, False,
                     note="no interval: a repeat measured zero or less")
    value = math.exp(statistics.fmean(map(math.log, xs)) -
                     statistics.fmean(map(math.log, ys)))
    if len(xs) < 2 or len(ys) < 2:
        return Ratio(value, None, None, False,
                     note="no interval: an architecture has a single repeat")
    lo, hi = log_welch_bounds([xs], [ys])
    return Ratio(value, float(lo[0]), float(hi[0]), True)


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


# A percentile p is supported by N samples when N >= SUPPORT_FACTOR / (1 - p): at least
# ten samples lie beyond it (p99 needs 1,000, p99.9 10,000), so it is not the few
# largest values, or the maximum, under another name.
SUPPORT_FACTOR = 10


def samples_needed(p: float) -> int:
    """Samples a percentile `p` (in %, below 100) needs to be supported."""
    # Rounded first: 10 / (1 - 0.99) is 1000.0000000000009 in floating point.
    return math.ceil(round(SUPPORT_FACTOR / (1 - p / 100), 6))


def percentile_support(count: int | None, p: float) -> dict:
    """{"count", "needed", "supported"} for a percentile `p` read from `count` samples."""
    needed = samples_needed(p)
    return {"count": count, "needed": needed, "supported": bool(count and count >= needed)}
