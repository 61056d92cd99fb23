"""How often a ratio interval contains the true ratio: a seeded simulation.

A "95% confidence interval" should contain the true value in 95% of experiments. For
the ratio of two architectures' figures from 3 or 5 repeats that is a property of the
method *and* of how the repeats scatter, and no statistics library simulates it for
our case (a few repeats per side, different spreads, a ratio rather than a difference),
so this module does: it draws thousands of experiments with a known true ratio, builds
the interval of each with the method under test, and counts how many contain it. The
report computes the figures when it is built (`measured_coverage`, some 20 ms with
numpy), so the coverage it states is measured by the same code that makes its
intervals, not copied from somewhere.

The conditions are a grid close to what the lab sees: each architecture's repeats are
log-normal (positive and right-skewed, like throughputs and latency percentiles) with
a coefficient of variation of 3%, 15% or 30%, every combination of the two (equal and
unequal spread, either side the noisier one), at true ratios of 0.3, 1 and 3.5; the
runs are shared evenly between the 27 conditions. The true ratio is the ratio of the
two distributions' medians, which for log-normal repeats equals the ratio of their
geometric means, the quantity the report's interval is for (`target="mean"` measures
against the ratio of the plain means instead). Not covered: repeats that drift during
a run, outliers, correlated repeats, and more than 30% scatter.
"""

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import lru_cache

from archlab.report import stats

SEED = 95
RUNS = 4000            # enough for a test's 95% +- 2% (Monte Carlo error ~0.35%)
REPORT_RUNS = 20000    # what the report states (Monte Carlo error ~0.15%, ~20 ms for two n)
LEVEL = 0.95
CVS = (0.03, 0.15, 0.30)
TRUE_RATIOS = (0.3, 1.0, 3.5)


@dataclass(frozen=True)
class Condition:
    """One cell of the grid: the true ratio a/b and each side's coefficient of variation."""

    ratio: float
    cv_a: float
    cv_b: float


CONDITIONS = tuple(Condition(r, cv_a, cv_b)
                   for r in TRUE_RATIOS for cv_a in CVS for cv_b in CVS)

# method(a, b) -> (lo, hi): a and b are arrays of shape (runs, n_a) and (runs, n_b), the
# bounds arrays of shape (runs,), with -inf/inf for a missing bound (NaN counts as a miss).
Method = Callable[..., tuple]


def _sigma(cv: float) -> float:
    """The log-scale standard deviation of a log-normal with this coefficient of variation."""
    return math.sqrt(math.log1p(cv * cv))


def simulate(method: Method, n: int | tuple[int, int], runs: int = RUNS, seed: int = SEED,
             conditions: Sequence[Condition] = CONDITIONS, target: str = "median") -> float:
    """The fraction of `runs` simulated experiments, with `n` repeats per architecture (or
    (n_a, n_b)), whose interval from `method` contains the true ratio. The runs cycle
    through `conditions`; the same seed gives the same draws and so the same figure."""
    np, _ = stats._numeric()  # numpy, or a LabError that says to install the bench extra
    na, nb = (n, n) if isinstance(n, int) else n
    if target not in ("median", "mean"):
        raise ValueError("target is 'median' (geometric means) or 'mean' (plain means)")
    rng = np.random.default_rng(seed)
    cell = np.arange(runs) % len(conditions)
    true = np.array([c.ratio for c in conditions])[cell]
    sa = np.array([_sigma(c.cv_a) for c in conditions])[cell]
    sb = np.array([_sigma(c.cv_b) for c in conditions])[cell]
    # Medians 100 * ratio and 100 (the scale does not matter to a ratio).
    a = 100.0 * true[:, None] * np.exp(sa[:, None] * rng.standard_normal((runs, na)))
    b = 100.0 * np.exp(sb[:, None] * rng.standard_normal((runs, nb)))
    if target == "mean":
        true = true * np.exp((sa ** 2 - sb ** 2) / 2)
    lo, hi = method(a, b)
    covered = (np.asarray(lo, dtype=float) <= true) & (true <= np.asarray(hi, dtype=float))
    return float(covered.mean())


@lru_cache(maxsize=8)
def _measured(ns: tuple[int, ...], runs: int, seed: int) -> tuple[tuple[int, float], ...]:
    return tuple((n, simulate(stats.log_welch_bounds, n, runs, seed)) for n in ns)


def measured_coverage(ns: Sequence[int] = (3, 5), runs: int = REPORT_RUNS,
                      seed: int = SEED) -> dict:
    """The coverage of the report's ratio interval (stats.log_welch_bounds) with 3 and 5
    repeats per architecture, e.g. {"3": 0.953, "5": 0.95, "runs": 20000, "seed": 95}
    (string keys: it goes into summary.json). Computed once per process."""
    figures = _measured(tuple(ns), runs, seed)
    return {str(n): round(c, 3) for n, c in figures} | {"runs": runs, "seed": seed}


def describe(coverage: dict) -> str:
    """One sentence for a report, from `measured_coverage()`: 'In 20,000 simulated
    experiments ... contained the true ratio in 95.3% of them with 3 repeats per
    architecture and 95.0% with 5.'"""
    ns = [k for k in coverage if k.isdigit()]
    parts = [f"{coverage[k]:.1%}" + (" of them" if i == 0 else "") + f" with {k}" +
             (" repeats per architecture" if i == 0 else "") for i, k in enumerate(ns)]
    said = parts[0] if len(parts) == 1 else ", ".join(parts[:-1]) + " and " + parts[-1]
    return (f"In {coverage['runs']:,} simulated experiments for each number of repeats "
            f"(repeats scattered by 3% to 30%, seed {coverage['seed']}), the 95% interval "
            f"contained the true ratio in {said}.")
