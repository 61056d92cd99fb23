"""What the report says: sections of paragraphs, tables and figures built from the
summary. html.py and markdown.py render the same document, so both say the same."""

import json
from dataclasses import dataclass, field

from archlab import config
from archlab.report.stats import t95

GENERATOR_LIMIT = 80  # % of one core, mean over the measured phase (docs/results-format.md)
NOUNS = {"monolith": ("the monolith", "the monolith's", "its"),
         "microservices": ("the microservices", "the microservices'", "their")}


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
                         "Mean requests per second over the repeats; whiskers are the 95% "
                         "CI, dots the single repeats."),
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
        "something saturated."),
    "p95_over_time": Figure("p95_over_time", "p95 over time",
                            "Locust's p95 over its last 10 seconds, each second."),
    "cpu_by_component": Figure("cpu_by_component", "CPU by component",
                               "Mean CPU of each part of the system, stacked; the dashed "
                               "line is the system's core budget."),
    "memory_by_component": Figure("memory_by_component", "Memory by component",
                                  "Mean memory of each part of the system, stacked."),
    "efficiency": Figure("efficiency", "Efficiency",
                         "Throughput per core of the system's budget and per GiB of its "
                         "memory."),
    "calibration": Figure("calibration", "Calibration",
                          "Each architecture's req/s as a share of its floor (100% = as "
                          "fast as a bare app doing the same SQL)."),
}


def num(x: float | None, unit: str = "") -> str:
    """A figure with as many digits as it deserves: 1,234 / 56.7 / 8.90."""
    if x is None:
        return "-"
    text = f"{x:,.0f}" if abs(x) >= 100 else f"{x:.1f}" if abs(x) >= 10 else f"{x:.2f}"
    return f"{text} {unit}".rstrip()


def pct(rate: float | None) -> str:
    return "-" if rate is None else f"{100 * rate:.2f}%"


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


def ratio_ci(r: dict) -> str:
    """A ratio's interval: '95% CI 1.55–2.58x', or why there is none."""
    if r["lo"] is None and r["hi"] is None:
        return "no interval: an architecture has a single repeat"
    if r["hi"] is None:
        return f"95% CI from {r['lo']:.2f}x, no upper bound"
    return f"95% CI {r['lo']:.2f}–{r['hi']:.2f}x"


def _noun(arch: str) -> tuple[str, str, str]:
    return NOUNS.get(arch, (f"the {arch}", f"the {arch}'s", "its"))


def invert(r: dict) -> dict:
    """b/a from a/b: the value and the bracket flip (an unbounded end becomes 0)."""
    return {"value": 1 / r["value"] if r["value"] else None,
            "lo": (1 / r["hi"] if r["hi"] else 0.0) if r["lo"] is not None else None,
            "hi": 1 / r["lo"] if r["lo"] else None, "bounded": r["bounded"]}


def distinguishable(r: dict) -> bool:
    """Whether a ratio's interval excludes 1: only then is it a finding."""
    return r["lo"] is not None and (r["lo"] > 1 or (r["hi"] is not None and r["hi"] < 1))


def _ratio_phrase(r: dict, what: str) -> str:
    """'1.83x their goodput (95% CI 1.5–2.2x)', or 'a p95 not distinguishable from
    theirs (0.46x, 95% CI 0.21–1.13x)' when the interval includes 1."""
    if distinguishable(r):
        return f"{r['value']:.2f}x {what} ({ratio_ci(r)})"
    return f"{what} not distinguishable ({r['value']:.2f}x, {ratio_ci(r)})"


def _lead(ratios: dict) -> list[Para]:
    """'The monolith served 1.83x the microservices' goodput (95% CI ...) at 0.52x their
    p95', with the faster architecture as the subject; a ratio whose interval includes 1
    is said to be not distinguishable, never stated as a finding."""
    faster, slower = ratios["numerator"], ratios["denominator"]
    good = ratios.get("goodput") or ratios["throughput"]
    p95 = ratios["p95"]
    if not good["value"] or not p95["value"]:
        return [Para(f"{_noun(faster)[0].capitalize()} and {_noun(slower)[0]} cannot be "
                     "compared: one of them served nothing successfully.", kind="lead")]
    if good["value"] < 1:
        faster, slower, good, p95 = slower, faster, invert(good), invert(p95)
    first = _noun(faster)[0]
    second, second_pos, their = _noun(slower)
    if not distinguishable(good):
        return [Para(f"{first.capitalize()} and {second} cannot be told apart on goodput "
                     f"with these repeats ({good['value']:.2f}x, {ratio_ci(good)}); "
                     f"{_ratio_phrase(p95, 'p95')}.", kind="lead")]
    return [Para(f"{first.capitalize()} served {good['value']:.2f}x {second_pos} goodput "
                 f"(successful, complete answers per second; {ratio_ci(good)}) with "
                 f"{_ratio_phrase(p95, f'{their} p95 response time')}.", kind="lead")]


def _mean(summary: dict, arch: str, metric: str) -> float | None:
    est = summary["arch"][arch]["stats"].get(metric)
    return est["mean"] if est else None


def headline(summary: dict) -> list[Para]:
    """One or two sentences computed from the data, then what could make them wrong."""
    archs, a = summary["architectures"], summary["arch"]
    out = _lead(summary["ratios"]) if summary["ratios"] else []
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
    for arch in archs:
        if a[arch]["overloaded_repeats"]:
            reps = a[arch]["overloaded_repeats"]
            which = (f"{arch} repeat {reps[0]} was" if len(reps) == 1 else
                     f"{arch} repeats {', '.join(map(str, reps))} were")
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


def _summary_table(summary: dict) -> Table:
    archs, a = summary["architectures"], summary["arch"]
    rows_spec = [("throughput (req/s)", "throughput_rps", False),
                 ("goodput (req/s)", "goodput_rps", False),
                 ("p50 (ms)", "p50_ms", False), ("p95 (ms)", "p95_ms", False),
                 ("p99 (ms)", "p99_ms", False), ("error rate", "error_rate", True)]
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
            est = a[arch]["stats"][metric]
            row += [(pct if as_pct else num)(est["mean"] if est else None), ci(est, as_pct)]
        if ratios:
            key = {"throughput_rps": "throughput", "goodput_rps": "goodput",
                   "p95_ms": "p95"}.get(metric)
            r = ratios.get(key) if key else None
            row += ([f"{r['value']:.2f}x" + ("" if distinguishable(r) else
                                             " (not distinguishable)"),
                     ratio_ci(r).removeprefix("95% CI ")]
                    if r and r["value"] is not None else ["", ""])
        rows.append(row)
    row = ["degraded answers, all repeats"]
    for arch in archs:
        degraded = a[arch].get("degraded")
        row += ["not recorded" if degraded is None else f"{degraded:,}", ""]
    rows.append(row + (["", ""] if ratios else []))
    for label, key in (("errors, all repeats", "errors"), ("of which 409", "conflicts_409"),
                       ("Locust exceptions", "exceptions"),
                       ("201 checkouts seen", "checkouts")):
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
                 "endpoints merged.")


def _repeats_table(summary: dict) -> Table:
    rows = []
    for arch in summary["architectures"]:
        for r in summary["arch"][arch]["repeats"]:
            degraded = r.get("degraded")
            rows.append([arch, str(r["repeat"]), num(r["duration_s"]), f"{r['requests']:,}",
                         num(r["throughput_rps"]), num(r.get("goodput_rps")),
                         num(r["p50_ms"]), num(r["p95_ms"]), num(r["p99_ms"]),
                         f"{r['errors']:,}", pct(r["error_rate"]),
                         "-" if degraded is None else f"{degraded:,}",
                         "OVERLOADED" if r["generator"]["overloaded"] else "ok",
                         noise_cell(r.get("host_cpu"))])
    return Table(["architecture", "repeat", "seconds", "requests", "req/s", "goodput",
                  "p50 ms", "p95 ms", "p99 ms", "errors", "error rate", "degraded",
                  "generator", "host noise"], rows,
                 "lrrrrrrrrrrrll", "Every repeat, as measured, in the order of the "
                 "architectures (the run order is under Machine, code and configuration).")


def noise_cell(host: dict | None) -> str:
    """A repeat's unexplained host CPU, flagged or ok; '-' when not recorded."""
    if not host:
        return "-"
    verdict = "NOISY" if host.get("flagged") else "ok"
    return f"{num(max(host['unexplained_percent'], 0.0))}% {verdict}"


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
                            failures, "llllr", "Failures by message, all repeats. A 409 "
                            "is the shop refusing (out of stock, same key in progress), not "
                            "the system breaking."))
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
            row += [num(use["cpu_percent"]), num(use["memory_mib"])] if use else ["–", "–"]
        rows.append(row)
    total = ["system total"]
    for arch in archs:
        comps = a[arch]["components"].values()
        total += [num(sum(u["cpu_percent"] for u in comps)),
                  num(sum(u["memory_mib"] for u in comps))]
    columns = ["component"]
    for arch in archs:
        columns += [f"{arch} CPU %", f"{arch} MiB {basis}"]
    meaning = ("proportional set size: a shared page is split between the processes "
               "sharing it" if basis == "PSS" else "resident set size: a shared page counts "
               "in every process that maps it, so totals overstate")
    blocks = [Para(f"Sampled once a second over the measured phase. CPU is in % of one "
                   f"core (200 = two busy cores); memory is {basis} ({meaning}). A gunicorn "
                   f"master and its workers count under their service; the load generator "
                   f"and the lab's supervisor are not part of the system and are left out "
                   f"(see the generator self-check)."),
              Table(columns, rows + [total], "l" + "r" * (len(columns) - 1),
                    "Mean over the measured phase, then over the repeats.")]
    for name in ("cpu_by_component", "memory_by_component"):
        if name in charts:
            blocks.append(FIGURES[name])
    eff = []
    for arch in archs:
        s = a[arch]["stats"]
        eff.append([arch, str(summary["sut_cores"]), num(s["rps_per_core"]["mean"]),
                    ci(s["rps_per_core"]),
                    num(sum(u["memory_mib"] for u in a[arch]["components"].values())),
                    num(s["rps_per_gib"]["mean"]) if s["rps_per_gib"] else "-",
                    ci(s["rps_per_gib"])])
    blocks.append(Table(["architecture", "system cores", "req/s per core", "95% CI",
                         f"MiB {basis}", f"req/s per GiB {basis}", "95% CI"], eff,
                        "lrrrrrr", "Throughput per core of the system's budget and per "
                        f"GiB of the system's {basis}, per repeat, then averaged."))
    if "efficiency" in charts:
        blocks.append(FIGURES["efficiency"])
    return blocks


def _generator(summary: dict) -> list:
    archs, a = summary["architectures"], summary["arch"]
    blocks = [Para(f"Locust runs on its own core. A repeat counts as generator-overloaded "
                   f"when Locust's mean CPU over the measured phase is above "
                   f"{GENERATOR_LIMIT}% of one core: the generator then cannot send as "
                   f"fast as the system could answer, so the repeat's throughput and "
                   f"latency measure the generator, not the system.")]
    flagged = [(arch, r) for arch in archs for r in a[arch]["repeats"]
               if r["generator"]["overloaded"]]
    if flagged:
        blocks.append(Para(
            "Flagged: " + ", ".join(f"{arch} repeat {r['repeat']} (mean "
                                    f"{num(r['generator']['cpu_percent_mean'])}%)"
                                    for arch, r in flagged)
            + ". Their figures measure the generator, not the system; they are still in "
              "the means above. Re-run with fewer users or a faster machine.",
            kind="warning"))
    else:
        blocks.append(Para("No repeat was flagged: the generator kept up in every repeat."))
    rows = [[arch, str(r["repeat"]), num(r["generator"]["cpu_percent_mean"]),
             num(r["generator"]["cpu_percent_max"]),
             "OVERLOADED" if r["generator"]["overloaded"] else "ok",
             f"{r['exceptions']:,}", str(r["exit_code"])]
            for arch in archs for r in a[arch]["repeats"]]
    blocks.append(Table(["architecture", "repeat", "generator CPU mean %", "max %", "verdict",
                         "Locust exceptions", "Locust exit code"], rows, "lrrrlrr",
                        "Locust exits with 1 whenever any request failed; exceptions are "
                        "errors in the load test's own code."))
    lab = sorted({c for arch in archs for c in a[arch]["lab_processes"]})
    if lab:
        rows = [[c] + [num(a[arch]["lab_processes"].get(c, {}).get("cpu_percent"))
                       for arch in archs] for c in lab]
        blocks.append(Table(["lab process"] + [f"{arch} CPU %" for arch in archs], rows,
                            "l" + "r" * len(archs), "From metrics.csv, mean over the "
                            "measured phase and the repeats."))
    return blocks


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
            ["web workers x threads per service", f"{b.get('web_workers', '-')} x "
                                                  f"{b.get('web_threads', '-')}"]]
    labels = {"users": "simulated users", "spawn_rate": "spawn rate (users/s)",
              "warmup_s": "warm-up (s, not measured)", "duration_s": "measured phase (s)",
              "repeats": "repeats per architecture"}
    rows += [[label, str(c[key])] for key, label in labels.items() if key in c]
    settings = {}
    for arch in summary["architectures"]:
        stack = summary["arch"][arch]["repeats"][0]["stack"]
        if stack:
            sizing = ", ".join(f"{k} {v}" for k, v in (stack.get("sizing") or {}).items())
            started = stack.get("startup_seconds")
            rows.append([f"{arch} stack", sizing + (f"; started in {started:.1f} s"
                                                    if started is not None else "")])
            settings = stack.get("settings") or settings
    if settings:
        rows.append(["stack settings (both)", ", ".join(f"{k}={v}" for k, v in
                                                        settings.items())])
        rows += [[f"{arch}: invoices delivered", invoice_delivery(arch, settings)]
                 for arch in summary["architectures"]]
    blocks = [Para("The architecture is the variable under study. Both ran on the same "
                   "cores, with the same load, data, PostgreSQL server and stack settings, "
                   "the same worker and thread counts per web process, interleaved, "
                   "alternating which architecture runs first. What else differed, as "
                   "measured, is in the next section."),
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
    rows, limit = [], None
    for arch in archs:
        for r in a[arch]["repeats"]:
            host = r.get("host_cpu")
            if not host:
                continue
            limit = host.get("limit_percent", limit)
            rows.append([arch, str(r["repeat"]), num(host.get("busy_total_percent")),
                         num(host.get("known_percent")),
                         num(max(host["unexplained_percent"], 0.0)),
                         "NOISY" if host.get("flagged") else "ok"])
    if not rows:
        return [Para("This run was recorded before the lab sampled the host's CPUs: it "
                     "cannot say whether another program's load overlapped it.",
                     kind="warning")]
    noisy = [f"{arch} {r}" for arch in archs for r in a[arch].get("noisy_repeats", [])]
    blocks = [Para(f"At the start and the end of every measured phase the lab read the "
                   f"busy time of each CPU it uses (the system's and the generator's "
                   f"cores) and the CPU time of every process it knows (the stack, Locust, "
                   f"the lab itself). Busy time "
                   f"they do not explain is another program's load (or the kernel's work "
                   f"for nobody in particular). A repeat above {num(limit)}% of one core "
                   f"is flagged: its figures may be off.")]
    if noisy:
        blocks.append(Para("Flagged: " + ", ".join(noisy) + ". They are still in the "
                           "means; re-run on a quieter machine to be sure.", kind="warning"))
    else:
        blocks.append(Para("No repeat was flagged."))
    blocks.append(Table(["architecture", "repeat", "busy CPU %", "explained %",
                         "unexplained %", "verdict"], rows, "lrrrrl",
                        "In % of one core over the measured phase, summed over the cores "
                        "the lab uses."))
    return blocks


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
             num(r["app_rps"]), num(r["floor_rps"]), share_cell(r),
             f"{num(r['app_p50_ms'])} / {num(r['floor_p50_ms'])}",
             f"{num(r['app_p99_ms'])} / {num(r['floor_p99_ms'])}"] for r in cal["rows"]]
    blocks = [Para("Each architecture was loaded with wrk next to its floor: bare apps "
                   "running the identical SQL with the identical gunicorn and pool "
                   "configuration (for the microservices also the same hops and HTTP "
                   "client), and nothing else. The share of the floor says how much the "
                   "architecture's own code costs on this machine, independently of how "
                   "fast the machine is."),
              Table(["architecture", "endpoint", "req/s", "floor req/s", "share",
                     "p50 ms (app / floor)", "p99 ms (app / floor)"], rows, "llrrrrr",
                    f"Medians of {cal.get('rounds') or '?'} round(s) of "
                    f"{cal.get('seconds') or '?'} s at {cal.get('connections') or '?'} "
                    f"connections; calibrated {cal.get('created_at') or 'at an unknown time'}"
                    f" at commit {(cal.get('git_commit') or 'unknown')[:12]}.")]
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


def share_cell(row: dict) -> str:
    """An app's share of its floor, with its interval over rounds when there is one."""
    text = f"{100 * row['rps_ratio']:.0f}%"
    interval = row.get("rps_ratio_ci")
    if interval and None not in interval:
        text += f" ({100 * interval[0]:.0f}–{100 * interval[1]:.0f}%)"
    return text


def _how_to_read(summary: dict) -> list[Para]:
    ns = sorted({summary["arch"][a]["n"] for a in summary["architectures"]})
    t_now = ", ".join(f"{t95(n - 1):.2f} for n = {n}" for n in ns if n >= 2)
    ratios = summary["ratios"]
    ratio_text = (f"A = {ratios['numerator']}, B = {ratios['denominator']}: "
                  f"{ratios['method']} {coverage_sentence(ratios.get('coverage'))}"
                  if ratios else
                  "It needs two architectures with completed repeats.")
    return [
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
        Para(ratio_text, term="The ratio and its interval."),
        Para("All requests of the measured run (warm-up excluded, failed requests "
             "included) divided by the time from its first to its last request (Locust's "
             "own window, a little under the configured duration_s). The error rate is "
             "failures / requests.", term="Throughput."),
        Para("Like throughput, but counting only successful, complete answers: failures "
             "and degraded answers are left out. A degraded answer is a success the "
             "contract allows that lacks part of what was asked: the microservices answer "
             "a product with its stock unknown when inventory does not answer in time "
             "(docs/product-detail.md). The monolith reads stock in the same transaction, "
             "so it has none.", term="Goodput and degraded answers."),
    ]


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
    perf = [FIGURES[n] for n in ("throughput", "latency", "latency_percentiles",
                                 "throughput_over_time", "p95_over_time") if n in charts]
    sections = [
        Section("headline", "Headline", headline(summary)),
        Section("summary", "Summary", [_summary_table(summary), _repeats_table(summary)]),
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
