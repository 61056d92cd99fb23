"""Whether a repeat's throughput held steady over its measured window: the drift rule.

The window runs from the first history row at which every user ran (Locust starts the
users afresh in the measured run) to Locust's last row, and is split into WINDOWS equal
parts. A part's rate is the growth of Locust's cumulative request count across it,
interpolated linearly between the once-a-second rows of locust_stats_history.csv. A
repeat is flagged as drifting when its slowest part ran below MIN_SHARE of its fastest:
its mean then averages two different states (a drop half-way, a slow climb, a stall)
instead of describing one. The fastest part is the reference, not the median, because a
drop half-way puts half of the parts low and would drag a median down with them.
"""

from archlab.windows import value_at

WINDOWS = 4
# Set from measured jitter: on a 2-core box, 11 of the 12 repeats of two back-to-back demo
# runs (3-s parts, host noise 4-6% of a core) had a slowest part at 75-93% of their fastest;
# a drop such as 560 to 370 req/s half-way (66%) or a stalled part lies below 70%.
MIN_SHARE = 0.7
# Parts shorter than this hold too few history rows to say anything.
MIN_WINDOW_S = 2.0


def rule() -> dict:
    """The rule's parameters, as summary.json records them."""
    return {"windows": WINDOWS, "min_share": MIN_SHARE, "min_window_s": MIN_WINDOW_S}


def rule_text(params: dict | None = None) -> str:
    """The rule (`rule()`, or the parameters a summary recorded) in one sentence."""
    p = params or rule()
    return (f"a repeat is flagged as drifting when, with its steady window (runs "
            f"recorded before series.csv: from the second every user ran) split into "
            f"{p['windows']} equal parts, its slowest part's req/s is below "
            f"{100 * p['min_share']:.0f}% of its fastest part's")


def window_rates(rows: list[tuple[float, float]], windows: int = WINDOWS) -> list[float]:
    """Requests per second in each of `windows` equal parts of the span of `rows`
    ((time, cumulative requests), time increasing)."""
    times, counts = [t for t, _ in rows], [c for _, c in rows]
    start, end = times[0], times[-1]
    edges = [start + (end - start) * k / windows for k in range(windows + 1)]
    at = [value_at(times, counts, e) for e in edges]
    width = (end - start) / windows
    return [(b - a) / width for a, b in zip(at, at[1:], strict=False)]


def judge(history: list[dict], shape: str | None = None) -> dict:
    """The drift verdict of one repeat from its Aggregated history rows: `flagged`, the
    slowest part's share of the fastest (`lowest_share`), the parts' `rates` and their
    length `window_s`; `note` says why a repeat was not judged (flagged False then)."""
    verdict = {"flagged": False, "lowest_share": None, "rates": [], "window_s": None,
               "note": None}
    if shape:
        return verdict | {"note": f"not judged: the load shape {shape!r} varies the users"}
    users = [h.get("users") for h in history]
    peak = max((u for u in users if u is not None), default=None)
    # From the first row at which every user ran: the spawn is not a drift.
    first = next((i for i, u in enumerate(users) if u == peak), 0) if peak else 0
    rows, last_t = [], None
    for h in history[first:]:
        if last_t is None or h["t"] > last_t:
            rows.append((h["t"], h["requests"]))
            last_t = h["t"]
    span = rows[-1][0] - rows[0][0] if len(rows) >= 2 else 0.0
    if span < WINDOWS * MIN_WINDOW_S:
        return verdict | {"note": f"not judged: {span:.0f} s of history with every user "
                                  f"running, under {WINDOWS} x {MIN_WINDOW_S:.0f} s"}
    rates = window_rates(rows)
    if max(rates) <= 0:
        return verdict | {"note": "not judged: no request was answered"}
    share = min(rates) / max(rates)
    return verdict | {"flagged": share < MIN_SHARE, "lowest_share": share, "rates": rates,
                      "window_s": span / WINDOWS}
