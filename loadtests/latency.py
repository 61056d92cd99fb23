"""The open loop's schedule and its latency records, without Locust: the report reads
openloop.json with these too (loadtests.openloop sends the load).

Latencies are kept as HdrHistograms (the hdrhistogram package) in microseconds, so a
repeat's whole distribution is kept exactly enough to merge repeats and read any
percentile, in a few hundred bytes of text.

What is kept apart, and why:

- Requests by outcome: successful, complete answers (`corrected`/`uncorrected`, the
  headline), failed requests (`failed`: Locust's request event carried an exception) and
  degraded answers (`degraded`: a success the locustfile logged as incomplete). A fast
  error is not a fast answer, so mixing them would flatter a failing system.
- Arrivals (one persona task each, from its due time to the task's end): `arrival` for
  arrivals whose every answer succeeded, `arrival_failed` for the others, and
  `censored` for arrivals still waiting for a slot or in flight when the drain ended.
  A censored arrival took at least (drain end - due): that lower bound is recorded, so
  the slowest arrivals are not dropped from the percentiles (a second coordinated
  omission, at the end). `all_arrivals` merges the three; a percentile of it at or
  above the smallest censored value is only a lower bound ("lower_bound").
- Steps: every arrival belongs to the step its due time falls in; each step has the
  same records as the whole (`by_step`).

The corrected latency of a request is its response time plus the delay the whole task
was shifted by: the arrival's generator lateness (its greenlet began this long after
its due time) plus its slot wait (from then until a slot was free). A task's later
requests are sent when the earlier ones have answered, so had the task started on time
each of them would have been sent that much earlier: every request of the arrival
carries the same shift. `parts` splits the successful answers' corrected latency into
the three (lateness, slot wait, service time = the uncorrected latency), recorded per
request, so their means add up to the corrected mean.

The generator is behind its schedule when its lateness at the 99th percentile is over
LAG_SHARE of the successful answers' corrected median: then the generator, not the
system, made a visible share of the latency it reports.
"""

import base64
from dataclasses import dataclass

from hdrh.histogram import HdrHistogram

# 2: outcomes, arrivals, censored arrivals, steps, parts, relative lag limit.
FORMAT = 2
# Microseconds, 1 us .. 10 min, 3 significant digits (HdrHistogram's usual precision).
LOWEST_US, HIGHEST_US, DIGITS = 1, 600_000_000, 3
# Behind schedule: lateness p99 over this share of the corrected p50 of successes.
LAG_SHARE = 0.10
# After the last intended send, arrivals still waiting or in flight get this long.
DRAIN_S = 10.0
# The percentiles each record states (key -> percent).
PERCENTILES = {"p50": 50.0, "p95": 95.0, "p99": 99.0, "p999": 99.9}


def intended_offsets(steps: list[tuple[float, float]]):
    """Seconds from the start at which each arrival is due: evenly spaced at each step's
    rate (as wrk2 spaces them), one step after another."""
    for offset, _ in intended_schedule(steps):
        yield offset


def intended_schedule(steps: list[tuple[float, float]]):
    """(seconds from the start, index of its step) of each arrival, in order."""
    begin = 0.0
    for index, (rate, seconds) in enumerate(steps):
        for i in range(round(rate * seconds)):
            yield begin + i / rate, index
        begin += seconds


def new_histogram() -> HdrHistogram:
    """An empty latency histogram (microseconds, 1 us to 10 min, 3 digits)."""
    return HdrHistogram(LOWEST_US, HIGHEST_US, DIGITS)


def record_ms(histogram: HdrHistogram, ms: float) -> None:
    """Record a latency in ms (clamped into the histogram's range)."""
    histogram.record_value(min(max(int(ms * 1000), LOWEST_US), HIGHEST_US))


def merged(*histograms: HdrHistogram) -> HdrHistogram:
    """A new histogram holding every value of `histograms`."""
    out = new_histogram()
    for h in histograms:
        if h.get_total_count():
            out.add(h)
    return out


def describe(histogram: HdrHistogram) -> dict:
    """Count, mean, percentiles in ms and the encoded histogram (base64 text)."""
    count = histogram.get_total_count()

    def at(p: float) -> float | None:
        return histogram.get_value_at_percentile(p) / 1000 if count else None

    return {"count": count, "mean_ms": histogram.get_mean_value() / 1000 if count else None,
            **{f"{key}_ms": at(p) for key, p in PERCENTILES.items()},
            "max_ms": histogram.get_max_value() / 1000 if count else None,
            "hdr": base64.b64encode(histogram.encode()).decode("ascii") if count else None}


def describe_censored(answered: HdrHistogram, censored: HdrHistogram) -> dict:
    """describe() of answered and censored values merged, with `censored` (their count)
    and `lower_bound` per percentile: true where the value is at or above the smallest
    censored one, so the real figure may be higher."""
    record = describe(merged(answered, censored))
    smallest = (censored.get_min_value() / 1000 if censored.get_total_count() else None)
    record["censored"] = censored.get_total_count()
    record["lower_bound"] = {
        key: smallest is not None and record[f"{key}_ms"] is not None
        and record[f"{key}_ms"] >= smallest for key in PERCENTILES}
    return record


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


@dataclass
class Arrival:
    """One arrival's progress (times in seconds on the generator's monotonic clock)."""

    due: float
    step: int
    started: float | None = None     # its greenlet began
    slotted: float | None = None     # it got a slot
    carried_ms: float = 0.0          # lateness + slot wait: what each request carries
    requests: int = 0
    failed: bool = False             # a request failed, or the task raised
    degraded: bool = False           # an answer was degraded
    done: bool = False               # its task ended (or it was censored)


# The histograms of a Tally, in openloop.json's order.
RECORDS = ("corrected", "uncorrected", "failed", "degraded", "scheduler_lag", "slot_wait",
           "arrival", "arrival_failed", "censored")


class Tally:
    """Histograms and counts of one part of the schedule (a step, or the whole)."""

    def __init__(self):
        for name in RECORDS:
            setattr(self, name, new_histogram())
        # Per successful request: the arrival's lateness and slot wait (see the module).
        self.part_lateness = new_histogram()
        self.part_slot_wait = new_histogram()
        self.intended = self.sent = self.completed = 0
        self.waiting = self.in_flight = 0  # unfinished at the drain's end, by state
        self.ok = self.n_failed = self.n_degraded = 0  # requests by outcome
        self.arrivals_failed = 0

    def to_dict(self, seconds: float) -> dict:
        """This part's counts, rates over `seconds` and records."""
        answered = self.ok + self.n_failed + self.n_degraded
        unfinished = self.intended - self.completed
        return {
            "seconds": seconds,
            "arrivals_per_s": self.intended / seconds if seconds else None,
            "answered_rps": answered / seconds if seconds else None,
            "goodput_rps": self.ok / seconds if seconds else None,
            "intended": self.intended, "sent": self.sent, "completed": self.completed,
            "unfinished": unfinished, "unfinished_waiting": self.waiting,
            "unfinished_in_flight": self.in_flight,
            # Unfinished arrivals count as failed: they got no answer.
            "failed_arrivals": self.arrivals_failed + unfinished,
            "requests": {"ok": self.ok, "failed": self.n_failed,
                         "degraded": self.n_degraded},
            **{name: describe(getattr(self, name)) for name in RECORDS},
            "all_arrivals": describe_censored(merged(self.arrival, self.arrival_failed),
                                              self.censored),
            "parts": {"lateness": describe(self.part_lateness),
                      "slot_wait": describe(self.part_slot_wait),
                      "service": describe(self.uncorrected)},
        }


class Recorder:
    """Every arrival's lateness, slot wait, requests and end, in total, per step and
    per request name (see the module docstring for what goes where)."""

    def __init__(self, steps: list[tuple[float, float]]):
        self.steps = [tuple(step) for step in steps]
        self.whole = Tally()
        self.by_step = [Tally() for _ in self.steps]
        self.by_name: dict[str, tuple] = {}
        self.open: list[Arrival] = []  # not yet done
        self.warm = {"slots": 0, "personas": 0, "requests": 0, "failures": 0}
        self.started_at_epoch: float | None = None  # when the schedule's clock started

    def _tallies(self, arrival: Arrival) -> tuple[Tally, Tally]:
        return self.whole, self.by_step[arrival.step]

    def due(self, due: float, step: int) -> Arrival:
        """A new arrival, due at `due`, of step `step`."""
        arrival = Arrival(due, step)
        self.open.append(arrival)
        for t in self._tallies(arrival):
            t.intended += 1
        return arrival

    def started(self, arrival: Arrival, now: float) -> None:
        """The arrival's greenlet began: its lateness."""
        arrival.started = now
        for t in self._tallies(arrival):
            record_ms(t.scheduler_lag, (now - arrival.due) * 1000)

    def slotted(self, arrival: Arrival, now: float) -> None:
        """The arrival got a slot: its slot wait, and the shift its requests carry."""
        arrival.slotted = now
        arrival.carried_ms = (now - arrival.due) * 1000
        for t in self._tallies(arrival):
            t.sent += 1
            record_ms(t.slot_wait, (now - arrival.started) * 1000)

    def request(self, arrival: Arrival, name: str, response_ms: float, *,
                failed: bool = False, degraded: bool = False) -> None:
        """One request of the arrival ended: its response time by outcome."""
        if arrival.done:
            return  # censored at the drain's end: its value is recorded already
        arrival.requests += 1
        corrected = response_ms + arrival.carried_ms
        for t in self._tallies(arrival):
            if failed:
                t.n_failed += 1
                record_ms(t.failed, corrected)
            elif degraded:
                t.n_degraded += 1
                record_ms(t.degraded, corrected)
            else:
                t.ok += 1
                record_ms(t.corrected, corrected)
                record_ms(t.uncorrected, response_ms)
                record_ms(t.part_lateness, (arrival.started - arrival.due) * 1000)
                record_ms(t.part_slot_wait, (arrival.slotted - arrival.started) * 1000)
        arrival.failed |= failed
        arrival.degraded |= degraded and not failed
        if not failed and not degraded:
            pair = self.by_name.setdefault(name, (new_histogram(), new_histogram()))
            record_ms(pair[0], corrected)
            record_ms(pair[1], response_ms)

    def finished(self, arrival: Arrival, now: float, *, failed: bool = False) -> None:
        """The arrival's task ended (`failed`: it raised): due -> now."""
        if arrival.done:
            return
        arrival.done = True
        arrival.failed |= failed
        self.open.remove(arrival)
        bad = arrival.failed or arrival.degraded
        for t in self._tallies(arrival):
            t.completed += 1
            t.arrivals_failed += bad
            record_ms(t.arrival_failed if bad else t.arrival, (now - arrival.due) * 1000)

    def censor(self, drain_end: float) -> None:
        """The drain ended: every arrival not done is censored at drain end - due."""
        for arrival in self.open:
            arrival.done = True
            for t in self._tallies(arrival):
                if arrival.slotted is None:
                    t.waiting += 1
                else:
                    t.in_flight += 1
                record_ms(t.censored, (drain_end - arrival.due) * 1000)
        self.open = []

    def to_dict(self, max_in_flight: int, complete: bool) -> dict:
        """openloop.json's content."""
        whole = self.whole.to_dict(sum(seconds for _, seconds in self.steps))
        lag_p99 = whole["scheduler_lag"]["p99_ms"]
        median = whole["corrected"]["p50_ms"]
        limit = LAG_SHARE * median if median is not None else None
        return {
            "format": FORMAT, "complete": complete,
            "steps": [list(s) for s in self.steps], "max_in_flight": max_in_flight,
            "started_at_epoch": self.started_at_epoch, "drain_s": DRAIN_S, "warm": dict(self.warm),
            **whole,
            "lag_p99_ms": lag_p99, "corrected_p50_ms": median,
            "lag_limit_share": LAG_SHARE, "lag_limit_ms": limit,
            "behind_schedule": (lag_p99 is not None and limit is not None
                                and lag_p99 > limit),
            "by_step": [tally.to_dict(seconds) | {"rate": rate}
                        for (rate, seconds), tally in zip(self.steps, self.by_step,
                                                          strict=True)],
            "by_name": {name: {"corrected": describe(c), "uncorrected": describe(u)}
                        for name, (c, u) in sorted(self.by_name.items())},
        }
