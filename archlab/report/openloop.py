"""What the report says about an open loop: both architectures offered the same requests
at the same times, their latencies counted from each request's intended send time.

A closed loop at saturation states one fact twice (throughput = users / response time);
an open loop below both capacities compares latency at equal offered load, which is
what a shop's visitors see. The corrected figures include the time a request waited
because the server (or every connection to it) was busy; the uncorrected ones, what a
closed-loop tool would report, are shown beside them.
"""

from archlab.report.words import (
    NOT_DISTINGUISHABLE,
    distinguishable,
    invert,
    noun,
    num,
    ratio_ci,
    ratio_text,
)


def is_open(summary: dict) -> bool:
    """Whether the summary's own repeats are an open loop (no users)."""
    return (summary.get("workload") or {}).get("users") is None and any(
        f.get("open_loop") for a in summary["arch"].values() for f in a.get("repeats", []))


def offered(summary: dict) -> str:
    """'36 req/s for 20 s' from the first repeat's schedule (all repeats share it)."""
    for a in summary["arch"].values():
        for f in a["repeats"]:
            if f.get("open_loop") and f["open_loop"].get("steps"):
                return ", then ".join(f"{rps:g} req/s for {seconds:g} s"
                                      for rps, seconds in f["open_loop"]["steps"])
    return "an unrecorded rate"


def lead(summary: dict) -> str | None:
    """'At the same offered load (36 req/s), the monolith's p95 response time counted
    from each request's intended send time was 0.47x the microservices' (95% CI ...)';
    not a finding when the interval includes 1."""
    ratios = summary.get("ratios") or {}
    p95 = ratios.get("corrected_p95")
    if not p95 or p95.get("value") is None:
        return None
    first, second = ratios["numerator"], ratios["denominator"]
    if p95["value"] > 1:  # the architecture with the lower latency as the subject
        first, second, p95 = second, first, invert(p95)
    subject, owner, _ = noun(first)
    other = noun(second)[1]
    where = f"At the same offered load ({offered(summary)})"
    if not distinguishable(p95):
        return (f"{where}, the p95 response times counted from each request's intended "
                f"send time were {NOT_DISTINGUISHABLE} ({p95['value']:.2f}x, "
                f"{ratio_ci(p95)}).")
    return (f"{where}, {owner} p95 response time counted from each request's intended "
            f"send time was {p95['value']:.2f}x {other} ({ratio_ci(p95)}).")


def _cell(stats: dict, key: str) -> str:
    est = stats.get(key)
    if not est:
        return "-"
    # A t interval can reach below zero; a latency or a rate cannot.
    spread = (f" [{num(max(est['ci95'][0], 0))}–{num(est['ci95'][1])}]"
              if est.get("ci95") else "")
    return num(est["mean"]) + spread


def _uncorrected(figures: list[dict]) -> str:
    """Mean uncorrected p95 / p99 over the repeats."""
    loops = [f["open_loop"] for f in figures if f.get("open_loop")]
    if not loops:
        return "-"

    def mean(key: str) -> float | None:
        values = [loop["uncorrected"][key] for loop in loops
                  if loop["uncorrected"].get(key) is not None]
        return sum(values) / len(values) if values else None

    return f"{num(mean('p95_ms'))} / {num(mean('p99_ms'))}"


def _arrivals(figures: list[dict]) -> str:
    """'1,800 sent, 0 unanswered' over the repeats."""
    loops = [f["open_loop"] for f in figures if f.get("open_loop")]
    intended = sum(loop["intended"] for loop in loops)
    unfinished = sum(loop["unfinished"] or 0 for loop in loops)
    return f"{intended:,} due, {unfinished:,} unanswered"


def table_rows(summary: dict) -> list[list[str]]:
    """One row per architecture: goodput, corrected percentiles with intervals, the
    uncorrected p95/p99, arrivals, and repeats whose generator fell behind."""
    rows = []
    for arch in summary["architectures"]:
        a = summary["arch"][arch]
        behind = ", ".join(map(str, a.get("behind_schedule_repeats") or [])) or "none"
        rows.append([arch, str(a["n"]), _cell(a["stats"], "goodput_rps"),
                     _cell(a["stats"], "corrected_p50_ms"),
                     _cell(a["stats"], "corrected_p95_ms"),
                     _cell(a["stats"], "corrected_p99_ms"),
                     _uncorrected(a["repeats"]), _arrivals(a["repeats"]), behind])
    return rows


COLUMNS = ["architecture", "n", "goodput req/s [95% CI]", "p50 ms [CI]", "p95 ms [CI]",
           "p99 ms [CI]", "uncorrected p95 / p99 ms", "arrivals", "behind schedule"]


def ratio_rows(summary: dict) -> list[list[str]]:
    """The corrected percentiles' ratios, as the summary table words every ratio."""
    ratios = summary.get("ratios") or {}
    return [[f"corrected {name}", ratio_text(ratios.get(f"corrected_{name}"))]
            for name in ("p50", "p95", "p99") if ratios.get(f"corrected_{name}")]


def how(summary: dict, capacity: dict | None, share: float | None) -> str:
    """How the rate was chosen and what the loop does."""
    loop = summary["workload"]
    slots = loop.get("max_in_flight")
    chosen = ""
    if capacity:
        said = ", ".join(f"{arch} {num(rps, 'req/s')}" for arch, rps in capacity.items())
        part = f"{share:g} of " if share else ""
        chosen = (f"Each architecture's capacity came first, from this run's closed loop "
                  f"(mean goodput: {said}); both were then offered {part}the slower "
                  f"one's. ")
    return (f"{chosen}Open loop: {offered(summary)}, evenly spaced (as wrk2 sends them), "
            f"sent whether or not earlier requests had answered, at most "
            f"{slots or 'an unrecorded number of'} in flight (each its own connection); an "
            f"arrival that finds them all busy waits, and that wait counts. Each latency "
            f"is counted from the request's intended send time, so a stall of the server "
            f"shows in every request it delayed (corrected for coordinated omission); the "
            f"uncorrected figures, from the actual send, are what a closed-loop tool "
            f"reports. Both architectures got the same schedule, so their latencies "
            f"compare at equal offered load"
            # Below both capacities only where this run measured them.
            + (", below both capacities." if capacity and share and share <= 1 else "."))


def warnings(summary: dict) -> list[str]:
    """The generator fell behind, or arrivals went unanswered: said, never hidden."""
    out = []
    for arch in summary["architectures"]:
        a = summary["arch"][arch]
        if a.get("behind_schedule_repeats"):
            out.append(f"{arch} repeat(s) {', '.join(map(str, a['behind_schedule_repeats']))}: "
                       "the load generator fell behind its schedule (its 99th percentile "
                       "wake-up later than the limit), so it, not the system, delayed some "
                       "requests: their corrected latencies overstate the system's.")
        if a.get("unfinished_repeats"):
            out.append(f"{arch} repeat(s) {', '.join(map(str, a['unfinished_repeats']))}: "
                       "some arrivals were not answered by the end of the drain: the rate "
                       "was above what this architecture served then, and their latencies "
                       "are missing from the percentiles (which understate it).")
    return out
