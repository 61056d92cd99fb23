"""summary.json: every figure the report shows, computed from the raw files alone.

Structure (all times in ms, rates as fractions, CPU in % of one core, memory in MiB):

    {"format": 2, "run": folder name, "experiment", "architectures": [...],
     "missing": [{"arch", "repeat", "reason"}],
     "arch": {ARCH: {
         "repeats": [{"repeat", "duration_s", "measured_s" (the steady window's seconds,
                      the denominator of every req/s; Locust's request window in runs
                      made before series.csv), "requests", "throughput_rps", "goodput_rps",
                      "steady": {"start_epoch", "end_epoch", "seconds", "dropped_s",
                                 "flagged", "reason", "trend", "source", "cpu_window",
                                 "sampled", "cpu_vs_requests"} (steady.py, measured.py:
                                 requests and CPU are counted over this window),
                      "sampler": run.json's sampler record (its cost and check) or null,
                      "degraded" (null: not recorded),
                      "p50_ms", "p95_ms", "p99_ms", "errors", "error_rate",
                      "conflicts_409", "exceptions", "checkouts", "exit_code", "stack",
                      "generator": {"cpu_percent_mean", "cpu_percent_max", "overloaded",
                                    "lag": {"p50_ms", "p99_ms", "max_ms", "count",
                                            "limit_ms", "share", "late"} or null},
                      "sut_cpu_percent", "sut_memory_mib", "rps_per_core", "rps_per_gib",
                      "components": {NAME: {"cpu_percent", "memory_mib"}},
                      "cpu_ms_per_request" (the system's CPU time per request served:
                                            CPU seconds / requests, in ms),
                      "cpu_ms_by_component": {NAME: ms},
                      "drift": {"flagged", "lowest_share", "rates", "window_s", "note"}
                               (drift.py: the slowest of equal parts of the measured
                               window against the fastest),
                      "stock_min_available", "restocked_to" (run.json; null when not
                      recorded), "sold_out" (the lowest stock reached 0),
                      "timeline": [[seconds, req/s, p95 ms or null], ...] (per second,
                                   from the Aggregated rows of the history),
                      "host_cpu": run.json's host window or null, "noisy",
                      "canary_ms" (the speed canary's CPU ms on the system's cores,
                                   mean of before and after; null: not recorded),
                      "canary_before_ms", "canary_after_ms", "canary_off" (fraction
                      off the session's median), "slow_cpu" (more than 5% off),
                      "requests_per_canary" (throughput x canary seconds),
                      "held": {processes, web_masters, web_workers, background_processes,
                               postgres_processes, threads, web_worker_threads,
                               connections_open_max, connections_in_use_max,
                               hops_per_request, liveness_probe_ms_per_s, cores,
                               memory_mib, memory_mib_per_process} or null}],
         "n": completed repeats, "overloaded_repeats": [...], "noisy_repeats": [...],
         "unsteady_repeats": [...],
         "slow_cpu_repeats": [...],
         "drifting_repeats": [...], "sold_out_repeats": [...],
         "degraded": total or null, "held": {same keys: [min, max] over repeats} or null,
         "stats": {METRIC: {"mean", "stdev", "n", "half_width", "ci95": [lo, hi]}}
                  for throughput_rps, goodput_rps, p50_ms, p95_ms, p99_ms, error_rate,
                  rps_per_core, rps_per_gib, cpu_ms_per_request, requests_per_canary
                  (stdev/half_width/ci95 null when n < 2),
         "endpoints": [{"method", "name", "requests", "rps", "p50_ms", "p95_ms",
                        "p99_ms", "failures"}],   (pooled over the repeats)
         "failures": [{"method", "name", "error", "occurrences"}],
         "components": {NAME: {"cpu_percent", "memory_mib"}},   (mean over repeats)
         "cpu_ms_by_component": {NAME: ms},   (mean over repeats)
         "lab_processes": {NAME: {"cpu_percent", "memory_mib"}},  (generator, supervisor)
         "latency_histogram": {ms: count}}},  (pooled over the repeats)
     "ratios": {"numerator", "denominator", "method", "coverage": {n: share, "runs"},
                "throughput": {"value", "lo", "hi", "bounded"}, "goodput": {...},
                "p50", "p95", "p99", "cpu_per_request": {...}} or null,
     "workload": {"personas": {NAME: weight}, "buys" (a persona checks out, or a repeat
                  saw a checkout or a 409), "users", "spawn_rate", "wait_s" (think time
                  [min, max]; [0, 0] none), "shape", "load_varies", "warmup_s",
                  "duration_s", "repeats", "measured_s": [min, max] of the
                  repeats' Locust windows, "restocked_to": [levels recorded]},
     "drift_rule": {"windows", "min_share", "min_window_s"}, "steady_rule": steady.rule(),
     "budget": manifest budget, "sut_cores": n, "memory_basis": "pss" | "rss",
     "canary": {"median_ms", "min_ms", "max_ms", "spread_percent", "repeats",
                "off_limit_percent", "iterations"} over every repeat of this run folder
               (all architectures; an open phase is a session of its own) or null,
     "calibration": {"rows": [{"arch", "endpoint", "app_rps", "floor_rps", "rps_ratio",
                               "rps_ratio_ci", "app_p50_ms", "floor_p50_ms", "app_p99_ms",
                               "floor_p99_ms"}],
                     "mismatches": [why it may not describe this run], "noisy_rounds",
                     ...} or null,
     "machine": manifest machine facts, "config": the experiment as run,
     "order", "order_rule", "postgres_servers": [server versions that ran],
     "open_loop": the open loop's summary (this structure, plus "capacity") for a run
                  with both loops, else null}

An open loop's repeats add "open_loop" (openloop.json without its histograms and
per-name records; format 1 files get "format": 1 and the defaults they lacked; every
latency record's percentiles marked in "support": {"p50": {"count", "needed",
"supported"}, ...}) and "corrected_p50_ms"/"corrected_p95_ms"/"corrected_p99_ms" (the
successful answers' latency from the intended send time; estimated and compared like
the others). Every repeat has "percentile_support": {"p50_ms": {"count", "needed",
"supported"}, ... and, in an open loop, "corrected_p50_ms", ...}: a percentile p is
supported by N samples when N >= 10 / (1 - p). An open loop's architectures add
"behind_schedule_repeats", "unfinished_repeats", "corrected_percentiles" and
"uncorrected_percentiles" ([[percentile, ms], ...] of all repeats merged) and
"open_loop_pooled" (archlab/report/openloop.py `pooled`: every record of all repeats
merged, counts summed, rates averaged, in total and per step in "by_step").
"""

import statistics
from collections import defaultdict

from archlab import canary, formats
from archlab.errors import LabError
from archlab.report import coverage, drift, measured, openloop, stats, steady, workload
from archlab.report.raw import Repeat, Run, read_run
from loadtests import latency

# The percentiles an open loop's pooled latency curve is drawn at.
PERCENTILES = (1, 5, 10, 25, 50, 75, 90, 95, 99, 99.5, 99.9, 99.99, 100)

METRICS = ("throughput_rps", "goodput_rps", "p50_ms", "p95_ms", "p99_ms", "error_rate",
           "rps_per_core", "rps_per_gib", "cpu_ms_per_request",
           # An open loop's latencies from each request's intended send time.
           "corrected_p50_ms", "corrected_p95_ms", "corrected_p99_ms",
           # Throughput in the speed canary's units (requests per canary time).
           "requests_per_canary")
# The ratios of the two architectures' repeats: name -> the figure compared.
RATIOS = {"throughput": "throughput_rps", "goodput": "goodput_rps", "p50": "p50_ms",
          "p95": "p95_ms", "p99": "p99_ms", "cpu_per_request": "cpu_ms_per_request"}
# An open loop's ratios, of latencies counted from the intended send time.
OPEN_RATIOS = {"corrected_p50": "corrected_p50_ms", "corrected_p95": "corrected_p95_ms",
               "corrected_p99": "corrected_p99_ms"}
# Processes of the lab itself: measured, but not part of the system under test.
LAB_COMPONENTS = ("generator", "supervisor")
MIB = 2**20
# The folder of a run's open loop when a closed loop ran first (archlab.bench).
OPEN_PHASE = "open"
def _memory_basis(run: Run) -> str:
    """PSS where the sampler read it (every sample in older files, every few seconds
    now: a run of both kinds is read by its rows that have it), else RSS."""
    rows = [m for r in run.repeats for m in r.metrics]
    old = [m for m in rows if m.get("epoch") is None]
    if not rows or (old and not all(m["pss"] is not None for m in old)):
        return "rss"
    return "pss" if any(m["pss"] is not None for m in rows) else "rss"


def component_use(rep: Repeat, basis: str) -> dict[str, dict]:
    """Mean CPU (% of one core) and mean memory (MiB) per component over the measured
    phase: processes are summed per one-second sample, then averaged over the samples."""
    duration = rep.run["duration_s"]
    # (component, pid, second) -> readings; a sampler running late may put two readings
    # of one process in one second: they are averaged, not added.
    cells: dict[tuple, list[dict]] = defaultdict(list)
    for m in rep.metrics:
        if 0 <= m["t"] <= duration:
            cells[(m["component"], m["pid"], round(m["t"]))].append(m)
    seconds = {sec for _, _, sec in cells}
    totals: dict[str, dict[str, float]] = defaultdict(lambda: {"cpu": 0.0, "mem": 0.0})
    for (component, _, _), readings in cells.items():
        cpu = [m["cpu"] for m in readings if m["cpu"] is not None]
        mem = [m[basis] for m in readings if m[basis] is not None]
        totals[component]["cpu"] += sum(cpu) / len(cpu) if cpu else 0.0
        totals[component]["mem"] += sum(mem) / len(mem) if mem else 0.0
    return {c: {"cpu_percent": t["cpu"] / len(seconds),
                "memory_mib": t["mem"] / len(seconds) / MIB}
            for c, t in sorted(totals.items())}


def _timeline(rep: Repeat) -> list[list]:
    """[seconds, req/s, p95] per history row: req/s from the growth of the request count
    since the previous row (Locust's own Requests/s column lags, averaging ~10 s); a p95
    of 0 is Locust's placeholder before its window has data, so it becomes None."""
    h = rep.history
    return [[b["t"] - h[0]["t"], (b["requests"] - a["requests"]) / (b["t"] - a["t"]),
             b["p95_ms"] or None] for a, b in zip(h, h[1:], strict=False) if b["t"] > a["t"]]


def locust_window(entries: list[dict], configured_s: float) -> float:
    """Seconds from Locust's first to its last request: the measured run's real length
    (a few hundred ms under the configured one, and not the same for every run)."""
    starts = [e["start_time"] for e in entries if e.get("start_time")]
    ends = [e["last_request_timestamp"] for e in entries if e.get("last_request_timestamp")]
    if not starts or not ends or max(ends) <= min(starts):
        return configured_s
    return max(ends) - min(starts)


def cpu_ms_per_request(cpu_percent: float, rps: float) -> float | None:
    """CPU time per request served, in ms: CPU seconds per second over requests per
    second (both means over the measured window)."""
    return cpu_percent / 100 / rps * 1000 if rps else None


def repeat_figures(rep: Repeat, basis: str, sut_cores: int, load_varies: str | None) -> dict:
    """Throughput, latency percentiles, errors, generator load, resource use, drift and
    stock of one repeat; `load_varies` names a load shape that changes the users."""
    duration = float(rep.run["duration_s"])
    hist = stats.merge_histograms(e["response_times"] for e in rep.locust)
    requests = sum(int(e["num_requests"]) for e in rep.locust)
    errors = sum(int(e["num_failures"]) for e in rep.locust)
    degraded = rep.degraded
    steady_window = measured.window(rep)
    if steady_window and rep.series:
        # One window, the steady state's, for requests and CPU alike.
        use = measured.component_use(rep, basis, steady_window)
        counted = measured.counts(rep, steady_window)
        window = counted["seconds"]
        rps = counted["requests"] / window
        # Degraded answers are not timed: their share of the run's requests.
        good = (counted["requests"] - counted["failures"]
                - counted["requests"] * (degraded or 0) / max(requests, 1))
    else:
        use = component_use(rep, basis)
        window = locust_window(rep.locust, duration)
        rps = requests / window
        good = requests - errors - (degraded or 0)
    sut = {c: u for c, u in use.items() if c not in LAB_COMPONENTS}
    sut_cpu = sum(u["cpu_percent"] for u in sut.values())
    sut_mib = sum(u["memory_mib"] for u in sut.values())
    p50 = stats.percentile(hist, 50)
    lag = measured.generator_lag(rep, p50)
    gen = rep.run["generator"]
    host = rep.run.get("host_cpu")
    stock = rep.run.get("stock_min_available")
    return {
        "repeat": rep.repeat, "duration_s": duration, "measured_s": window,
        "requests": requests,
        "throughput_rps": rps,
        # Successful, complete answers only: failures and degraded answers left out.
        "goodput_rps": good / window,
        "degraded": degraded,
        "steady": steady_window,
        "p50_ms": p50, "p95_ms": stats.percentile(hist, 95),
        "p99_ms": stats.percentile(hist, 99),
        "errors": errors, "error_rate": errors / requests if requests else 0.0,
        "conflicts_409": sum(f["occurrences"] for f in rep.failures if "409" in f["error"]),
        "exceptions": rep.exceptions, "checkouts": rep.checkouts,
        "exit_code": rep.run.get("exit_code"), "stack": rep.run.get("stack") or {},
        "generator": {"cpu_percent_mean": gen.get("cpu_percent_mean"),
                      "cpu_percent_max": gen.get("cpu_percent_max"),
                      # Its CPU share over the limit (the runner's judgement), or its
                      # event loop late against the latency it measured.
                      "overloaded": bool(gen.get("overloaded") or (lag and lag["late"])),
                      "lag": lag},
        "sampler": rep.run.get("sampler"),
        "sut_cpu_percent": sut_cpu, "sut_memory_mib": sut_mib,
        "rps_per_core": rps / sut_cores,
        "rps_per_gib": rps / (sut_mib / 1024) if sut_mib else None,
        "components": use,
        # None without CPU samples of the system (nothing to divide).
        "cpu_ms_per_request": cpu_ms_per_request(sut_cpu, rps) if sut else None,
        "cpu_ms_by_component": {c: cpu_ms_per_request(u["cpu_percent"], rps)
                                for c, u in sut.items()},
        "timeline": _timeline(rep),
        "drift": drift.judge(measured.drift_rows(rep, steady_window)
                             if steady_window and rep.series else rep.history, load_varies),
        "stock_min_available": stock,
        # Absent in runs made before restocking; null when the run did not restock.
        "restocked_to": rep.run.get("restocked_to"),
        "sold_out": stock == 0,
        "host_cpu": host,
        "noisy": bool(host and host.get("flagged")),
        # The speed canary on the system's cores (archlab/canary.py; None: not recorded),
        # and the throughput in its time: requests served while one canary runs.
        **canary_figures(rep.run.get("canary"), rps),
        # On containers: the engine's figures per service (run.json), else absent.
        "containers": rep.run.get("containers"),
        "held": held_figures(rep, sut_mib, sut_cores),
        "open_loop": open_loop_figures(rep.openloop),
        # The successful answers' latencies from the intended send (format 1: all answers).
        **{f"corrected_{p}_ms": (rep.openloop["corrected"][f"{p}_ms"] if rep.openloop
                                 else None) for p in ("p50", "p95", "p99")},
        # Each percentile's sample count and whether it supports it (stats.samples_needed).
        "percentile_support": {
            **{f"p{p}_ms": stats.percentile_support(requests, p) for p in (50, 95, 99)},
            **({f"corrected_p{p}_ms": stats.percentile_support(
                rep.openloop["corrected"].get("count"), p) for p in (50, 95, 99)}
               if rep.openloop else {})},
    }


def canary_figures(record: dict | None, rps: float) -> dict:
    """A repeat's canary ms on the system's cores (mean of the runs before and after,
    and each), and its throughput per canary unit: rps x canary seconds."""
    ms = canary.sut_ms(record)
    return {"canary_ms": ms, "canary_before_ms": canary.sut_ms(record, ("before",)),
            "canary_after_ms": canary.sut_ms(record, ("after",)),
            "requests_per_canary": rps * ms / 1000 if ms else None}


def canary_session(repeats: list[Repeat]) -> dict | None:
    """The canary over every repeat of a run folder, all architectures (a session):
    median, range and spread in % of the median; None when no repeat recorded one."""
    found = (canary.sut_ms(r.run.get("canary")) for r in repeats)
    values = sorted(ms for ms in found if ms is not None)
    if not values:
        return None
    median = statistics.median(values)
    return {"median_ms": median, "min_ms": values[0], "max_ms": values[-1],
            "spread_percent": 100 * (values[-1] - values[0]) / median,
            "repeats": len(values), "off_limit_percent": 100 * canary.OFF_LIMIT,
            "iterations": sorted({r.run["canary"].get("iterations") for r in repeats
                                  if r.run.get("canary")})}


def open_loop_figures(loop: dict | None) -> dict | None:
    """An open loop's schedule, what became of its arrivals and every latency record
    (without the encoded histograms, each percentile marked with its support); None for
    a closed loop."""
    return openloop.figures(loop) if loop is not None else None


def pooled_percentiles(repeats: list[Repeat], key: str) -> list[list[float]] | None:
    """The open loop's `key` ("corrected" or "uncorrected") histograms of all repeats
    merged: [[percentile, ms], ...] at the report's percentiles; None for a closed loop."""
    if not all(r.openloop for r in repeats):
        return None
    merged = latency.new_histogram()
    for r in repeats:
        merged.add(latency.decode(r.openloop[key].get("hdr")))
    if not merged.get_total_count():
        return None
    return [[p, merged.get_value_at_percentile(p) / 1000] for p in PERCENTILES]


def held_figures(rep: Repeat, sut_mib: float, sut_cores: int) -> dict | None:
    """What the stack ran with in this repeat (run.json's census, connections.csv and the
    access logs), for the held-equal table; None for runs recorded before the census."""
    census = rep.run.get("census")
    if not census:
        return None
    procs = census["processes"]
    roles = defaultdict(int)
    for p in procs:
        roles[p["role"]] += 1
    lines = census.get("access_log_lines") or {}
    entry = lines.get(census.get("entrypoint"), 0)
    per_second = defaultdict(lambda: [0, 0])
    for c in rep.connections:
        cell = per_second[c["t"]]
        cell[0] += c["open"]
        cell[1] += c["in_use"]
    app = [p for p in procs if p["role"] != "postgres"]
    return {
        "processes": len(procs),
        "web_masters": roles["web master"], "web_workers": roles["web worker"],
        "background_processes": roles["process"], "postgres_processes": roles["postgres"],
        "threads": sum(p["threads"] for p in app),
        "web_worker_threads": sum(p["threads"] for p in procs if p["role"] == "web worker"),
        "connections_open_max": max((v[0] for v in per_second.values()), default=None),
        "connections_in_use_max": max((v[1] for v in per_second.values()), default=None),
        # Every process writes one access-log line per request it serves, so the lines
        # per request the entry point served are the HTTP hops each request took (the
        # entry point's own included), and the log lines it cost.
        "hops_per_request": sum(lines.values()) / entry if entry else None,
        # The liveness probes' request time per second of the run: at most the CPU they
        # took from the stack (they are not counted as requests or hops).
        "liveness_probe_ms_per_s": (census["liveness_probes"]["request_ms"]
                                    / float(rep.run["duration_s"])
                                    if census.get("liveness_probes") else None),
        "cores": sut_cores,
        "memory_mib": sut_mib,
        "memory_mib_per_process": sut_mib / len(procs) if procs else None,
    }


def _endpoints(repeats: list[Repeat]) -> list[dict]:
    duration = sum(float(r.run["duration_s"]) for r in repeats)
    groups: dict[tuple, list[dict]] = defaultdict(list)
    for r in repeats:
        for e in r.locust:
            groups[(e["method"], e["name"])].append(e)
    rows = []
    for (method, name), entries in groups.items():
        hist = stats.merge_histograms(e["response_times"] for e in entries)
        requests = sum(int(e["num_requests"]) for e in entries)
        rows.append({"method": method, "name": name, "requests": requests,
                     "rps": requests / duration,
                     "p50_ms": stats.percentile(hist, 50),
                     "p95_ms": stats.percentile(hist, 95),
                     "p99_ms": stats.percentile(hist, 99),
                     "failures": sum(int(e["num_failures"]) for e in entries)})
    return sorted(rows, key=lambda row: (-row["requests"], row["name"], row["method"]))


def _failures(repeats: list[Repeat]) -> list[dict]:
    counts: dict[tuple, int] = defaultdict(int)
    for r in repeats:
        for f in r.failures:
            counts[(f["method"], f["name"], f["error"])] += f["occurrences"]
    return [{"method": m, "name": n, "error": e, "occurrences": c}
            for (m, n, e), c in sorted(counts.items(), key=lambda kv: -kv[1])]


def _mean_use(figures: list[dict], lab: bool) -> dict[str, dict]:
    names = sorted({c for f in figures for c in f["components"]
                    if (c in LAB_COMPONENTS) == lab})
    return {c: {k: sum(f["components"].get(c, {}).get(k, 0.0) for f in figures) / len(figures)
                for k in ("cpu_percent", "memory_mib")} for c in names}


def arch_summary(repeats: list[Repeat], basis: str, sut_cores: int,
                 load_varies: str | None = None, canary_median: float | None = None) -> dict:
    """One architecture: its repeats, the estimates across them and pooled tables;
    `canary_median` is the session's, against which a repeat's cores ran slow."""
    figures = [repeat_figures(r, basis, sut_cores, load_varies) for r in repeats]
    for f in figures:
        off = canary.off_median(f["canary_ms"], canary_median)
        f["canary_off"] = off
        f["slow_cpu"] = off is not None and abs(off) > canary.OFF_LIMIT
    estimates = {}
    for metric in METRICS:
        values = [f[metric] for f in figures if f[metric] is not None]
        if values or metric not in OPEN_RATIOS.values():  # a closed loop has no corrected
            estimates[metric] = stats.estimate(values).to_dict() if values else None
    return {
        "repeats": figures, "n": len(figures),
        "overloaded_repeats": [f["repeat"] for f in figures if f["generator"]["overloaded"]],
        "noisy_repeats": [f["repeat"] for f in figures if f["noisy"]],
        "slow_cpu_repeats": [f["repeat"] for f in figures if f["slow_cpu"]],
        "drifting_repeats": [f["repeat"] for f in figures if f["drift"]["flagged"]],
        "unsteady_repeats": [f["repeat"] for f in figures
                             if f["steady"] and f["steady"]["flagged"]],
        "sold_out_repeats": [f["repeat"] for f in figures if f["sold_out"]],
        "behind_schedule_repeats": [f["repeat"] for f in figures
                                    if f["open_loop"] and f["open_loop"]["behind_schedule"]],
        "unfinished_repeats": [f["repeat"] for f in figures
                               if f["open_loop"] and f["open_loop"]["unfinished"]],
        "corrected_percentiles": pooled_percentiles(repeats, "corrected"),
        "uncorrected_percentiles": pooled_percentiles(repeats, "uncorrected"),
        "open_loop_pooled": openloop.pooled([r.openloop for r in repeats]),
        "degraded": (sum(f["degraded"] for f in figures)
                     if all(f["degraded"] is not None for f in figures) else None),
        "held": _held(figures),
        "stats": estimates,
        "endpoints": _endpoints(repeats), "failures": _failures(repeats),
        "components": _mean_use(figures, lab=False),
        "cpu_ms_by_component": _mean_ms(figures),
        "lab_processes": _mean_use(figures, lab=True),
        "latency_histogram": dict(sorted(stats.merge_histograms(
            e["response_times"] for r in repeats for e in r.locust).items())),
    }


def _mean_ms(figures: list[dict]) -> dict[str, float]:
    """CPU ms per request of each component, mean over the repeats that served requests
    (a component a repeat did not sample counts 0 there)."""
    served = [f["cpu_ms_by_component"] for f in figures if f["cpu_ms_per_request"] is not None]
    names = sorted({c for ms in served for c in ms})
    return {c: sum(ms.get(c) or 0.0 for ms in served) / len(served) for c in names}


def _held(figures: list[dict]) -> dict | None:
    """Each held-equal figure over the repeats: [min, max] (the same in every repeat for
    counts, as a rule), or None when no repeat recorded it."""
    held = [f["held"] for f in figures if f["held"]]
    if not held:
        return None
    out = {}
    for key in held[0]:
        values = [h[key] for h in held if h[key] is not None]
        out[key] = [min(values), max(values)] if values else None
    return out


def _ratios(archs: dict[str, dict]) -> dict | None:
    names = list(archs)
    if {"monolith", "microservices"} <= set(names):
        a, b = "monolith", "microservices"
    elif len(names) >= 2:
        a, b = names[:2]
    else:
        return None

    def of(metric: str) -> dict:
        values = [[f[metric] for f in archs[x]["repeats"] if f[metric] is not None]
                  for x in (a, b)]
        if not all(values):
            return stats.Ratio(None, None, None, False).to_dict()
        return stats.ratio(*(stats.estimate(v) for v in values)).to_dict()

    opened = all(f["open_loop"] for x in (a, b) for f in archs[x]["repeats"])
    compared = RATIOS | (OPEN_RATIOS if opened else {})
    return {"numerator": a, "denominator": b, "method": stats.RATIO_METHOD,
            "coverage": coverage.measured_coverage()} | {
        name: of(metric) for name, metric in compared.items()}


def calibration_rows(cal: dict) -> list[dict]:
    """Each architecture's share of its floor per endpoint, from either calibration.json
    shape: the per-endpoint `table`, or the first version's `medians`/`ratio_to_floor`."""
    if "table" in cal:
        keys = ("arch", "endpoint", "app_rps", "floor_rps", "rps_ratio", "rps_ratio_gmean",
                "rps_ratio_ci",
                "app_p50_ms", "floor_p50_ms", "app_p99_ms", "floor_p99_ms",
                # The stack's CPU ms per request above the floor's (null in older files).
                "overhead_ms", "overhead_ms_ci")
        return [{k: row.get(k) for k in keys} for row in cal["table"] if "rps_ratio" in row]
    medians, rows = cal.get("medians", {}), []
    for name, ratio in cal.get("ratio_to_floor", {}).items():
        app, floor = medians[name], medians[f"{name}-floor"]
        rows.append({"arch": name, "endpoint": cal.get("endpoint", "product"),
                     "app_rps": app["rps"], "floor_rps": floor["rps"],
                     "rps_ratio": ratio["rps"], "app_p50_ms": app["p50_ms"],
                     "floor_p50_ms": floor["p50_ms"], "app_p99_ms": app["p99_ms"],
                     "floor_p99_ms": floor["p99_ms"]})
    return rows


def _calibration(run: Run) -> dict | None:
    cal = run.manifest.get("calibration")
    if not cal:
        return None
    try:
        rows = calibration_rows(cal)
    except (AttributeError, KeyError, TypeError):
        raise LabError(f"{run.path / 'manifest.json'}: 'calibration' is not the content of "
                       "a calibration.json this report knows") from None
    machine = cal.get("machine") or {}
    return {"rows": rows, "mismatches": calibration_mismatches(cal, run.manifest),
            "noisy_rounds": cal.get("noisy_rounds"), "created_at": machine.get("created_at"),
            "git_commit": machine.get("git_commit"), "connections": cal.get("connections"),
            "seconds": cal.get("seconds"), "rounds": cal.get("rounds"),
            "endpoints": cal.get("endpoints") or {"product": cal.get("endpoint")},
            "path": cal.get("path"),
            # What the gaps to the floors do to the monolith/microservices ratio, per endpoint.
            "bias": cal.get("bias") or {}}


def calibration_mismatches(cal: dict, manifest: dict) -> list[str]:
    """Why a calibration may not describe this run: made on another machine, with
    another core budget or at another commit (each in words)."""
    theirs, ours = cal.get("machine") or {}, manifest.get("machine") or {}
    found = []
    for key, what in (("hostname", "host"), ("cpu_model", "CPU"), ("cpu_count", "CPU count")):
        if theirs.get(key) != ours.get(key):
            found.append(f"another machine ({what} {theirs.get(key)} there, "
                         f"{ours.get(key)} here)")
            break
    budget_keys = ("sut_cpus", "generator_cpus", "web_workers", "web_threads")
    cal_budget, run_budget = cal.get("budget") or {}, manifest.get("budget") or {}
    if any(cal_budget.get(k) != run_budget.get(k) for k in budget_keys):
        found.append("another core budget (" + ", ".join(
            f"{k} {cal_budget.get(k)} there, {run_budget.get(k)} here"
            for k in budget_keys if cal_budget.get(k) != run_budget.get(k)) + ")")
    if theirs.get("git_commit") != ours.get("git_commit"):
        found.append(f"another commit ({(theirs.get('git_commit') or 'unknown')[:12]} there, "
                     f"{(ours.get('git_commit') or 'unknown')[:12]} here)")
    return found


def _server(version: dict | None) -> str:
    """A server's version() text from what the bench recorded (None: it could not ask)."""
    return (version or {}).get("version") or "unknown"


def build_summary(run: Run) -> dict:
    """The summary of a run: see the module docstring for its structure."""
    manifest = run.manifest
    budget = manifest.get("budget") or {}
    sut_cores = len(budget.get("sut_cpus") or []) or int(budget.get("cpus_total") or 1)
    basis = _memory_basis(run)
    load = workload.describe(manifest.get("config") or {}, run.repeats[0].run)
    varies = load["shape"] if load["load_varies"] else None
    session = canary_session(run.repeats)
    median = session["median_ms"] if session else None
    archs = {a: arch_summary(run.of(a), basis, sut_cores, varies, median)
             for a in run.architectures if run.of(a)}
    figures = [f for a in archs.values() for f in a["repeats"]]
    # What the generator saw counts too: a checkout or a 409 means something bought.
    load["buys"] = load["buys"] or any(f["checkouts"] or f["conflicts_409"] for f in figures)
    load["measured_s"] = [min(f["measured_s"] for f in figures),
                          max(f["measured_s"] for f in figures)]
    load["repeats"] = load["repeats"] or max(a["n"] for a in archs.values())
    load["restocked_to"] = sorted({f["restocked_to"] for f in figures
                                   if f["restocked_to"] is not None})
    return {
        "format": formats.SUMMARY_FORMAT, "run": run.path.name,
        "experiment": manifest.get("experiment"),
        "architectures": list(archs),
        "missing": [{"arch": m.arch, "repeat": m.repeat, "reason": m.reason}
                    for m in run.missing],
        "arch": archs, "ratios": _ratios(archs),
        "workload": load, "drift_rule": drift.rule(), "steady_rule": steady.rule(),
        "budget": budget, "sut_cores": sut_cores, "memory_basis": basis,
        "canary": session,
        # Where the stacks ran: "local" processes or "compose" containers.
        "platform": manifest.get("platform", "local"),
        "calibration": _calibration(run),
        "machine": manifest.get("machine") or {}, "config": manifest.get("config") or {},
        "experiment_file": manifest.get("experiment_file"),
        "order": manifest.get("order"), "order_rule": manifest.get("order_rule"),
        "postgres_servers": sorted({_server(s.get("server_version"))
                                    for s in manifest.get("postgres_servers") or []}),
        "open_loop": _open_phase(run),
        # The open loop's noise floor (archlab/bench/floor.py); None before it was measured.
        "floor": manifest.get("floor"),
    }


def _open_phase(run: Run) -> dict | None:
    """The open loop of a run that ran a closed loop first (its open/ folder, a run
    folder of its own): its summary, with the capacities its rate was taken from."""
    folder = run.path / OPEN_PHASE
    if not (folder / "manifest.json").is_file():
        return None
    phase = read_run(folder)
    return build_summary(phase) | {"capacity": phase.manifest.get("capacity")}
