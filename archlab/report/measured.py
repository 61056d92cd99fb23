"""One window for every rate of a repeat: its steady state (archlab.report.steady), over
which requests, throughput, goodput and CPU are all counted, from rows on one wall clock.

Repeats recorded before series.csv and the sampler's cumulative CPU seconds keep their
old figures (requests over Locust's request window, CPU averaged over the sampler's
rows from the measured phase's start for `duration_s`); their window record then says
how far that CPU window lay from the steady window the history shows, which is the
error the single window removes.
"""

from collections import defaultdict

from archlab import windows
from archlab.report import steady
from archlab.report.raw import Repeat

MIB = 2**20
# The generator is late when its event loop's 99th percentile lag exceeds this share of
# the median latency it measured: its own delay is then a visible part of every figure.
LAG_SHARE = 0.10


def load_span(rep: Repeat, start: float) -> tuple[float, float]:
    """When the measured load began and was planned to end: the open loop's schedule
    (its clock starts after the slots are warm), else Locust's test start plus the
    configured duration."""
    loop = rep.openloop
    if loop and loop.get("started_at_epoch") and loop.get("steps"):
        begun = max(start, float(loop["started_at_epoch"]))
        return begun, begun + sum(float(seconds) for _, seconds in loop["steps"])
    return start, start + float(rep.run["duration_s"])


def new_format(rep: Repeat) -> bool:
    """Whether the repeat has the request series and the sampler's cumulative CPU."""
    return bool(rep.series) and any(m.get("cpu_s") is not None and m.get("epoch")
                                    for m in rep.metrics)


def request_window(rep: Repeat) -> tuple[float, float] | None:
    """Locust's first and last request (epoch), when it recorded them."""
    starts = [e["start_time"] for e in rep.locust if e.get("start_time")]
    ends = [e["last_request_timestamp"] for e in rep.locust if e.get("last_request_timestamp")]
    return (min(starts), max(ends)) if starts and ends else None


def window(rep: Repeat) -> dict | None:
    """The repeat's steady window and where the CPU figures' window and the sampler's
    readings lay against it (offsets in seconds: negative = before the steady window's
    edge); None when the repeat recorded no request series or history."""
    if rep.series:
        rows = [(t, c) for t, c, _ in rep.series]
        source = "series"
    else:
        rows = [(h["t"], h["requests"]) for h in rep.history]
        source = "history"
    if len(rows) < 2:
        return None
    start, end = load_span(rep, rows[0][0])
    found = steady.find(rows, start, end)
    t0, t1 = found["start_epoch"], found["end_epoch"]
    measured = rep.run.get("measured") or {}
    if rep.series:
        # CPU over the steady window itself, where the sampler ran in this repeat.
        cpu_from, cpu_to = (t0, t1) if new_format(rep) else (None, None)
        sampled = (measured.get("sampled_from_epoch"), measured.get("sampled_to_epoch"))
    else:
        # The old sampler: rows from the measured phase's start for duration_s.
        began = measured.get("started_at_epoch")
        cpu_from = began
        cpu_to = began + float(rep.run["duration_s"]) if began else None
        sampled = (cpu_from, cpu_to)
    requests = request_window(rep)

    def offset(a, b):
        return round(a - b, 3) if a is not None and b is not None else None

    return found | {
        "source": source,
        "cpu_window": {"start_offset_s": offset(cpu_from, t0),
                       "end_offset_s": offset(cpu_to, t1)},
        "sampled": {"start_offset_s": offset(sampled[0], t0),
                    "end_offset_s": offset(sampled[1], t1)},
        # The sampler's CPU window against Locust's first and last request.
        "cpu_vs_requests": {"start_offset_s": offset(cpu_from, requests[0] if requests
                                                     else None),
                            "end_offset_s": offset(cpu_to, requests[1] if requests
                                                   else None)},
    }


def counts(rep: Repeat, found: dict) -> dict:
    """Requests and failures answered inside the steady window, from series.csv."""
    times = [t for t, _, _ in rep.series]
    t0, t1 = found["start_epoch"], found["end_epoch"]
    return {"requests": windows.growth(times, [c for _, c, _ in rep.series], t0, t1),
            "failures": windows.growth(times, [f for _, _, f in rep.series], t0, t1),
            "seconds": t1 - t0}


def component_use(rep: Repeat, basis: str, found: dict) -> dict[str, dict]:
    """CPU (% of one core) per component from the cumulative CPU seconds at the steady
    window's two ends, and mean memory (MiB) over the samples inside it that read
    `basis` (PSS is read every few seconds; all such samples when none fall inside)."""
    t0, t1 = found["start_epoch"], found["end_epoch"]
    readings = [(m["component"], m["pid"], m["epoch"], m["cpu_s"]) for m in rep.metrics
                if m.get("epoch") is not None and m.get("cpu_s") is not None]
    cpu = windows.cpu_seconds(readings, t0, t1)
    memory: dict[float, dict[str, float]] = defaultdict(lambda: defaultdict(float))
    everywhere: dict[float, dict[str, float]] = defaultdict(lambda: defaultdict(float))
    for m in rep.metrics:
        if m.get("epoch") is None or m[basis] is None:
            continue
        everywhere[m["epoch"]][m["component"]] += m[basis]
        if t0 <= m["epoch"] <= t1:
            memory[m["epoch"]][m["component"]] += m[basis]
    samples = memory or everywhere
    names = sorted(set(cpu) | {c for sample in samples.values() for c in sample})
    span = max(t1 - t0, 1e-9)
    return {c: {"cpu_percent": 100 * cpu.get(c, 0.0) / span,
                "memory_mib": (sum(s.get(c, 0.0) for s in samples.values()) / len(samples)
                               / MIB if samples else 0.0)}
            for c in names}


def drift_rows(rep: Repeat, found: dict) -> list[dict]:
    """The request series inside the steady window as the drift rule reads history rows
    (its ends interpolated onto the window's edges)."""
    times = [t for t, _, _ in rep.series]
    values = [c for _, c, _ in rep.series]
    t0, t1 = found["start_epoch"], found["end_epoch"]
    inside = [(t, c) for t, c in zip(times, values, strict=True) if t0 < t < t1]
    edges = [(t0, windows.value_at(times, values, t0)), *inside,
             (t1, windows.value_at(times, values, t1))]
    return [{"t": t, "requests": c, "users": None} for t, c in edges]


def generator_lag(rep: Repeat, p50_ms: float | None) -> dict | None:
    """The generator's event-loop lag (looplag.json) judged against the median latency
    it measured: late when its p99 is over LAG_SHARE of that p50."""
    if not rep.looplag:
        return None
    lag = rep.looplag["lag"]
    limit = LAG_SHARE * p50_ms if p50_ms else None
    p99 = lag.get("p99_ms")
    return {"p50_ms": lag.get("p50_ms"), "p99_ms": p99, "max_ms": lag.get("max_ms"),
            "count": lag.get("count"), "limit_ms": limit, "share": LAG_SHARE,
            "late": bool(p99 is not None and limit is not None and p99 > limit)}
