"""What the report says about an open loop: both architectures offered the same requests
at the same times, their latencies counted from each request's intended send time.

A closed loop at saturation states one fact twice (throughput = users / response time);
an open loop below both capacities compares latency at equal offered load, which is
what a shop's visitors see. The corrected figures include the time a request waited
because the server (or every connection to it) was busy; the uncorrected ones, what a
closed-loop tool would report, are shown beside them.

The headline figures are those of successful, complete answers; failed requests,
degraded answers and arrivals left unanswered at the drain's end are shown apart (the
last as lower bounds, "≥ x"). The rate is arrivals per second (one persona task each),
with the requests answered per second beside it. A percentile read from fewer samples
than it needs (archlab.report.stats.samples_needed) is shown greyed with its count.
Repeats recorded before openloop.json's format 2 lack what was not kept then: those
cells read "-".
"""

from archlab.report import stats
from archlab.report.words import (
    NOT_DISTINGUISHABLE,
    distinguishable,
    invert,
    noun,
    num,
    ratio_ci,
    ratio_text,
)
from loadtests import latency


def is_open(summary: dict) -> bool:
    """Whether the summary's own repeats are an open loop (no users)."""
    return (summary.get("workload") or {}).get("users") is None and any(
        f.get("open_loop") for a in summary["arch"].values() for f in a.get("repeats", []))


def offered(summary: dict) -> str:
    """'36 arrivals/s for 20 s' from the first repeat's schedule (all repeats share it)."""
    for a in summary["arch"].values():
        for f in a["repeats"]:
            if f.get("open_loop") and f["open_loop"].get("steps"):
                return ", then ".join(f"{rate:g} arrivals/s for {seconds:g} s"
                                      for rate, seconds in f["open_loop"]["steps"])
    return "an unrecorded rate"


def lead(summary: dict) -> str | None:
    """'At the same offered load (36 arrivals/s), the monolith's p95 response time counted
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
        return (f"{where}, the p95 response times of successful answers counted from each "
                f"request's intended send time were {NOT_DISTINGUISHABLE} "
                f"({p95['value']:.2f}x, {ratio_ci(p95)}).")
    return (f"{where}, {owner} p95 response time of successful answers counted from each "
            f"request's intended send time was {p95['value']:.2f}x {other} "
            f"({ratio_ci(p95)}).")


# --- summary.json: openloop.json's figures, and all repeats pooled ---------------------

# The latency records openloop.json may hold (format 1 has the first two and the lag).
RECORDS = ("corrected", "uncorrected", "failed", "degraded", "arrival", "arrival_failed",
           "censored", "scheduler_lag", "slot_wait", "send_delay")
PARTS = ("lateness", "slot_wait", "service")


def marked(record: dict | None) -> dict | None:
    """A latency record without its encoded histogram, each percentile marked with its
    sample count and whether that count supports it (stats.percentile_support)."""
    if not record:
        return record
    out = {k: v for k, v in record.items() if k != "hdr"}
    out["support"] = {key: stats.percentile_support(out.get("count"), p)
                      for key, p in latency.PERCENTILES.items()}
    return out


def figures(loop: dict) -> dict:
    """openloop.json for summary.json: every count and record, without the encoded
    histograms and the per-name records, each percentile marked; a format 1 file gets
    the defaults it lacked."""
    out = {}
    for key, value in loop.items():
        if key == "by_name":
            continue
        if key == "parts":
            out[key] = {name: marked(record) for name, record in value.items()}
        elif key == "by_step":
            out[key] = [figures(step) for step in value]
        elif isinstance(value, dict) and "count" in value:
            out[key] = marked(value)
        else:
            out[key] = value
    out.setdefault("format", 1)
    out.setdefault("unfinished", 0)
    out["behind_schedule"] = bool(loop.get("behind_schedule"))
    if "intended" in loop and "completed" in loop:  # a whole schedule, not a step
        out.setdefault("complete", True)
    return out


def _merge(records: list[dict | None]):
    """The histograms of `records` merged; None when no record has one."""
    have = [r for r in records if isinstance(r, dict)]
    if not have:
        return None
    return latency.merged(*(latency.decode(r.get("hdr")) for r in have))


def _mean(values: list) -> float | None:
    values = [v for v in values if v is not None]
    return sum(values) / len(values) if values else None


def _pool(loops: list[dict]) -> dict:
    """One part (the whole schedule or a step) of every repeat, pooled."""
    out = {}
    for key in RECORDS:
        merged = _merge([loop.get(key) for loop in loops])
        out[key] = marked(latency.describe(merged)) if merged else None
    answered = _merge([loop.get(k) for loop in loops for k in ("arrival", "arrival_failed")])
    censored = _merge([loop.get("censored") for loop in loops])
    out["all_arrivals"] = (marked(latency.describe_censored(answered, censored or
                                                            latency.new_histogram()))
                           if answered or censored else None)
    out["parts"] = {}
    for name in PARTS:
        merged = _merge([(loop.get("parts") or {}).get(name) for loop in loops])
        out["parts"][name] = marked(latency.describe(merged)) if merged else None
    for key in ("arrivals_per_s", "answered_rps", "goodput_rps", "rate", "seconds"):
        out[key] = _mean([loop.get(key) for loop in loops])
    for key in ("intended", "unfinished", "failed_arrivals"):
        out[key] = (sum(loop[key] for loop in loops)
                    if all(key in loop for loop in loops) else None)
    out["requests"] = ({k: sum(loop["requests"][k] for loop in loops)
                        for k in ("ok", "failed", "degraded")}
                       if all("requests" in loop for loop in loops) else None)
    return out


def pooled(loops: list[dict | None]) -> dict | None:
    """Every repeat's openloop.json pooled (histograms merged, counts summed, rates
    averaged), in total and per step; None unless every repeat is an open loop."""
    if not loops or not all(loops):
        return None
    out = _pool(loops)
    out["format"] = min(loop.get("format", 1) for loop in loops)
    steps = min(len(loop.get("by_step") or []) for loop in loops)
    out["by_step"] = [_pool([loop["by_step"][i] for loop in loops]) for i in range(steps)]
    return out


# --- the report's cells and tables ------------------------------------------------------


class Greyed(str):
    """A table cell shown greyed: a percentile read from too few samples to support it
    (the text says so in parentheses with the count; HTML adds the class `css`)."""

    css = "unsupported"


def percentile_cell(text: str, count: int | None, p: float) -> str:
    """`text` as it is, or greyed as '(text, n = 470)' when `count` samples do not
    support the percentile `p`."""
    if text == "-" or stats.percentile_support(count, p)["supported"]:
        return text
    return Greyed(f"({text}, n = {count or 0:,})")


def record_cell(record: dict | None, key: str) -> str:
    """A pooled record's percentile `key` ("p95"): '12.3', '≥ 12.3' when unanswered
    arrivals reach into it, greyed when its count does not support it."""
    if not record or record.get(f"{key}_ms") is None:
        return "-"
    bound = (record.get("lower_bound") or {}).get(key)
    return percentile_cell(("≥ " if bound else "") + num(record[f"{key}_ms"]),
                           record.get("count"), latency.PERCENTILES[key])


def _cell(stats_: dict, key: str) -> str:
    est = stats_.get(key)
    if not est:
        return "-"
    # A t interval can reach below zero; a latency or a rate cannot.
    spread = (f" [{num(max(est['ci95'][0], 0))}–{num(est['ci95'][1])}]"
              if est.get("ci95") else "")
    return num(est["mean"]) + spread


def _loops(figures_: list[dict]) -> list[dict]:
    return [f["open_loop"] for f in figures_ if f.get("open_loop")]


def _fewest(figures_: list[dict], record: str = "corrected") -> int | None:
    """The smallest sample count of a record over the repeats (what a mean of their
    percentiles rests on)."""
    counts = [loop[record].get("count") for loop in _loops(figures_) if loop.get(record)]
    return min(counts) if counts else None


def _uncorrected(figures_: list[dict]) -> str:
    """Mean uncorrected p95 / p99 over the repeats."""
    loops = _loops(figures_)
    if not loops:
        return "-"

    def mean(key: str) -> float | None:
        return _mean([loop["uncorrected"].get(key) for loop in loops])

    fewest = _fewest(figures_, "uncorrected")
    return (f"{percentile_cell(num(mean('p95_ms')), fewest, 95)} / "
            f"{percentile_cell(num(mean('p99_ms')), fewest, 99)}")


def _arrivals(figures_: list[dict]) -> str:
    """'1,800 due, 0 unanswered' over the repeats."""
    loops = _loops(figures_)
    intended = sum(loop["intended"] for loop in loops)
    unfinished = sum(loop["unfinished"] or 0 for loop in loops)
    return f"{intended:,} due, {unfinished:,} unanswered"


def _outcomes(figures_: list[dict]) -> str:
    """'3 / 0': failed and degraded requests over the repeats ('-' before format 2)."""
    loops = [loop for loop in _loops(figures_) if loop.get("requests")]
    if not loops:
        return "-"
    return (f"{sum(loop['requests']['failed'] for loop in loops):,} / "
            f"{sum(loop['requests']['degraded'] for loop in loops):,}")


def _rate(figures_: list[dict], key: str) -> str:
    return num(_mean([loop.get(key) for loop in _loops(figures_)]))


def _goodput(arch: dict) -> str:
    """Successful, complete answers per second of the schedule, mean over the repeats
    with its interval (format 1 files lack it: the summary's goodput then)."""
    values = [loop.get("goodput_rps") for loop in _loops(arch["repeats"])]
    if not values or None in values:
        return _cell(arch["stats"], "goodput_rps")
    return _cell({"goodput_rps": stats.estimate(values).to_dict()}, "goodput_rps")


def table_rows(summary: dict) -> list[list[str]]:
    """One row per architecture: offered arrivals/s and answered req/s, goodput, the
    successful answers' corrected percentiles with intervals, the uncorrected p95/p99,
    failed and degraded requests, arrivals, and repeats whose generator fell behind."""
    rows = []
    for arch in summary["architectures"]:
        a = summary["arch"][arch]
        behind = ", ".join(map(str, a.get("behind_schedule_repeats") or [])) or "none"
        fewest = _fewest(a["repeats"])
        rows.append([arch, str(a["n"]), _rate(a["repeats"], "arrivals_per_s"),
                     _rate(a["repeats"], "answered_rps"), _goodput(a),
                     *(percentile_cell(_cell(a["stats"], f"corrected_p{p}_ms"), fewest, p)
                       for p in (50, 95, 99)),
                     _uncorrected(a["repeats"]), _outcomes(a["repeats"]),
                     _arrivals(a["repeats"]), behind])
    return rows


COLUMNS = ["architecture", "n", "offered arrivals/s", "answered req/s",
           "goodput req/s [95% CI]", "p50 ms [CI]", "p95 ms [CI]", "p99 ms [CI]",
           "uncorrected p95 / p99 ms", "failed / degraded requests", "arrivals",
           "behind schedule"]
ALIGN = "lrrrrrrrrrll"


def _pooled(summary: dict, arch: str) -> dict:
    return summary["arch"][arch].get("open_loop_pooled") or {}


def parts_rows(summary: dict) -> list[list[str]]:
    """Per architecture, all repeats pooled: where the successful answers' corrected
    latency went (means add up; p99s do not)."""
    rows = []
    for arch in summary["architectures"]:
        pool = _pooled(summary, arch)
        parts = pool.get("parts") or {}
        corrected = pool.get("corrected") or {}
        if not all(parts.get(name) for name in PARTS) or not corrected.get("mean_ms"):
            continue
        total = corrected["mean_ms"]
        means = [parts[name]["mean_ms"] for name in PARTS]
        rows.append([arch, num(total)]
                    + [f"{num(ms)} ({100 * ms / total:.0f}%)" for ms in means]
                    + [record_cell(parts[name], "p99") for name in PARTS])
    return rows


PARTS_COLUMNS = ["architecture", "corrected mean ms", "generator lateness mean ms",
                 "slot wait mean ms", "service time mean ms", "lateness p99 ms",
                 "slot wait p99 ms", "service p99 ms"]


def arrival_rows(summary: dict) -> list[list[str]]:
    """Per architecture, all repeats pooled: each arrival's whole task (due -> its last
    answer), the successful ones, then all of them with the unanswered as lower bounds."""
    rows = []
    for arch in summary["architectures"]:
        pool = _pooled(summary, arch)
        if not pool.get("all_arrivals"):
            continue
        ok, every = pool.get("arrival"), pool["all_arrivals"]
        rows.append([arch, f"{(ok or {}).get('count') or 0:,}",
                     *(record_cell(ok, key) for key in ("p50", "p95", "p99")),
                     f"{every.get('count') or 0:,}",
                     *(record_cell(every, key) for key in ("p50", "p95", "p99")),
                     f"{pool.get('failed_arrivals') or 0:,}", f"{every.get('censored') or 0:,}"])
    return rows


ARRIVAL_COLUMNS = ["architecture", "successful arrivals", "p50 ms", "p95 ms", "p99 ms",
                   "all arrivals", "p50 ms", "p95 ms", "p99 ms", "failed arrivals",
                   "of which unanswered"]


def step_rows(summary: dict) -> list[list[str]]:
    """Per architecture and step of a multi-step schedule (all repeats pooled): offered
    arrivals/s, answered req/s, the successful answers' corrected percentiles and the
    unanswered."""
    rows = []
    for arch in summary["architectures"]:
        steps = _pooled(summary, arch).get("by_step") or []
        if len(steps) < 2:
            continue
        for index, step in enumerate(steps, start=1):
            rows.append([arch, str(index), num(step.get("arrivals_per_s")),
                         num(step.get("answered_rps")),
                         *(record_cell(step.get("corrected"), key)
                           for key in ("p50", "p95", "p99")),
                         record_cell(step.get("all_arrivals"), "p99"),
                         f"{step.get('unfinished') or 0:,}"])
    return rows


STEP_COLUMNS = ["architecture", "step", "offered arrivals/s", "answered req/s", "p50 ms",
                "p95 ms", "p99 ms", "all arrivals p99 ms", "unanswered"]


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
                  f"one's, as arrivals per second. ")
    return (f"{chosen}Open loop: {offered(summary)}, evenly spaced (as wrk2 sends them), "
            f"sent whether or not earlier ones had answered. Each arrival runs one task "
            f"of a persona (one or more requests), so the requests answered per second "
            f"are shown beside the arrivals. At most {slots or 'an unrecorded number of'} "
            f"arrivals are in flight (each slot its own connection, opened before the "
            f"schedule starts); an arrival that finds them all busy waits, and that wait "
            f"counts. Each request's corrected latency is its response time plus the delay "
            f"its whole task was shifted by: the generator's own lateness and the wait for "
            f"a slot, so a stall of the server shows in every request it delayed "
            f"(corrected for coordinated omission); the uncorrected figures, from the "
            f"actual send, are what a closed-loop tool reports. The headline percentiles "
            f"are those of successful, complete answers; failed requests and degraded "
            f"answers are kept apart, and arrivals still unanswered when the "
            f"{num(latency.DRAIN_S)}-s drain ended count as failed, their wait so far "
            f"kept as a lower bound. Both architectures got the same schedule, so their "
            f"latencies compare at equal offered load"
            # Below both capacities only where this run measured them.
            + (", below both capacities." if capacity and share and share <= 1 else "."))


def schedule_rows(loop: dict) -> list[list[str]]:
    """Per repeat: the generator's lateness, the successful answers' corrected median,
    the limit drawn from it and the verdict."""
    rows = []
    for arch in loop["architectures"]:
        for r in loop["arch"][arch]["repeats"]:
            o = r.get("open_loop")
            if not o:
                continue
            lag = o["scheduler_lag"]
            limit = o.get("lag_limit_ms")
            # Format 1 judged against an absolute limit; say which.
            rule = (f"{num(limit)} (absolute)" if o.get("format", 1) < 2 else num(limit))
            rows.append([arch, str(r["repeat"]), num(lag.get("p50_ms")),
                         percentile_cell(num(lag.get("p99_ms")), lag.get("count"), 99),
                         num(lag.get("max_ms")), num(o.get("corrected_p50_ms")), rule,
                         "BEHIND" if o["behind_schedule"] else "ok"])
    return rows


SCHEDULE_COLUMNS = ["architecture", "open-loop repeat", "lateness p50 ms", "p99 ms",
                    "max ms", "corrected p50 ms", "limit ms", "verdict"]


def schedule_text() -> str:
    """What the schedule check judges, and why against the measured latency."""
    share = f"{100 * latency.LAG_SHARE:.0f}%"
    return (f"The open loop checks its own schedule: each arrival is due at a set time, "
            f"and how late the generator began it (its lateness) is recorded. A repeat "
            f"whose 99th percentile lateness is over {share} of the median corrected "
            f"latency of its successful answers fell behind its schedule: the generator's "
            f"own lateness is then a visible part of what the corrected figures attribute "
            f"to the system. The limit follows the measured latency because a fixed one "
            f"(such as 10 ms) is larger than a fast system's whole answer. Repeats "
            f"recorded before this rule were judged against an absolute limit "
            f"(marked so).")


def warnings(summary: dict) -> list[str]:
    """The generator fell behind, arrivals went unanswered, or a repeat was recorded
    before failures were kept apart: said, never hidden."""
    out = []
    for arch in summary["architectures"]:
        a = summary["arch"][arch]
        if a.get("behind_schedule_repeats"):
            out.append(f"{arch} repeat(s) {', '.join(map(str, a['behind_schedule_repeats']))}: "
                       "the load generator fell behind its schedule (its 99th percentile "
                       f"lateness over {100 * latency.LAG_SHARE:.0f}% of the median "
                       "corrected latency), so it, not the system, delayed a visible share "
                       "of the requests: their corrected latencies overstate the system's. "
                       "See Where the corrected time went and the generator self-check.")
        if a.get("unfinished_repeats"):
            out.append(f"{arch} repeat(s) {', '.join(map(str, a['unfinished_repeats']))}: "
                       "some arrivals were not answered by the end of the drain: the rate "
                       "was above what this architecture served then (or requests hung). "
                       "They count as failed arrivals, and the all-arrivals percentiles "
                       "hold their wait so far as a lower bound (shown \"≥\").")
        old = [r["repeat"] for r in a["repeats"]
               if r.get("open_loop") and r["open_loop"].get("format", 1) < 2]
        if old:
            out.append(f"{arch} repeat(s) {', '.join(map(str, old))} were recorded before "
                       "the open loop kept failed and degraded answers apart and kept "
                       "unanswered arrivals: their corrected percentiles include failures, "
                       "and leave out the arrivals unanswered at the drain's end.")
    return out
