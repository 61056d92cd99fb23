"""The open loop's schedule and its latency records, without Locust: the report reads
openloop.json with these too (loadtests.openloop sends the load).

Latencies are kept as HdrHistograms (the hdrhistogram package) in microseconds, so a
repeat's whole distribution is kept exactly enough to merge repeats and read any
percentile, in a few hundred bytes of text.
"""

import base64

from hdrh.histogram import HdrHistogram

FORMAT = 1
# Microseconds, 1 us .. 10 min, 3 significant digits (HdrHistogram's usual precision).
LOWEST_US, HIGHEST_US, DIGITS = 1, 600_000_000, 3
# The scheduler counts as behind when its 99th percentile wake-up is later than this:
# the generator, not the server, then delayed the requests it should have sent.
LAG_LIMIT_MS = 10.0
# After the last intended send, arrivals still waiting or in flight get this long.
DRAIN_S = 10.0


def intended_offsets(steps: list[tuple[float, float]]):
    """Seconds from the start at which each request is due: evenly spaced at each step's
    rate (as wrk2 spaces them), one step after another."""
    begin = 0.0
    for rps, seconds in steps:
        count = round(rps * seconds)
        for i in range(count):
            yield begin + i / rps
        begin += seconds


def new_histogram() -> HdrHistogram:
    return HdrHistogram(LOWEST_US, HIGHEST_US, DIGITS)


def record_ms(histogram: HdrHistogram, ms: float) -> None:
    """Record a latency in ms (clamped into the histogram's range)."""
    histogram.record_value(min(max(int(ms * 1000), LOWEST_US), HIGHEST_US))


def describe(histogram: HdrHistogram) -> dict:
    """Count, percentiles in ms and the encoded histogram (base64 text)."""
    count = histogram.get_total_count()

    def at(p: float) -> float | None:
        return histogram.get_value_at_percentile(p) / 1000 if count else None

    return {"count": count, "p50_ms": at(50), "p95_ms": at(95), "p99_ms": at(99),
            "p999_ms": at(99.9), "max_ms": histogram.get_max_value() / 1000 if count else None,
            "hdr": base64.b64encode(histogram.encode()).decode("ascii") if count else None}


def decode(text: str | None) -> HdrHistogram:
    """A histogram from describe()'s "hdr" text (empty when None)."""
    histogram = new_histogram()
    if text:
        histogram.add(HdrHistogram.decode(base64.b64decode(text)))
    return histogram


def count_at_or_above(histogram: HdrHistogram, ms: float) -> int:
    """How many recorded latencies were `ms` or more."""
    return sum(item.count_at_value_iterated_to for item in histogram.get_recorded_iterator()
               if item.value_iterated_to >= ms * 1000)


class Recorder:
    """Corrected and uncorrected latencies, in total and per request name, plus the
    scheduler's lateness and each arrival's wait for a slot."""

    def __init__(self):
        self.corrected = new_histogram()
        self.uncorrected = new_histogram()
        self.by_name: dict[str, tuple[HdrHistogram, HdrHistogram]] = {}
        self.lag = new_histogram()
        self.delay = new_histogram()
        self.intended = self.sent = self.completed = 0

    def request(self, name: str, response_ms: float, carried_ms: float) -> None:
        """One answered request: its own time, and that time plus the wait it carries."""
        pair = self.by_name.setdefault(name, (new_histogram(), new_histogram()))
        for corrected, uncorrected in ((self.corrected, self.uncorrected), pair):
            record_ms(corrected, response_ms + carried_ms)
            record_ms(uncorrected, response_ms)

    def to_dict(self, steps, max_in_flight: int, started_at: float | None,
                complete: bool) -> dict:
        """openloop.json's content."""
        lag = describe(self.lag)
        behind = lag["p99_ms"] is not None and lag["p99_ms"] > LAG_LIMIT_MS
        return {
            "format": FORMAT, "complete": complete, "steps": [list(s) for s in steps],
            "max_in_flight": max_in_flight, "started_at_epoch": started_at,
            "intended": self.intended, "sent": self.sent, "completed": self.completed,
            "unfinished": self.intended - self.completed,
            "scheduler_lag": lag, "lag_limit_ms": LAG_LIMIT_MS, "behind_schedule": behind,
            "send_delay": describe(self.delay),
            "corrected": describe(self.corrected), "uncorrected": describe(self.uncorrected),
            "by_name": {name: {"corrected": describe(c), "uncorrected": describe(u)}
                        for name, (c, u) in sorted(self.by_name.items())},
        }
