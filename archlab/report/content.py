"""What the report says: sections of paragraphs, tables and figures built from the
summary. html.py and markdown.py render the same document, so both say the same."""

import json
from dataclasses import dataclass, field

from archlab import canary, config
from archlab import sizing as sizing_plans
from archlab.report import drift, floor, openloop, published, steady, why, workload
from archlab.report.measured import LAG_SHARE
from archlab.report.stats import t95
from archlab.report.words import (
    NOT_DISTINGUISHABLE,
    distinguishable,
    floor_share,
    invert,
    noun,
    num,
    pct,
    ratio_ci,
    ratio_text,
)
from archlab.windows import SAMPLER_CHECK_POINTS, SAMPLER_CHECK_SHARE
from loadtests.series import PROBE_S as LOOP_PROBE_S

GENERATOR_LIMIT = 80  # % of one core, mean over the measured phase (docs/results-format.md)
# The summary table's rows that have a ratio between the architectures.
RATIO_OF = {"throughput_rps": "throughput", "goodput_rps": "goodput", "p50_ms": "p50",
            "p95_ms": "p95", "p99_ms": "p99", "cpu_ms_per_request": "cpu_per_request"}


@dataclass(frozen=True)
class Para:
    """A paragraph; `kind` is text, lead (the headline) or warning; `term` a bold lead-in."""

    text: str
    term: str = ""
    kind: str = "text"


@dataclass(frozen=True)
class Table:
    """A table of preformatted cells; `align` has one letter per column, l or r."""

    columns: list[str]
    rows: list[list[str]]
    align: str
    caption: str = ""


@dataclass(frozen=True)
class Figure:
    """A chart from charts/<name>.png with a caption saying how to read it."""

    name: str
    title: str
    caption: str


@dataclass
class Section:
    id: str
    title: str
    blocks: list = field(default_factory=list)


@dataclass(frozen=True)
class Document:
    title: str
    subtitle: str
    sections: list[Section]


FIGURES = {
    "throughput": Figure("throughput", "Throughput",
                         "Mean requests per second over the repeats (each repeat's requests "
                         "over its measured window); whiskers are the 95% CI, dots the "
                         "single repeats."),
    "latency": Figure("latency", "Response time percentiles",
                      "p50, p95 and p99 in ms, mean over repeats with the 95% CI."),
    "latency_percentiles": Figure(
        "latency_percentiles", "Response time by percentile",
        "The whole distribution from the merged histograms: the further right, the rarer "
        "the request. A curve that rises steeply at the right has a long tail."),
    "throughput_over_time": Figure(
        "throughput_over_time", "Throughput over time",
        "Requests per second each second of the measured phase, one thin line per repeat: "
        "a steady line is a steady state; a trend means the run was too short or "
        "something saturated. A repeat flagged as drifting is dashed and named."),
    "p95_over_time": Figure("p95_over_time", "p95 over time",
                            "Locust's p95 over its last 10 seconds, each second."),
    "cpu_by_component": Figure("cpu_by_component", "CPU by component",
                               "Mean CPU of each part of the system, stacked; the dashed "
                               "line is the system's core budget."),
    "cpu_per_request": Figure("cpu_per_request", "CPU per request by component",
                              "The system's CPU time per request served (CPU seconds over "
                              "requests in the measured window), stacked by component: "
                              "what one request cost each architecture."),
    "memory_by_component": Figure("memory_by_component", "Memory by component",
                                  "Mean memory of each part of the system, stacked."),
    "rps_per_core": Figure("rps_per_core", "Throughput per core",
                           "Throughput per core of the system's budget."),
    "rps_per_gib": Figure("rps_per_gib", "Throughput per GiB",
                          "Throughput per GiB of the system's memory."),
    "open_loop_latency": Figure(
        "open_loop_latency", "Open loop: response time by percentile",
        "Both architectures at the same offered load, successful answers of all repeats "
        "pooled: solid lines count each request from its intended send time (what a "
        "visitor waits), dashed ones from its actual send (what a closed-loop tool would "
        "report). The gap between them is the delay each task was shifted by: the "
        "generator's own lateness plus the wait for a free slot (a slot is busy while "
        "the server has not answered); Where the corrected time went splits it. A "
        "curve turns faint where too few requests lie beyond its percentile to support "
        "it (fewer than 10)."),
    "open_loop_parts": Figure(
        "open_loop_parts", "Open loop: where the corrected time went",
        "The mean corrected latency of successful answers (beside each architecture's "
        "name), all repeats pooled, split into the generator's lateness (it began the "
        "arrival after its due time), the wait for a free slot and the service time (the "
        "response time itself), as shares of it, each part in ms. Means add up; "
        "percentiles would not."),
    "calibration": Figure("calibration", "Calibration",
                          "Each architecture's req/s as a share of its floor (100% = as "
                          "fast as a bare app doing the same SQL)."),
}


def sizing_policy_text(choice) -> str:
    """The experiment's sizing policy for the held-equal table."""
    if isinstance(choice, dict):
        policy = choice.get("policy", "per-process")
        tpc = choice.get("threads_per_core")
        shares = choice.get("shares")
    else:
        policy, tpc, shares = choice, None, None
    if policy == "equal-total":
        tpc = tpc or sizing_plans.DEFAULT_THREADS_PER_CORE
        # Runs before the probe existed used the stated split.
        where = ({"probe": f"measured by a {choice.get('probe_s')} s probe run of each "
                           "stack with several web processes, before the repeats, "
                           "kept in probe/ of the run folder",
                  "default": "the stated default split"}.get(shares or "default"))
        return (f"equal-total: both stacks' web threads, and their PostgreSQL connections, "
                f"add up to the same totals ({tpc} threads per monolith worker), split "
                f"among the services by a share of CPU each, {where}; the row of each stack "
                "says which shares it used")
    return (f"per-process: every web process one worker per core, "
            f"{sizing_plans.WEB_THREADS} threads each")


def container_limits_text(record: dict) -> str:
    """A compose stack's container limits: the totals, the cores, and each container's."""
    each = ", ".join(f"{name} {limit['cpus']:g} CPU / {limit['memory_mib']} MiB"
                     for name, limit in record["limits"].items())
    return (f"containers limited to {record['cpus']:g} CPUs and {record['memory_mib']} MiB in "
            f"all on cpu {record.get('cpuset') or 'any'}: {each}")


def stack_sizing_text(record: dict) -> str:
    """A stack's sizing as run: each web process's workers x threads (+ fan-out) and
    share, the totals and the plan's notes; older runs' records key by key."""
    if "plan" not in record:
        return ", ".join(f"{k} {v}" for k, v in record.items())
    plan = sizing_plans.from_dict(record["plan"])
    text = sizing_plans.describe(plan)
    # One web process takes the whole split: where shares came from does not matter.
    if plan.shares_source and len(plan.web()) > 1:
        text += f"; shares: {plan.shares_source}"
    return "; ".join([text, f"PostgreSQL max_connections {plan.max_connections}",
                      *plan.notes])


def ci(est: dict | None, as_pct: bool = False) -> str:
    """The 95% interval of an estimate, or why there is none."""
    if not est:
        return "-"
    if est["half_width"] is None:
        return f"none (n = {est['n']})"
    show = pct if as_pct else num
    lo, hi = est["ci95"]
    # Every figure here is non-negative, though a t interval from few repeats can dip
    # below zero.
    return f"{show(max(lo, 0.0))} – {show(hi)}"


def ratio_cell(r: dict | None) -> str:
    """A ratio in a table cell: '2.01x', or '0.46x: not distinguishable in this run'."""
    if not r or r.get("value") is None:
        return ""
    return f"{r['value']:.2f}x" + ("" if distinguishable(r) else f": {NOT_DISTINGUISHABLE}")


def _ratios_sentence(summary: dict, names: list[tuple[str, str]]) -> str:
    """'Ratio monolith / microservices: p50 0.50x (95% CI ...), p95 not distinguishable
    in this run (...).' for a figure's caption; '' without ratios."""
    ratios = summary.get("ratios")
    if not ratios:
        return ""
    said = [f"{label} {ratio_text(ratios.get(key))}" for key, label in names
            if (ratios.get(key) or {}).get("value") is not None]
    if not said:
        return ""
    return (f" Ratio {ratios['numerator']} / {ratios['denominator']}: "
            + "; ".join(said) + ".")


def figure(name: str, summary: dict) -> Figure:
    """A chart with its caption; the throughput and latency charts' captions carry their
    ratios, each stated as a finding only when its interval excludes 1."""
    fig = FIGURES[name]
    if name == "throughput":
        extra = _ratios_sentence(summary, [("throughput", "throughput")])
    elif name == "latency":
        extra = _ratios_sentence(summary, [("p50", "p50"), ("p95", "p95"), ("p99", "p99")])
    elif name == "cpu_per_request":
        extra = _ratios_sentence(summary, [("cpu_per_request", "CPU per request")])
    elif name == "throughput_over_time":
        flagged = _drifting(summary)
        extra = (" Drifting: " + ", ".join(flagged) + "." if flagged else
                 " No repeat drifted by the rule under How to read this.")
    else:
        extra = ""
    return Figure(fig.name, fig.title, fig.caption + extra)


def _drifting(summary: dict) -> list[str]:
    return [f"{arch} repeat {r}" for arch in summary["architectures"]
            for r in summary["arch"][arch].get("drifting_repeats", [])]


def _lead(ratios: dict) -> list[Para]:
    """'The monolith served 1.83x the microservices' goodput (95% CI ...), with 0.52x
    their p95 response time (...)', with the faster architecture as the subject; a ratio
    whose interval includes 1 is said to be not distinguishable in this run, never stated
    as a finding."""
    faster, slower = ratios["numerator"], ratios["denominator"]
    good = ratios.get("goodput") or ratios["throughput"]
    p95 = ratios["p95"]
    if not good["value"] or not p95["value"]:
        return [Para(f"{noun(faster)[0].capitalize()} and {noun(slower)[0]} cannot be "
                     "compared: one of them served nothing successfully.", kind="lead")]
    if good["value"] < 1:
        faster, slower, good, p95 = slower, faster, invert(good), invert(p95)
    first, first_pos, _ = noun(faster)
    second, second_pos, their = noun(slower)
    if distinguishable(p95):
        latency = f"{p95['value']:.2f}x {their} p95 response time ({ratio_ci(p95)})"
    else:
        latency = (f"a p95 response time {NOT_DISTINGUISHABLE} from {second_pos} "
                   f"({p95['value']:.2f}x, {ratio_ci(p95)})")
    if not distinguishable(good):
        p95_said = (f"{first_pos} p95 response time was {p95['value']:.2f}x {second_pos} "
                    f"({ratio_ci(p95)})" if distinguishable(p95) else
                    f"p95 response time: {NOT_DISTINGUISHABLE} ({p95['value']:.2f}x, "
                    f"{ratio_ci(p95)})")
        return [Para(f"Goodput: {NOT_DISTINGUISHABLE} between {first} and {second} "
                     f"({good['value']:.2f}x, {ratio_ci(good)}); {p95_said}.", kind="lead")]
    return [Para(f"{first.capitalize()} served {good['value']:.2f}x {second_pos} goodput "
                 f"(successful, complete answers per second; {ratio_ci(good)}) with "
                 f"{latency}.", kind="lead")]


def _mean(summary: dict, arch: str, metric: str) -> float | None:
    est = summary["arch"][arch]["stats"].get(metric)
    return est["mean"] if est else None


def _repeats_words(arch: str, reps: list[int]) -> str:
    """'monolith repeat 2' or 'monolith repeats 1, 3'."""
    return (f"{arch} repeat {reps[0]}" if len(reps) == 1 else
            f"{arch} repeats {', '.join(map(str, reps))}")


def headline(summary: dict) -> list[Para]:
    """The finding, the workload it holds for and why, computed from the data; then what
    could make them wrong."""
    archs, a = summary["architectures"], summary["arch"]
    if openloop.is_open(summary):
        said = openloop.lead(summary)
        out = [Para(said, kind="lead")] if said else []
    else:
        out = _lead(summary["ratios"]) if summary["ratios"] else []
        said = openloop.lead(summary["open_loop"]) if summary.get("open_loop") else None
        if said:
            out.append(Para(f"{said} See At equal offered load.", kind="lead"))
    if summary.get("workload"):
        out.append(Para(workload.text(summary), term="Workload."))
    because = why.paragraph(summary)
    if because:
        out.append(Para(because, term="Why."))

    def spread(arch: str) -> str:
        est = a[arch]["stats"]["throughput_rps"]
        return f"95% CI {ci(est)}" if est["half_width"] is not None else "a single repeat"

    means = "; ".join(
        f"{arch}: {num(_mean(summary, arch, 'throughput_rps'), 'req/s')} "
        f"({spread(arch)}), goodput {num(_mean(summary, arch, 'goodput_rps'), 'req/s')}, p95 "
        f"{num(_mean(summary, arch, 'p95_ms'), 'ms')}, errors "
        f"{pct(_mean(summary, arch, 'error_rate'))}, n = {a[arch]['n']}"
        for arch in archs)
    out.append(Para(f"Means over repeats. {means}."))
    out += _sold_out_warnings(summary)
    out += _drift_warnings(summary)
    out += _steady_warnings(summary)
    for arch in archs:
        if a[arch]["overloaded_repeats"]:
            reps = a[arch]["overloaded_repeats"]
            which = _repeats_words(arch, reps) + (" was" if len(reps) == 1 else " were")
            out.append(Para(f"{which} flagged generator-overloaded: its figures measure the "
                            "load generator, not the system. See the generator self-check.",
                            kind="warning"))
    for arch in archs:
        if a[arch].get("noisy_repeats"):
            reps = ", ".join(map(str, a[arch]["noisy_repeats"]))
            out.append(Para(f"{arch} repeat(s) {reps}: the host's cores were busy with "
                            "work the stack, the generator and the lab do not explain "
                            "(another program's load): those figures may be off. See Host "
                            "noise.", kind="warning"))
    out += _slow_cpu_warnings(summary)
    cal = summary.get("calibration")
    if cal and cal.get("mismatches"):
        out.append(Para("The attached calibration was made on " +
                        "; on ".join(cal["mismatches"]) + ": its shares may not describe "
                        "this run.", kind="warning"))
    if summary["missing"]:
        missing = ", ".join(f"{m['arch']} {m['repeat']}" for m in summary["missing"])
        out.append(Para(f"Missing repeats: {missing}. The figures use what is there.",
                        kind="warning"))
    if any(a[arch]["n"] < 2 for arch in archs):
        out.append(Para("An architecture with a single repeat has no confidence interval: "
                        "treat its figures as one observation.", kind="warning"))
    if summary["machine"].get("git_dirty"):
        out.append(Para("The working tree had uncommitted changes when this ran (git dirty): "
                        "the commit alone does not say which code was measured.",
                        kind="warning"))
    return out


def _flagged_warnings(summary: dict, key: str, words) -> list[Para]:
    """One warning per architecture whose summary lists repeats under `key`: `words`
    (arch, repeats) says what they were flagged for."""
    out = []
    for arch in summary["architectures"]:
        reps = summary["arch"][arch].get(key) or []
        if reps:
            out.append(Para(words(arch, reps), kind="warning"))
    return out


def _sold_out_warnings(summary: dict) -> list[Para]:
    """A repeat that sold out: its 409s measure the empty shelf, not the architecture."""
    return _flagged_warnings(summary, "sold_out_repeats", lambda arch, reps: (
        f"SOLD OUT: in {_repeats_words(arch, reps)} a product's available stock "
        f"reached 0 (the lowest stock, read after the measured phase). Checkouts of "
        f"it were refused with 409 out_of_stock, so the checkout figures and error "
        f"rate of {'that repeat' if len(reps) == 1 else 'those repeats'} measure "
        f"the sell-out, not the architecture. See the repeats table."))


def _steady_warnings(summary: dict) -> list[Para]:
    """A repeat in which no steady state was found (archlab.report.steady)."""
    out = []
    for arch in summary["architectures"]:
        for r in summary["arch"][arch].get("repeats", []):
            w = r.get("steady") or {}
            if w.get("flagged"):
                out.append(Para(
                    f"{arch} repeat {r['repeat']}: no steady state ({w['reason']}). Its "
                    f"figures are taken over the {w['seconds']:.1f} s the rule kept and "
                    f"are still in the means above; a longer run or warm-up settles it.",
                    kind="warning"))
    return out


def steady_cell(w: dict | None) -> str:
    """'17.0 s (2.0 s cut)', or 'UNSTEADY 4.0 s' when no steady state was found."""
    if not w:
        return "-"
    text = f"{w['seconds']:.1f} s ({w['dropped_s']:.1f} s cut)"
    return f"UNSTEADY {text}" if w.get("flagged") else text


def _drift_warnings(summary: dict) -> list[Para]:
    """A repeat whose throughput drifted within its measured window."""
    out = []
    for arch in summary["architectures"]:
        for r in summary["arch"][arch].get("repeats", []):
            d = r.get("drift") or {}
            if not d.get("flagged"):
                continue
            out.append(Para(
                f"{arch} repeat {r['repeat']}: throughput drifted within its measured "
                f"window: its slowest {d['window_s']:.1f}-s part ran at "
                f"{num(min(d['rates']))} req/s, {100 * d['lowest_share']:.0f}% of its "
                f"fastest ({num(max(d['rates']))} req/s). Its mean averages two different "
                f"states; it is still in the means above. See Throughput over time.",
                kind="warning"))
    return out


def _summary_table(summary: dict) -> Table:
    archs, a = summary["architectures"], summary["arch"]
    rows_spec = [("throughput (req/s)", "throughput_rps", False),
                 ("goodput (req/s)", "goodput_rps", False),
                 ("p50 (ms)", "p50_ms", False), ("p95 (ms)", "p95_ms", False),
                 ("p99 (ms)", "p99_ms", False), ("error rate", "error_rate", True),
                 ("CPU per request (ms)", "cpu_ms_per_request", False)]
    # Beside raw throughput, throughput in the speed canary's time, where recorded.
    canary_rows = any((a[arch]["stats"].get("requests_per_canary") or {}) for arch in archs)
    if canary_rows:
        rows_spec.insert(1, ("requests per canary", "requests_per_canary", False))
    ratios = summary["ratios"]
    columns = ["metric"]
    for arch in archs:
        columns += [f"{arch} (n\u00a0=\u00a0{a[arch]['n']})", "95% CI"]
    if ratios:
        columns += [f"ratio {ratios['numerator']} / {ratios['denominator']}", "95% CI"]
    rows = []
    for label, metric, as_pct in rows_spec:
        row = [label]
        for arch in archs:
            est = a[arch]["stats"].get(metric)
            cell = (pct if as_pct else num)(est["mean"] if est else None)
            if metric in PERCENTILE_OF:  # greyed when a repeat had too few requests
                cell = openloop.percentile_cell(cell, _fewest(a[arch], metric),
                                                PERCENTILE_OF[metric])
            row += [cell, ci(est, as_pct)]
        if ratios:
            r = ratios.get(RATIO_OF.get(metric, ""))
            row += ([ratio_cell(r), ratio_ci(r).removeprefix("95% CI ")]
                    if r and r["value"] is not None else ["", ""])
        rows.append(row)
    row = ["degraded answers, all repeats"]
    for arch in archs:
        degraded = a[arch].get("degraded")
        row += ["not recorded" if degraded is None else f"{degraded:,}", ""]
    rows.append(row + (["", ""] if ratios else []))
    counts = [("errors, all repeats", "errors"), ("of which 409", "conflicts_409"),
              ("Locust exceptions", "exceptions"), ("201 checkouts seen", "checkouts")]
    for label, key in counts if buys(summary) else [counts[0], counts[2]]:
        row = [label]
        for arch in archs:
            row += [f"{sum(r[key] for r in a[arch]['repeats']):,}", ""]
        rows.append(row + (["", ""] if ratios else []))
    return Table(columns, rows, "l" + "r" * (len(columns) - 1),
                 "Means over repeats with the 95% confidence interval (t distribution, "
                 "n - 1 degrees of freedom); the ratios' intervals are explained under How "
                 "to read this. Throughput counts every request; goodput only the "
                 "successful, complete ones (failures and degraded answers left out). "
                 "Latency percentiles per repeat come from Locust's histograms of all "
                 "endpoints merged. CPU per request is the system's CPU time over the "
                 "requests it served (see Why under the headline)."
                 + (" Requests per canary: the requests served in the time the speed "
                    "canary took on the system's cores (req/s x canary seconds), so a "
                    "repeat on slower cores is not counted as a slower system (Host "
                    "noise)." if canary_rows else ""))


# The summary table's percentile rows -> the percentile (greyed when unsupported).
PERCENTILE_OF = {"p50_ms": 50, "p95_ms": 95, "p99_ms": 99}


def _fewest(arch: dict, metric: str) -> int | None:
    """The fewest samples any repeat's `metric` percentile was read from."""
    counts = [((r.get("percentile_support") or {}).get(metric) or {}).get("count",
                                                                          r["requests"])
              for r in arch["repeats"]]
    return min(counts) if counts else None


def buys(summary: dict) -> bool:
    """Whether any persona of the run buys (or the generator saw a checkout or a 409):
    otherwise checkout, 409, order and stock figures cannot apply and are left out."""
    return (summary.get("workload") or {}).get("buys", True)


def _shows_stock(summary: dict) -> bool:
    """The lowest stock matters where something was bought, or where it ran out."""
    return buys(summary) or any(summary["arch"][arch].get("sold_out_repeats")
                                for arch in summary["architectures"])


def _repeats_table(summary: dict) -> Table:
    stock = _shows_stock(summary)
    restock = any(r.get("restocked_to") is not None for arch in summary["architectures"]
                  for r in summary["arch"][arch]["repeats"])
    rows = []
    for arch in summary["architectures"]:
        for r in summary["arch"][arch]["repeats"]:
            degraded = r.get("degraded")
            row = [arch, str(r["repeat"]), num(r.get("measured_s", r["duration_s"])),
                   steady_cell(r.get("steady")),
                   f"{r['requests']:,}", num(r["throughput_rps"]), num(r.get("goodput_rps")),
                   *(openloop.percentile_cell(num(r[f"p{p}_ms"]), r["requests"], p)
                     for p in (50, 95, 99)),
                   f"{r['errors']:,}", pct(r["error_rate"]),
                   "-" if degraded is None else f"{degraded:,}", drift_cell(r.get("drift")),
                   "OVERLOADED" if r["generator"]["overloaded"] else "ok",
                   noise_cell(r.get("host_cpu")), canary_cell(r)]
            if stock:
                row.append(stock_cell(r))
            if restock:
                row.append("-" if r.get("restocked_to") is None
                           else f"{r['restocked_to']:,}")
            rows.append(row)
    columns = ["architecture", "repeat", "measured s", "steady window", "requests",
               "req/s", "goodput",
               "p50 ms", "p95 ms", "p99 ms", "errors", "error rate", "degraded",
               "steady (slowest part / fastest)", "generator", "host noise",
               "canary ms (vs median)"]
    columns += ["lowest stock"] * stock + ["restocked to"] * restock
    caption = ("Every repeat, as measured, in the order of the architectures (the run "
               "order is under Machine, code and configuration). Steady window: the "
               "stretch found steady on the request series, over which requests, req/s, "
               "goodput and CPU are counted, and the transient cut from its start; "
               "UNSTEADY when none was found (How to read this). Steady (slowest part / "
               f"fastest): the slowest of {drift.WINDOWS} equal parts of that window "
               "against the fastest; "
               f"below {100 * drift.MIN_SHARE:.0f}% the repeat is DRIFTING (How to read "
               "this).")
    if stock:
        caption += (" Lowest stock: the smallest available stock of any product, read "
                    "after the measured phase; 0 means a product sold out.")
    if restock:
        caption += " Restocked to: every product's stock before the repeat."
    caption += (" Canary: the CPU time fixed work took on the system's cores around the "
                "repeat, against the run's median; SLOW CPU (or FAST CPU) more than "
                f"{100 * canary.OFF_LIMIT:.0f}% off (Host noise).")
    return Table(columns, rows, "lrrlrrrrrrrrrllll" + "r" * (stock + restock), caption)


def drift_cell(d: dict | None) -> str:
    """'97% ok', '66% DRIFTING', or why the repeat was not judged."""
    if not d:
        return "-"
    if d.get("lowest_share") is None:
        return d.get("note") or "-"
    return f"{100 * d['lowest_share']:.0f}% {'DRIFTING' if d['flagged'] else 'ok'}"


def stock_cell(r: dict) -> str:
    """The lowest stock a repeat reached, 'SOLD OUT' at 0; 'not recorded' without it."""
    low = r.get("stock_min_available")
    if low is None:
        return "not recorded"
    return "0 SOLD OUT" if low == 0 else f"{low:,}"


def noise_cell(host: dict | None) -> str:
    """A repeat's unexplained host CPU, flagged or ok, and on which cores when the system's
    own were judged; '-' when not recorded."""
    if not host:
        return "-"
    lab = f"{num(max(host['unexplained_percent'], 0.0))}%"
    if host.get("sut_unexplained_percent") is None:
        return f"{lab} {'NOISY' if host.get('flagged') else 'ok'}"
    sut = f"system {num(max(host['sut_unexplained_percent'], 0.0))}%"
    return f"{lab}, {sut} {noise_verdict(host, short=True)}"


def noise_verdict(host: dict, short: bool = False) -> str:
    """'ok', or NOISY with the figure that flagged: the lab's cores, the system's, both
    (in one word each when `short`)."""
    if not host.get("flagged"):
        return "ok"
    lab, sut = host.get("lab_flagged"), host.get("sut_flagged")
    if short:
        on = "both" if lab and sut else "lab" if lab else "system" if sut else ""
        return f"NOISY ({on})" if on else "NOISY"
    on = [name for name, flagged in (("lab's cores", lab), ("system's cores", sut)) if flagged]
    return f"NOISY ({' and '.join(on)})" if on else "NOISY"


def canary_cell(r: dict) -> str:
    """A repeat's canary ms on the system's cores and how far off the session's median,
    'SLOW CPU' beyond the limit; '-' when not recorded."""
    if r.get("canary_ms") is None:
        return "-"
    off = r.get("canary_off")
    if off is None:
        return num(r["canary_ms"])
    verdict = ("ok" if not r.get("slow_cpu") else "SLOW CPU" if off > 0 else "FAST CPU")
    return f"{num(r['canary_ms'])} ({100 * off:+.1f}%) {verdict}"


def _endpoints(summary: dict) -> list:
    archs = summary["architectures"]
    found = {arch: {(e["method"], e["name"]): e for e in summary["arch"][arch]["endpoints"]}
             for arch in archs}
    # Side by side, busiest first (by the first architecture that served the endpoint).
    keys = list(dict.fromkeys(k for arch in archs for k in found[arch]))
    columns = ["method", "endpoint"]
    for arch in archs:
        columns += [f"{arch} req/s", "p50 ms", "p95 ms", "p99 ms", "failures"]
    rows = []
    for method, name in keys:
        row = [method, name]
        for arch in archs:
            e = found[arch].get((method, name))
            row += ([num(e["rps"]), num(e["p50_ms"]), num(e["p95_ms"]), num(e["p99_ms"]),
                     f"{e['failures']:,}"] if e else ["–"] * 5)
        rows.append(row)
    blocks = [Table(columns, rows, "ll" + "r" * (len(columns) - 2),
                    "All repeats pooled: req/s is the requests summed over the summed "
                    "measured time, percentiles come from the merged histograms.")]
    failures = [[arch, f["method"], f["name"], f["error"], f"{f['occurrences']:,}"]
                for arch in summary["architectures"]
                for f in summary["arch"][arch]["failures"]]
    if failures:
        blocks.append(Table(["architecture", "method", "endpoint", "failure", "count"],
                            failures, "llllr", "Failures by message, all repeats." + (
                                " A 409 is the shop refusing (out of stock, same key in "
                                "progress), not the system breaking." if buys(summary)
                                else "")))
    return blocks


def _resources(summary: dict, charts: set[str]) -> list:
    archs, a = summary["architectures"], summary["arch"]
    basis = summary["memory_basis"].upper()
    names = sorted({c for arch in archs for c in a[arch]["components"]})
    rows = []
    for name in names:
        row = [name]
        for arch in archs:
            use = a[arch]["components"].get(name)
            ms = (a[arch].get("cpu_ms_by_component") or {}).get(name)
            row += ([num(use["cpu_percent"]), num(ms), num(use["memory_mib"])] if use
                    else ["–", "–", "–"])
        rows.append(row)
    total = ["system total"]
    for arch in archs:
        comps = a[arch]["components"].values()
        total += [num(sum(u["cpu_percent"] for u in comps)),
                  num(sum((a[arch].get("cpu_ms_by_component") or {}).values()) or None),
                  num(sum(u["memory_mib"] for u in comps))]
    columns = ["component"]
    for arch in archs:
        columns += [f"{arch} CPU %", "CPU ms per request", f"MiB {basis}"]
    meaning = ("proportional set size: a shared page is split between the processes "
               "sharing it" if basis == "PSS" else "resident set size: a shared page counts "
               "in every process that maps it, so totals overstate")
    blocks = [Para(f"Sampled once a second over Locust's whole run; CPU is taken over each "
                   f"repeat's steady window (the repeats table), from every process's CPU "
                   f"time at the window's two ends, the same window its requests are "
                   f"counted in. CPU is in % of one "
                   f"core (200 = two busy cores); memory is {basis} ({meaning}). A gunicorn "
                   f"master and its workers count under their service; the load generator "
                   f"and the lab's supervisor are not part of the system and are left out "
                   f"(see the generator self-check)."),
              Table(columns, rows + [total], "l" + "r" * (len(columns) - 1),
                    "Mean over the steady window, then over the repeats. CPU ms per "
                    "request: the component's CPU time over the requests the system "
                    "served (each repeat's CPU seconds over its requests, then averaged).")]
    for name in ("cpu_by_component", "cpu_per_request", "memory_by_component"):
        if name in charts:
            blocks.append(figure(name, summary))
    # On one core, req/s per core is req/s again: only a larger budget makes it a figure.
    per_core = summary["sut_cores"] > 1
    eff = []
    for arch in archs:
        s = a[arch]["stats"]
        eff.append([arch, str(summary["sut_cores"])]
                   + ([num(s["rps_per_core"]["mean"]), ci(s["rps_per_core"])] if per_core
                      else [])
                   + [num(sum(u["memory_mib"] for u in a[arch]["components"].values())),
                      num(s["rps_per_gib"]["mean"]) if s["rps_per_gib"] else "-",
                      ci(s["rps_per_gib"])])
    columns = (["architecture", "system cores"]
               + ["req/s per core", "95% CI"] * per_core
               + [f"MiB {basis}", f"req/s per GiB {basis}", "95% CI"])
    blocks.append(Table(columns, eff, "l" + "r" * (len(columns) - 1),
                        ("Throughput per core of the system's budget and per " if per_core
                         else "Throughput per ")
                        + f"GiB of the system's {basis}, per repeat, then averaged."
                        + ("" if per_core else " Per core is left out: on one core it is "
                                               "the throughput itself.")))
    for name in ("rps_per_core", "rps_per_gib"):
        if name in charts:
            blocks.append(figure(name, summary))
    return blocks


def _generator(summary: dict) -> list:
    archs, a = summary["architectures"], summary["arch"]
    blocks = [Para(f"Locust runs on its own core, with the lab's own work (its loop, the "
                   f"sampler, the host windows) and nothing of the system's. A repeat counts "
                   f"as generator-overloaded when Locust's event loop ran late: a probe "
                   f"that sleeps {1000 * LOOP_PROBE_S:g} ms at a time woke, in its 99th "
                   f"percentile, later than {100 * LAG_SHARE:.0f}% of the median latency "
                   f"the repeat measured. Every request, answer and timer of the generator "
                   f"waits on that loop, so its lag is added to what it measures, whatever "
                   f"its CPU share. Runs recorded without the probe are judged by Locust's "
                   f"mean CPU instead (over {GENERATOR_LIMIT}% of one core).")]
    flagged = [(arch, r) for arch in archs for r in a[arch]["repeats"]
               if r["generator"]["overloaded"]]
    if flagged:
        blocks.append(Para(
            "Flagged: " + ", ".join(f"{arch} repeat {r['repeat']} ({_late_words(r)})"
                                    for arch, r in flagged)
            + ". Their figures measure the generator, not the system; they are still in "
              "the means above. Re-run with fewer users or a faster machine.",
            kind="warning"))
    else:
        blocks.append(Para("No repeat was flagged: the generator kept up in every repeat."))
    rows = [[arch, str(r["repeat"]), num(r["generator"]["cpu_percent_mean"]),
             num(r["generator"]["cpu_percent_max"]),
             *_lag_cells(r["generator"].get("lag")),
             "OVERLOADED" if r["generator"]["overloaded"] else "ok",
             _sampler_cell(r.get("sampler")),
             f"{r['exceptions']:,}", str(r["exit_code"])]
            for arch in archs for r in a[arch]["repeats"]]
    blocks.append(Table(["architecture", "repeat", "generator CPU mean %", "max %",
                         "loop lag p99 ms", "limit ms", "verdict",
                         "sampler CPU % (check)", "Locust exceptions", "Locust exit code"],
                        rows, "lrrrrrlrrr",
                        "Loop lag: how late the generator's event loop woke (looplag.json); "
                        "the limit is a tenth of the repeat's median latency. Sampler: the "
                        "lab's sampler threads' own CPU on the generator's core, and its "
                        "CPU figure for the stack against /proc read with "
                        "its first and last sample (points apart; flagged over "
                        f"{SAMPLER_CHECK_POINTS:g} points and {100 * SAMPLER_CHECK_SHARE:.0f}% "
                        "of the /proc figure). Locust exits with 1 whenever any "
                        "request failed; exceptions are errors in the load test's own "
                        "code."))
    lab = sorted({c for arch in archs for c in a[arch]["lab_processes"]})
    if lab:
        rows = [[c] + [num(a[arch]["lab_processes"].get(c, {}).get("cpu_percent"))
                       for arch in archs] for c in lab]
        blocks.append(Table(["lab process"] + [f"{arch} CPU %" for arch in archs], rows,
                            "l" + "r" * len(archs), "From metrics.csv, mean over the "
                            "measured phase and the repeats."))
    loop = summary.get("open_loop") or (summary if openloop.is_open(summary) else None)
    if loop:
        blocks += _schedule_check(loop)
    return blocks


def _late_words(r: dict) -> str:
    """Why a repeat's generator was flagged: its loop lag, else its CPU."""
    lag = r["generator"].get("lag")
    if lag and lag.get("late"):
        return (f"loop lag p99 {num(lag['p99_ms'])} ms over {num(lag['limit_ms'])} ms")
    return f"mean {num(r['generator']['cpu_percent_mean'])}% CPU"


def _lag_cells(lag: dict | None) -> list[str]:
    if not lag:
        return ["-", "-"]
    return [num(lag.get("p99_ms")), num(lag.get("limit_ms"))]


def _sampler_cell(sampler: dict | None) -> str:
    """'0.8 (1.2 apart)' or '-' for runs from before the sampler reported itself."""
    if not sampler:
        return "-"
    check = sampler.get("check") or {}
    apart = check.get("difference_points")
    flag = " FLAGGED" if check.get("flagged") else ""
    return (f"{num(sampler.get('cpu_percent'))} "
            f"({num(apart) if apart is not None else '?'} apart{flag})")


def _schedule_check(loop: dict) -> list:
    """The open loop's own check: how late its generator began each arrival, against
    the successful answers' corrected median."""
    return [Para(openloop.schedule_text()),
            Table(openloop.SCHEDULE_COLUMNS, openloop.schedule_rows(loop), "lrrrrrrl",
                  "From openloop.json's scheduler_lag, corrected_p50_ms and lag_limit_ms "
                  "(the limit is lag_limit_share of the corrected median). A p99 read "
                  "from fewer than 1,000 arrivals is greyed with its count.")]


def _budget(summary: dict) -> list:
    b, c = summary["budget"], summary["config"]

    def cpus(key: str) -> str:
        ids = b.get(key) or []
        if not ids:
            return "not pinned (shares every core)"
        return (f"{len(ids)} core{'s' * (len(ids) != 1)} "
                f"(cpu {', '.join(map(str, ids))})")

    rows = [["cores on the machine", str(b.get("cpus_total", "-"))],
            ["load generator (Locust)", cpus("generator_cpus")],
            ["system under test, each architecture", cpus("sut_cpus")],
            ["sizing policy (both)", sizing_policy_text(c.get("sizing", "per-process"))]]
    if summary.get("platform") == "compose":
        rows.append(["platform (both)", "containers on a Docker engine (compose/), each "
                     "with a hard CPU quota and memory limit; the limits add up to the same "
                     "totals for both stacks (each stack's row gives them): a container "
                     "cannot use the CPU another one leaves idle"])
    labels = {"users": "simulated users", "spawn_rate": "spawn rate (users/s)",
              "warmup_s": "warm-up (s, not measured)", "duration_s": "measured phase (s)",
              "repeats": "repeats per architecture"}
    rows += [[label, str(c[key])] for key, label in labels.items() if key in c]
    settings = {}
    for arch in summary["architectures"]:
        stack = summary["arch"][arch]["repeats"][0]["stack"]
        if stack:
            sizing = stack_sizing_text(stack.get("sizing") or {})
            if (stack.get("sizing") or {}).get("limits"):
                sizing += "; " + container_limits_text(stack["sizing"])
            started = stack.get("startup_seconds")
            rows.append([f"{arch} stack", sizing + (f"; started in {started:.1f} s"
                                                    if started is not None else "")])
            settings = stack.get("settings") or settings
    if settings:
        rows.append(["stack settings (both)", ", ".join(f"{k}={v}" for k, v in
                                                        settings.items())])
        # Invoices exist only where something was bought.
        rows += [[f"{arch}: invoices delivered", invoice_delivery(arch, settings)]
                 for arch in summary["architectures"] if buys(summary)]
    choice = c.get("sizing", "per-process")
    policy = choice.get("policy", "per-process") if isinstance(choice, dict) else choice
    held = ("the same totals of web threads and PostgreSQL connections"
            if policy == "equal-total" else
            "the same worker and thread counts per web process")
    blocks = [Para("The architecture is the variable under study. Both ran on the same "
                   "cores, with the same load, data, PostgreSQL server and stack settings, "
                   f"{held}, interleaved, alternating which architecture runs first. What "
                   "else differed, as measured, is in the next section."),
              Table(["budget", ""], rows, "ll")]
    if b.get("note"):
        blocks.append(Para(b["note"], kind="warning"))
    return blocks


HELD_ROWS = (
    ("processes", "processes (web masters, web workers, background, PostgreSQL)", None),
    ("threads", "threads in the application's processes", None),
    ("web_worker_threads", "  of which in web workers", None),
    ("connections_open_max", "database connections open (peak)", None),
    ("connections_in_use_max", "database connections in use (peak)", None),
    ("hops_per_request", "HTTP hops (= access-log lines) per request", 2),
    ("liveness_probe_ms_per_s", "liveness probes' request time, ms per s (at most their CPU)",
     2),
    ("cores", "cores of the system under test", None),
    ("memory_mib", "memory of the whole stack (MiB)", 0),
    ("memory_mib_per_process", "memory per process (MiB)", 1),
)


def _span(values: list | None, digits: int | None) -> str:
    """[min, max] over the repeats as one figure, or 'min–max' when they differed."""
    if not values:
        return "not recorded"
    fmt = (lambda v: f"{v:,.0f}") if digits is None else (lambda v: f"{v:,.{digits}f}")
    lo, hi = values
    return fmt(lo) if fmt(lo) == fmt(hi) else f"{fmt(lo)}–{fmt(hi)}"


def _held_equal(summary: dict) -> list:
    """The table of what each architecture actually ran with, and the words around it."""
    archs, a = summary["architectures"], summary["arch"]
    held = {arch: a[arch].get("held") for arch in archs}
    if not any(held.values()):
        return [Para("This run was recorded before the lab took a census of its stacks: "
                     "it cannot show how many processes, threads and connections each "
                     "architecture ran with. Re-run the experiment to see them.",
                     kind="warning")]
    rows = []
    for key, label, digits in HELD_ROWS:
        row = [label]
        for arch in archs:
            h = held[arch]
            if key == "processes" and h:
                parts = "/".join(_span(h[k], None) for k in
                                 ("web_masters", "web_workers", "background_processes",
                                  "postgres_processes"))
                row.append(f"{_span(h['processes'], None)} ({parts})")
            else:
                row.append(_span(h.get(key) if h else None, digits))
        rows.append(row)
    where = ("own core" if (summary.get("budget") or {}).get("generator_cpus")
             else "sharing the system's cores")
    row = ["load generator"]
    for _ in archs:
        row.append(f"Locust, {summary['config'].get('users', '?')} users, {where}")
    rows.append(row)
    same = [label for key, label, digits in HELD_ROWS
            if all(held[x] for x in archs)
            and len({_span(held[x].get(key), digits) for x in archs}) == 1]
    differ = [label for key, label, digits in HELD_ROWS if label not in same
              and all(held[x] for x in archs)]
    words = ("Held equal: " + ", ".join(same) + ". " if same else "") + (
        "Not held equal: " + ", ".join(label.strip() for label in differ) + "." if differ
        else "")
    return [Para("The architecture is the variable under study; this is what else "
                 "differed. Counted from what was actually started and sampled: the "
                 "processes and their threads at the end of each measured phase; the "
                 "database connections ten times a second (pg_stat_activity; in use = "
                 "running a statement or inside a transaction; the peak sums each "
                 "database's highest in a second, and is a lower bound: a connection lent "
                 "for a millisecond between two looks is not seen); the access-log "
                 "lines written during the "
                 "measured phase (every process writes one per request it serves, so the "
                 "lines per request the entry point served are the HTTP hops a request "
                 "took, the entry point's and the card processor's included); memory as in "
                 "Resource use. A range means the repeats differed."),
            Para(words),
            Table(["per architecture"] + archs, rows, "l" + "r" * len(archs),
                  "Equal per process is not equal per stack: each microservice runs its "
                  "own gunicorn master, workers, thread pools and database pool, so the "
                  "microservices run more of each on the same cores.")]


def _host_noise(summary: dict) -> list:
    """Per repeat: host CPU the stack, the generator and the lab do not explain."""
    archs, a = summary["architectures"], summary["arch"]
    rows, limit, sut_limit = [], None, None
    for arch in archs:
        for r in a[arch]["repeats"]:
            host = r.get("host_cpu")
            if not host:
                continue
            limit = host.get("limit_percent", limit)
            sut_limit = host.get("sut_limit_percent") or sut_limit
            sut = host.get("sut_unexplained_percent")
            rows.append([arch, str(r["repeat"]), num(host.get("busy_total_percent")),
                         num(host.get("known_percent")),
                         num(max(host["unexplained_percent"], 0.0)),
                         "-" if sut is None else num(max(sut, 0.0)),
                         noise_verdict(host), canary_cell(r)])
    if not rows:
        return [Para("This run was recorded before the lab sampled the host's CPUs: it "
                     "cannot say whether another program's load overlapped it.",
                     kind="warning"), *_canary_blocks(summary)]
    noisy = [f"{arch} {r}" for arch in archs for r in a[arch].get("noisy_repeats", [])]
    engine = ("; on containers also the Docker engine's processes that serve the stack: "
              "its daemon, and each container's shim with the healthchecks it runs"
             if any((r.get("host_cpu") or {}).get("engine_pids")
                    for arch in archs for r in a[arch]["repeats"]) else "")
    blocks = [Para(f"At the start and the end of every measured phase the lab read the "
                   f"busy time of each CPU it uses (the system's and the generator's "
                   f"cores) and the CPU time of every process it knows (the stack, Locust, "
                   f"the lab itself{engine}). Busy time "
                   f"they do not explain is another program's load (or the kernel's work "
                   f"for nobody in particular). A repeat above {num(limit)}% of one core "
                   f"is flagged: its figures may be off." + (
                       f" The system's cores are also judged on their own, in % of their "
                       f"capacity: their busy time minus the CPU time of the known "
                       f"processes allowed to run on them (a process allowed on both sides "
                       f"counts there whole, erring toward no flag). Above "
                       f"{num(sut_limit)}% the repeat is flagged too, so a foreign load "
                       f"that takes a fifth of a one-core system's only core is caught, "
                       f"where the figure over all the lab's cores, in % of one core, lets "
                       f"it pass. The verdict names the figure that flagged."
                       if sut_limit is not None else ""))]
    if noisy:
        blocks.append(Para("Flagged: " + ", ".join(noisy) + ". They are still in the "
                           "means; re-run on a quieter machine to be sure.", kind="warning"))
    else:
        blocks.append(Para("No repeat was flagged."))
    blocks.append(Table(["architecture", "repeat", "busy CPU %", "explained %",
                         "unexplained %", "system's cores unexplained %", "verdict",
                         "canary ms (vs median)"], rows, "lrrrrrll",
                        "Busy, explained and unexplained in % of one core over the measured "
                        "phase, summed over the cores the lab uses; the system's cores' "
                        "figure in % of their capacity ('-': not judged, an older run)."))
    return blocks + _canary_blocks(summary)


def _canary_blocks(summary: dict) -> list:
    """What the speed canary is, and its median and spread over this run's repeats."""
    session = summary.get("canary")
    what = ("A slower core is invisible to the figures above: they count CPU time nobody "
            "explains, not work done more slowly (a lower clock, a neighbour on the "
            "sibling thread or the physical core, shared caches or memory bandwidth). So "
            "before the warm-up and after the measured run of every repeat, with the "
            "stack up and idle, the lab ran the speed canary: fixed pure-Python work "
            "(archlab/canary.py) on each core it uses in turn, timed by its own CPU "
            "time. A repeat's figure is the mean over the system's cores of both runs; "
            f"more than {100 * canary.OFF_LIMIT:.0f}% off the median of all this run's "
            "repeats (every architecture) it is flagged SLOW CPU (FAST CPU below the "
            "median): its cores ran at another speed, and its figures with them. "
            "Requests per canary (the throughput times the canary's seconds) counts the "
            "requests served in the time one canary takes: it moves less with the "
            "cores' speed than req/s, as far as the canary's work is like the stack's.")
    if not session:
        return [Para(what, term="Speed canary."),
                Para("This run was recorded before the lab ran the speed canary: it cannot "
                     "say whether a repeat ran on slower cores.", kind="warning")]
    slow = [f"{arch} {r['repeat']} ({100 * r['canary_off']:+.1f}%)"
            for arch in summary["architectures"] for r in summary["arch"][arch]["repeats"]
            if r.get("slow_cpu")]
    spread = (f"Over the {session['repeats']} repeat(s) the canary took a median of "
              f"{num(session['median_ms'])} ms on the system's cores, from "
              f"{num(session['min_ms'])} to {num(session['max_ms'])} ms (a spread of "
              f"{num(session['spread_percent'])}% of the median).")
    return [Para(what, term="Speed canary."),
            Para(spread + (f" More than {100 * canary.OFF_LIMIT:.0f}% off the median "
                           "(SLOW CPU, or FAST CPU when the others ran slower): "
                           + ", ".join(slow) + "." if slow else " No repeat was flagged."),
                 kind="warning" if slow else "text")]


def _slow_cpu_warnings(summary: dict) -> list[Para]:
    """A repeat whose speed canary was off the session's median: its cores' speed
    differed, and its figures may differ for that reason alone."""
    return _flagged_warnings(summary, "slow_cpu_repeats", lambda arch, reps: (
        f"{_repeats_words(arch, reps)}: the speed canary on the system's cores was "
        f"more than {100 * canary.OFF_LIMIT:.0f}% off this run's median: the "
        "cores ran at another speed, and those figures may differ for that reason "
        "alone. See Host noise."))


def invoice_delivery(arch: str, settings: dict) -> str:
    """Where an architecture delivers invoices under these stack settings, in words."""
    settings = config.STACK_SETTINGS | settings  # a run recorded before a setting existed
    printer = ("printed" if settings["INVOICE_PRINTER"] == "spool"
               else "e-mailed (printer offline)")
    if arch == "monolith":
        if settings["INVOICE_DELIVERY"] == "inline":
            return f"{printer} inside the checkout request, right after its COMMIT"
        return f"{printer} by the monolith's worker, after the checkout answered"
    return f"{printer} by the invoices service, after the PAID order's outbox event"


def _calibration(summary: dict, charts: set[str]) -> list:
    cal = summary["calibration"]
    rows = [[r["arch"], (cal["endpoints"] or {}).get(r["endpoint"]) or r["endpoint"],
             num(r["app_rps"]), num(r["floor_rps"]), share_cell(r), overhead_cell(r),
             f"{num(r['app_p50_ms'])} / {num(r['floor_p50_ms'])}",
             f"{num(r['app_p99_ms'])} / {num(r['floor_p99_ms'])}"] for r in cal["rows"]]
    blocks = [Para("Each architecture was loaded with wrk next to its floor: bare apps "
                   "running the identical SQL with the identical gunicorn and pool "
                   "configuration (for the microservices also the same hops and HTTP "
                   "client), and nothing else. The share of the floor says how much the "
                   "architecture's own code costs on this machine, independently of how "
                   "fast the machine is."),
              Table(["architecture", "endpoint", "req/s", "floor req/s", "share",
                     "CPU ms per request above the floor", "p50 ms (app / floor)",
                     "p99 ms (app / floor)"], rows, "llrrrrrr",
                    f"Medians of {cal.get('rounds') or '?'} round(s) of "
                    f"{cal.get('seconds') or '?'} s at {cal.get('connections') or '?'} "
                    f"connections; calibrated {cal.get('created_at') or 'at an unknown time'}"
                    f" at commit {(cal.get('git_commit') or 'unknown')[:12]}.")]
    bias = [f"{endpoint}: {b['text']}" for endpoint, b in (cal.get("bias") or {}).items()
            if b.get("text")]
    if bias:
        blocks.append(Para("What the remaining gaps do to the monolith/microservices ratio "
                           "(monolith share ÷ microservices share): " + "; ".join(bias)
                           + ".", term="Bias."))
    if cal.get("mismatches"):
        blocks.append(Para("This calibration was made on " + "; on ".join(cal["mismatches"])
                           + ". Its shares describe that setting, not necessarily this "
                           "run's: re-run `archlab calibrate` here.", kind="warning"))
    if cal.get("noisy_rounds"):
        blocks.append(Para(f"{len(cal['noisy_rounds'])} calibration run(s) overlapped "
                           "another program's load (host noise above the limit): their "
                           "rounds are left out of the shares where clean rounds remain.",
                           kind="warning"))
    if "calibration" in charts:
        blocks.append(FIGURES["calibration"])
    return blocks


def _open_loop(loop: dict, charts: set[str], nested: bool) -> list:
    """The open loop: how its rate was chosen, its corrected latencies with intervals
    beside the uncorrected ones, their ratios, where the corrected time went, whole
    arrivals, each step, and what could make them wrong."""
    share = summary_share(loop) if nested else None
    blocks = [Para(openloop.how(loop, loop.get("capacity"), share))]
    said = openloop.lead(loop)
    if said:
        blocks.append(Para(said, kind="lead"))
    blocks.append(Table(openloop.COLUMNS, openloop.table_rows(loop), openloop.ALIGN,
                        "Means over repeats with their 95% CI; p50/p95/p99 are those of "
                        "successful, complete answers, counted from each request's "
                        "intended send time, all repeats' histograms (HdrHistogram, 3 "
                        "significant digits) kept in openloop.json. Offered: arrivals "
                        "(persona tasks) per second; answered: requests that got an "
                        "answer per second. A percentile read from too few answers "
                        "(p95 needs 200, p99 1,000 in every repeat) is greyed, in "
                        "parentheses with the fewest count."))
    ratios = openloop.ratio_rows(loop)
    if ratios:
        r = loop["ratios"]
        blocks.append(Table([f"{r['numerator']} / {r['denominator']}", "ratio [95% CI]"],
                            ratios, "ll", "Ratios of geometric means over repeats."))
    blocks += [Para(text, kind=kind) for text, kind in floor.paragraphs(loop.get("floor"))]
    blocks += [Para(text, kind="warning") for text in openloop.warnings(loop)]
    for arch in loop["architectures"]:
        if loop["arch"][arch].get("noisy_repeats"):
            reps = ", ".join(map(str, loop["arch"][arch]["noisy_repeats"]))
            blocks.append(Para(f"{arch} open-loop repeat(s) {reps}: another program loaded "
                               "the host; those figures may be off.", kind="warning"))
    if "open_loop_latency" in charts:
        blocks.append(FIGURES["open_loop_latency"])
    parts = openloop.parts_rows(loop)
    if parts:
        blocks.append(Para("Where the corrected time went: each successful answer's "
                           "corrected latency is its service time plus the delay its "
                           "task was shifted by, the generator's lateness and the wait "
                           "for a slot.", term="Parts."))
        blocks.append(Table(openloop.PARTS_COLUMNS, parts, "lrrrrrrr",
                            "All repeats pooled; each part recorded per successful "
                            "request, so the means add up to the corrected mean (the p99s "
                            "do not add up)."))
        if "open_loop_parts" in charts:
            blocks.append(FIGURES["open_loop_parts"])
    arrivals = openloop.arrival_rows(loop)
    if arrivals:
        blocks.append(Table(openloop.ARRIVAL_COLUMNS, arrivals, "lrrrrrrrrrr",
                            "Per arrival (one persona task, from its due time to its last "
                            "answer), all repeats pooled. Successful: every answer "
                            "succeeded and was complete. All arrivals adds the failed ones "
                            "and those unanswered at the end of the drain, whose wait so "
                            "far is only a lower bound: a percentile that reaches into "
                            "them reads \"≥\"."))
    steps = openloop.step_rows(loop)
    if steps:
        blocks.append(Table(openloop.STEP_COLUMNS, steps, "lrrrrrrrr",
                            "Each step of the schedule apart (an arrival belongs to the "
                            "step its due time falls in), all repeats pooled; corrected "
                            "percentiles of successful answers."))
    return blocks


def summary_share(loop: dict) -> float | None:
    """The share of the slower capacity an open phase ran at, from its rate and the
    capacities it was taken from."""
    capacity = loop.get("capacity") or {}
    rate = (loop.get("workload") or {}).get("arrival_rate")
    if not capacity or not isinstance(rate, int | float):
        return None
    return round(rate / min(capacity.values()), 2)


def _published(summary: dict) -> list:
    """Other studies' figures, quoted with their sources, beside this run's."""
    return [Para(published.differs(summary)),
            Table(["source", "what it says", "its setting", "this run"],
                  published.rows(summary), "llll",
                  "Quoted from each source where the row says; this run's figure with "
                  "its 95% CI.")]


def overhead_cell(row: dict) -> str:
    """The stack's CPU time per request above its floor's on the same SQL, with its
    interval over rounds: a heavier shared query cannot raise it, as it can a share."""
    ms = row.get("overhead_ms")
    if ms is None:
        return "not recorded"
    interval = row.get("overhead_ms_ci")
    if interval and None not in interval:
        return f"{ms:+.2f} ({interval[0]:+.2f} to {interval[1]:+.2f})"
    return f"{ms:+.2f}"


def share_cell(row: dict) -> str:
    """An app's share of its floor with its interval over rounds; like every ratio here,
    one whose interval includes 100% (or that has none) is not a finding."""
    text = f"{100 * floor_share(row):.0f}%"
    interval = row.get("rps_ratio_ci")
    if not interval or None in interval:
        return f"{text} (no interval: not distinguishable from the floor)"
    text += f" ({100 * interval[0]:.0f}–{100 * interval[1]:.0f}%)"
    return text if interval[1] < 1 or interval[0] > 1 else (
        f"{text}: not distinguishable from the floor")


def _how_to_read(summary: dict) -> list[Para]:
    ns = sorted({summary["arch"][a]["n"] for a in summary["architectures"]})
    t_now = ", ".join(f"{t95(n - 1):.2f} for n = {n}" for n in ns if n >= 2)
    ratios = summary["ratios"]
    method = (f"A = {ratios['numerator']}, B = {ratios['denominator']}: "
              f"{ratios['method']} {coverage_sentence(ratios.get('coverage'))}"
              if ratios else
              "It needs two architectures with completed repeats.")
    rule = summary.get("drift_rule") or drift.rule()
    paras = [
        Para("The response time that 50%, 95% or 99% of requests finished within. p50 is "
             "the typical request; p95 and p99 are the slow tail a user meets now and then "
             "(one page view in twenty, one in a hundred). Locust records response times "
             "rounded (to 1 ms below 100 ms, to 10 ms below 1 s), so percentiles move in "
             "those steps.", term="p50, p95, p99."),
        Para("A range that, computed this way, contains the true mean in 95% of "
             "experiments. It is mean ± t × s / √n, with s the standard deviation of "
             "the repeats and t the 95% critical value of Student's t with n - 1 degrees of "
             "freedom (a table for 1 to 30; 1.96 beyond). Every figure here is "
             "non-negative, so a lower bound below zero is shown as 0.",
             term="95% confidence interval (CI)."),
        Para(f"With few repeats t is large (12.71 for n = 2, 4.30 for n = 3, 2.78 for "
             f"n = 5) and s itself is a rough guess, so the intervals are wide. "
             f"{'In this run: ' + t_now + '. ' if t_now else ''}"
             "Overlapping intervals do not prove the architectures equal; more repeats "
             "narrow them (roughly by √n).", term="Why the intervals are wide."),
        Para(method, term="The ratio and its interval."),
        Para(f"Every ratio in this report - the headline, the tables, the charts' "
             f"captions - and in the console summary is stated as a finding only when its "
             f"95% interval excludes 1. Otherwise, or when it has no interval, it reads "
             f"“{NOT_DISTINGUISHABLE}” with its value and interval beside it: "
             f"the repeats could not tell the architectures apart, which does not show "
             f"them equal either.", term="Not distinguishable in this run."),
        Para("The requests answered in the repeat's steady window (failed requests "
             "included) divided by its length, then the mean over the repeats: every "
             "req/s in the report and the console summary means this. The error rate is "
             "failures / requests of the whole measured run. (Runs recorded before "
             "series.csv: all requests of the measured run over the time from its first "
             "to its last request.)", term="Throughput."),
        Para(f"Found, not assumed, on each repeat's per-second request count "
             f"(series.csv, on the same clock as the CPU samples): the transient at the "
             f"start is cut by MSER (the truncation that minimises the variance of the "
             f"mean of what remains, searched in the first half); what remains must last "
             f"at least {steady.MIN_STEADY_S:g} s and must not trend (a least-squares "
             f"slope that would change the rate by more than "
             f"{100 * steady.TREND_LIMIT:.0f}% across the run, at least "
             f"{steady.TREND_T:g} standard errors from zero). Requests, throughput, "
             f"goodput and CPU are counted over exactly this window, and drift is judged "
             f"inside it. A repeat without a steady state is flagged UNSTEADY and stays in "
             f"the means. Latency percentiles are of the whole measured run.",
             term="Steady window."),
        Para("Like throughput, but counting only successful, complete answers: failures "
             "and degraded answers are left out. A degraded answer is a success the "
             "contract allows that lacks part of what was asked: the microservices answer "
             "a product with its stock unknown when inventory does not answer in time "
             "(docs/product-detail.md). The monolith reads stock in the same transaction, "
             "so it has none.", term="Goodput and degraded answers."),
        Para(f"From the request count once a second inside the steady window: "
             f"{drift.rule_text(rule)}. Each part must be at least "
             f"{rule['min_window_s']:g} s long, else the repeat is not judged; a load "
             f"shape that changes the users is not judged either. A part's req/s is "
             f"the growth of the request count across it. The fastest part is the "
             f"reference because a drop half-way puts half of the parts low. A drifting "
             f"repeat averages two states (a drop, a climb, a stall); it stays in the "
             f"means, flagged beside it in the repeats table, in summary.json "
             f"(drifting_repeats) and in the console summary.", term="Drift."),
        Para("The system's CPU time per request served: the CPU its processes used over "
             "the steady window (each process's CPU time read about once a second and "
             "taken at the window's two ends, PostgreSQL included, the generator and the "
             "lab's supervisor left out) divided by the requests answered in it. It "
             "says what a request cost, not where its time went: time spent waiting "
             "(on the database, on locks, on another hop) "
             "costs no CPU. HTTP hops per request are the access-log lines all processes "
             "wrote over those the entry point wrote; their durations are not recorded.",
             term="CPU per request and HTTP hops."),
    ]
    if _shows_stock(summary):
        paras.append(Para(
            "The smallest available stock of any product, read through the admin API "
            "after each measured phase. At 0 a product sold out: its checkouts were "
            "refused with 409 out_of_stock, so that repeat's checkout figures and error "
            "rate measure the empty shelf, not the architecture; the report flags it. "
            "Restocked to: the stock every product got before the repeat (runs that "
            "recorded it).", term="Lowest stock and sold out."))
    return paras


def coverage_sentence(measured: dict | None) -> str:
    """'Its coverage, measured in 4,000 seeded simulated runs: 95.1% at n = 3, ...'."""
    if not measured:
        return ""
    shares = ", ".join(f"{100 * v:.1f}% at n = {n}" for n, v in measured.items()
                       if n.isdigit())
    return (f"Its coverage, measured by the lab in {measured.get('runs', 0):,} seeded "
            f"simulated runs per case (archlab/report/coverage.py): {shares}.")


def _provenance(summary: dict) -> list:
    m = summary["machine"]
    commit = m.get("git_commit") or "unknown"
    dirty = {True: " (dirty: uncommitted changes)", False: " (clean)"}.get(
        m.get("git_dirty"), "")
    rows = [["run", summary["run"]], ["git commit", commit + dirty]]
    for key, label in (("created_at", "started"), ("hostname", "host"), ("os", "OS"),
                       ("cpu_model", "CPU"), ("cpu_count", "CPU count"),
                       ("cpus_allowed", "CPUs allowed"), ("memory_gib", "memory (GiB)"),
                       ("python", "Python"),
                       ("postgres", "PostgreSQL binaries found")):
        if key in m:
            rows.append([label, str(m[key])])
    for server in summary.get("postgres_servers") or []:
        rows.append(["PostgreSQL server that ran", server])
    for name, version in (m.get("packages") or {}).items():
        rows.append([name, str(version)])
    config = [["experiment", str(summary["experiment"])],
              ["experiment file", str(summary.get("experiment_file"))]]
    if summary.get("order"):
        config.append(["run order", " ".join(f"{a}#{r}" for a, r in summary["order"])
                       + (f" ({summary['order_rule']})" if summary.get("order_rule") else "")])
    config += [[key, value if isinstance(value, str) else json.dumps(value)]
               for key, value in summary["config"].items()]
    return [Table(["machine and code", "value"], rows, "ll"),
            Table(["experiment configuration", "value"], config, "ll")]


def document(summary: dict, charts: set[str]) -> Document:
    """The report's content, section by section."""
    archs = " vs ".join(summary["architectures"])
    perf = [figure(n, summary) for n in ("throughput", "latency", "latency_percentiles",
                                         "throughput_over_time", "p95_over_time")
            if n in charts]
    loop = summary.get("open_loop") or (summary if openloop.is_open(summary) else None)
    sections = [
        Section("headline", "Headline", headline(summary)),
        Section("summary", "Summary", [_summary_table(summary), _repeats_table(summary)]),
    ]
    if loop:
        sections.append(Section("open-loop", "At equal offered load (open loop)",
                                _open_loop(loop, charts, nested=loop is not summary)))
    sections += [
        Section("published", "Published figures beside this run's", _published(summary)),
        Section("charts", "Charts", perf),
        Section("endpoints", "Per endpoint", _endpoints(summary)),
        Section("resources", "Resource use", _resources(summary, charts)),
        Section("generator", "Generator self-check", _generator(summary)),
        Section("budget", "The equal budget", _budget(summary)),
        Section("held-equal", "What was held equal, and what was not", _held_equal(summary)),
        Section("host-noise", "Host noise", _host_noise(summary)),
    ]
    if summary["calibration"]:
        sections.append(Section("calibration", "Calibration", _calibration(summary, charts)))
    sections += [Section("how-to-read", "How to read this", _how_to_read(summary)),
                 Section("provenance", "Machine, code and configuration",
                         _provenance(summary))]
    return Document(f"Rackshop benchmark: {archs}",
                    f"run {summary['run']}, experiment {summary['experiment']}", sections)
