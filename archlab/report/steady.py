"""The steady state of a repeat: found on its request series, not assumed.

A repeat's figures mean something only over a stretch where the system ran in one state.
The warm-up before the measured run is fixed, and a fixed warm-up can be too short
(caches, pools and the JIT-less interpreter's own warm paths still filling) or the load
can climb or sag during the run. So each repeat's window is found on its per-second
request rate (series.csv, or Locust's history for runs recorded before it):

1. The series runs from Locust's test start to the planned end of the load (the
   closed loop's duration, or the open loop's schedule; the drain after it is not load).
2. The transient at the start is cut by MSER (the marginal standard error rule, White
   1997): the truncation d that minimises the variance of the mean of what remains,
   sum((x - mean)^2) / (n - d)^2, over d in the first half. On 50 or more seconds the
   rule runs on batch means of 5 seconds (MSER-5), on fewer on the seconds themselves.
3. What remains must last at least MIN_STEADY_S, and must not trend: a least-squares
   line through its per-second rates whose slope would change the rate by more than
   TREND_LIMIT of its mean across the whole run, and lies at least TREND_T standard
   errors from zero, is a ramp, not a steady state (a 25% climb passes the drift rule's
   70% test; MSER may cut half of a slow ramp, hence the whole run's span).

Requests, throughput and CPU are then taken over exactly this window (archlab.windows),
and the drift rule is applied inside it. A repeat without a steady state is flagged and
said in the report; its figures are still shown, over the window the rule left.
"""

import statistics

from archlab import windows

MIN_STEADY_S = 5.0
BATCH_FROM_S = 50
BATCH = 5
TREND_LIMIT = 0.10
TREND_T = 2.5


def rule() -> dict:
    """The rule's parameters, as summary.json records them."""
    return {"method": "MSER", "batch": BATCH, "batch_from_s": BATCH_FROM_S,
            "min_steady_s": MIN_STEADY_S, "trend_limit": TREND_LIMIT, "trend_t": TREND_T}


def rates(rows: list[tuple[float, float]]) -> list[tuple[float, float, float]]:
    """(start, end, requests per second) of each interval between consecutive readings of
    a cumulative count ((time, count), time increasing; equal times skipped)."""
    out = []
    for (t0, c0), (t1, c1) in zip(rows, rows[1:], strict=False):
        if t1 > t0:
            out.append((t0, t1, (c1 - c0) / (t1 - t0)))
    return out


def mser(values: list[float], batch: int = 1) -> int:
    """The MSER truncation point in values (a multiple of `batch`), searched over the
    first half."""
    means = [statistics.fmean(values[i:i + batch])
             for i in range(0, len(values) - batch + 1, batch)]
    n = len(means)
    best, best_d = None, 0
    # Only the first half: further on, a chance run of close values makes the statistic
    # tiny, so the rule would cut a steady series short.
    for d in range(n // 2 + 1):
        rest = means[d:]
        if len(rest) < 2:
            break
        mean = statistics.fmean(rest)
        score = sum((x - mean) ** 2 for x in rest) / (n - d) ** 2
        if best is None or score < best:
            best, best_d = score, d
    return best_d * batch


def trend(points: list[tuple[float, float]], span: float) -> dict:
    """Least-squares line through (time, rate): its change across `span` seconds as a
    share of the mean rate, and the slope's distance from zero in standard errors."""
    n = len(points)
    if n < 3:
        return {"change_share": None, "t": None}
    xs, ys = [p[0] for p in points], [p[1] for p in points]
    mx, my = statistics.fmean(xs), statistics.fmean(ys)
    sxx = sum((x - mx) ** 2 for x in xs)
    if sxx <= 0 or my <= 0:
        return {"change_share": None, "t": None}
    slope = sum((x - mx) * (y - my) for x, y in zip(xs, ys, strict=True)) / sxx
    residual = sum((y - (my + slope * (x - mx))) ** 2 for x, y in zip(xs, ys, strict=True))
    se = (residual / (n - 2) / sxx) ** 0.5
    change = slope * span / my
    t = abs(slope) / se if se > 0 else float("inf")
    return {"change_share": round(change, 4), "t": round(t, 2) if t != float("inf") else None}


def find(rows: list[tuple[float, float]], start: float, end: float) -> dict:
    """The steady window of a cumulative request count `rows` ((t_epoch, requests)),
    searched between `start` (the load began) and `end` (it was planned to end):
    {"start_epoch", "end_epoch", "seconds", "dropped_s", "flagged", "reason", "trend"}."""
    times, counts = [t for t, _ in rows], [c for _, c in rows]
    # The span's own edges, interpolated: the series' rows fall wherever its clock put
    # them, not on the load's start and end.
    end = min(end, times[-1])  # the load may stop a moment before its planned end
    inside = [(start, windows.value_at(times, counts, start)),
              *((t, c) for t, c in rows if start < t < end),
              (end, windows.value_at(times, counts, end))]
    per_interval = rates(inside)
    result = {"start_epoch": start, "end_epoch": end, "seconds": max(end - start, 0.0),
              "dropped_s": 0.0, "flagged": True, "reason": None, "trend": None}
    if len(per_interval) < 3:
        return result | {"reason": f"too short to judge: {len(per_interval)} seconds of "
                                   "requests"}
    values = [r for _, _, r in per_interval]
    batch = BATCH if len(values) >= BATCH_FROM_S else 1
    cut = mser(values, batch)
    kept = per_interval[cut:]
    t0, t1 = kept[0][0], min(kept[-1][1], end)
    points = [((a + b) / 2, r) for a, b, r in kept]
    # The slope over the whole load's span: MSER may have cut half of a slow ramp.
    slope = trend(points, end - start)
    result |= {"start_epoch": t0, "end_epoch": t1, "seconds": round(t1 - t0, 3),
               "dropped_s": round(t0 - start, 3), "trend": slope}
    if t1 - t0 < MIN_STEADY_S:
        reason = (f"too short: {t1 - t0:.1f} s steady, under {MIN_STEADY_S:.0f} s")
    elif (slope["change_share"] is not None and abs(slope["change_share"]) > TREND_LIMIT
          and (slope["t"] is None or slope["t"] >= TREND_T)):
        reason = (f"a trend: at the steady window's slope the rate would change by "
                  f"{100 * slope['change_share']:+.0f}% across the run (over "
                  f"{100 * TREND_LIMIT:.0f}%)")
    else:
        reason = None
    return result | {"flagged": reason is not None, "reason": reason}
