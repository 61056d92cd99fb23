"""Counts over a wall-clock window, from cumulative readings taken at other moments.

The sampler reads each process's cumulative CPU seconds about once a second, and the
load generator its cumulative request count; neither reading falls exactly on a
window's edges. A cumulative count is read at an edge by linear interpolation between
the readings on either side, so CPU and requests are taken over exactly the same
window. Pure functions: the bench and the report both use them.
"""

from bisect import bisect_right
from collections import defaultdict
from collections.abc import Iterable

# The sampler's CPU of the stack against /proc read with its first and last sample:
# further apart than this many points of one core AND this share of the /proc figure,
# and its figures are flagged. Both read the same tick-resolution counters, but one
# process at a time and not at quite the same moment; on a loaded 2-core host a stack
# at ~80% of a core read 3.5-5.6 points apart with nothing missed, while a missed
# component is a tenth of the stack's CPU or more.
SAMPLER_CHECK_POINTS = 5.0
SAMPLER_CHECK_SHARE = 0.10


def value_at(times: list[float], values: list[float], t: float) -> float:
    """A cumulative count at time t: linear between the readings around t, the first
    reading before them and the last after them (times increasing)."""
    i = bisect_right(times, t)
    if i == 0:
        return values[0]
    if i == len(times):
        return values[-1]
    t0, t1, v0, v1 = times[i - 1], times[i], values[i - 1], values[i]
    return v0 + (v1 - v0) * (t - t0) / (t1 - t0) if t1 > t0 else v1


def growth(times: list[float], values: list[float], start: float, end: float) -> float:
    """How much a cumulative count grew between `start` and `end`."""
    return value_at(times, values, end) - value_at(times, values, start)


def cpu_seconds(readings: Iterable[tuple[str, str, float, float]], start: float,
                end: float) -> dict[str, float]:
    """CPU seconds per component between `start` and `end` from (component, pid,
    t_epoch, cumulative cpu seconds) readings.

    A process first read after `start` was born in the window (the sampler finds a new
    process within a second): all its CPU time counts. A process last read before `end`
    ended in the window: its last reading stands (the rest of its last second is lost)."""
    series: dict[tuple[str, str], list[tuple[float, float]]] = defaultdict(list)
    for component, pid, t, cpu in readings:
        series[(component, pid)].append((t, cpu))
    out: dict[str, float] = defaultdict(float)
    for (component, _), points in series.items():
        points.sort()
        times = [t for t, _ in points]
        values = [v for _, v in points]
        if times[-1] < start or times[0] > end:
            continue
        before = value_at(times, values, start) if times[0] <= start else 0.0
        out[component] += max(value_at(times, values, end) - before, 0.0)
    return dict(out)
