"""The figures of a calibration, from its runs: each architecture's share of its floor,
the overhead above the floor in CPU milliseconds per request, and the bias the remaining
gaps leave in the monolith/microservices ratio.

Share: app req/s / floor req/s. A round is a back-to-back pair of one app run and one
floor run; the share is the geometric mean of the per-round ratios with a t-based 95%
interval taken on the log scale.

Overhead: the stack's CPU time per request (every process of the stack, PostgreSQL
included, from their CPU time over the wrk run: archlab.hostcpu), app minus floor, per
round, with a t-based 95% interval over the rounds. A share alone can be raised without
any improvement, by a heavier shared query that both sides pay; the overhead in
milliseconds cannot: the same SQL costs the same on both sides and cancels.

Bias: a benchmark's monolith/microservices ratio is the floors' ratio times
(monolith share / microservices share); that factor per endpoint, with the Welch
interval on the logs of the per-round shares (archlab.report.stats.ratio).
"""

import math
import statistics

from archlab.report.stats import estimate, ratio

METRICS = ("rps", "p50_ms", "p99_ms")


def _flagged(run: dict) -> bool:
    return bool((run.get("host_cpu") or {}).get("flagged"))


def ratio_interval(ratios: list[float]) -> tuple[float, list[float] | None]:
    """The geometric mean of per-round ratios and its t-based 95% interval, taken on
    the log scale (ratios are multiplicative; the interval stays above 0); None with
    fewer than two rounds."""
    est = estimate(math.log(r) for r in ratios)
    centre = math.exp(est.mean)
    if est.half_width is None:
        return centre, None
    return centre, [math.exp(est.lo), math.exp(est.hi)]


def cpu_ms_per_request(run: dict) -> float | None:
    """The stack's CPU milliseconds per request in one run; None when the run has no
    CPU figure (an older file) or served nothing."""
    seconds = run.get("stack_cpu_seconds")
    if seconds is None or not run.get("requests"):
        return None
    return 1000.0 * seconds / run["requests"]


def overhead(apps: dict[int, dict], floors: dict[int, dict], used: list[int]) -> dict:
    """App and floor CPU ms per request (medians over the rounds used) and the overhead,
    app minus floor, per round, with its mean and t-based 95% interval (None with fewer
    than two rounds). Empty when the runs carry no CPU figures."""
    pairs = [(cpu_ms_per_request(apps[i]), cpu_ms_per_request(floors[i])) for i in used]
    pairs = [(a, f) for a, f in pairs if a is not None and f is not None]
    if not pairs:
        return {}
    per_round = [a - f for a, f in pairs]
    est = estimate(per_round)
    return {"app_cpu_ms": statistics.median(a for a, _ in pairs),
            "floor_cpu_ms": statistics.median(f for _, f in pairs),
            "overhead_ms_rounds": per_round, "overhead_ms": est.mean,
            "overhead_ms_ci": None if est.half_width is None else [est.lo, est.hi]}


def summarize(runs: list[dict]) -> dict:
    """Per (arch, endpoint): median req/s, p50 and p99 of app and floor over the rounds
    used, and the app's share of its floor (`rps_ratio`: req/s ratio of the medians;
    latency ratios floor/app, so 1.0 = as fast). The share shown is `rps_ratio_gmean`,
    the geometric mean of the per-round ratios, the centre of its 95% interval
    (`rps_ratio_ci`; report.words.floor_share). Beside it the overhead in CPU ms per
    request (`overhead`). Then per endpoint the `bias` the gaps leave in the
    monolith/microservices ratio.

    A round is a back-to-back pair of one app run and one floor run. Pairs where either
    run was flagged for host noise are left out while clean pairs remain (else all are
    used, and `noise_fallback` says so); `rounds_used` and `rounds_noisy` list them.
    Also `noisy_rounds`: every flagged run, for the closing output and the report."""
    by_key: dict[tuple, dict[int, dict]] = {}
    for r in runs:
        by_key.setdefault((r["arch"], r["endpoint"], r["variant"]), {})[r["round"]] = r
    table = []
    for (arch, endpoint, variant), apps in by_key.items():
        if variant != "app":
            continue
        floors = by_key.get((arch, endpoint, "floor"), {})
        paired = sorted(set(apps) & set(floors))
        noisy = [i for i in paired if _flagged(apps[i]) or _flagged(floors[i])]
        clean = [i for i in paired if i not in noisy]
        used = clean or paired or sorted(apps)
        row = {"arch": arch, "endpoint": endpoint}
        for name, rs in (("app", apps), ("floor", floors)):
            chosen = [rs[i] for i in used if i in rs]
            if not chosen:
                continue
            row |= {f"{name}_{m}": statistics.median(r[m] for r in chosen) for m in METRICS}
            row |= {f"{name}_errors": sum(r["errors"] for r in chosen),
                    f"{name}_rounds": len(chosen)}
        if paired:
            per_round = [apps[i]["rps"] / floors[i]["rps"] for i in used]
            gmean, ci = ratio_interval(per_round)
            row |= {"rps_ratio": row["app_rps"] / row["floor_rps"],
                    "p50_ratio": row["floor_p50_ms"] / row["app_p50_ms"],
                    "p99_ratio": row["floor_p99_ms"] / row["app_p99_ms"],
                    "rps_ratio_rounds": per_round, "rps_ratio_gmean": gmean,
                    "rps_ratio_ci": ci, "rounds_used": used, "rounds_noisy": noisy,
                    "noise_fallback": bool(noisy) and not clean}
            row |= overhead(apps, floors, used)
        table.append(row)
    noisy_runs = [{"arch": r["arch"], "round": r["round"], "endpoint": r["endpoint"],
                   "variant": r["variant"],
                   "unexplained_percent": r["host_cpu"]["unexplained_percent"]}
                  for r in runs if _flagged(r)]
    return {"table": table, "bias": bias(table), "noisy_rounds": noisy_runs}


def bias(table: list[dict]) -> dict:
    """Per endpoint calibrated on both architectures: the factor by which the gaps to
    the floors move a monolith/microservices ratio (monolith share / microservices
    share; 1 = no bias), with the Welch 95% interval on the logs of the per-round
    shares, and a sentence saying it."""
    rows = {(r["arch"], r["endpoint"]): r for r in table if r.get("rps_ratio_rounds")}
    out = {}
    for endpoint in dict.fromkeys(e for _, e in rows):
        mono, micro = rows.get(("monolith", endpoint)), rows.get(("microservices", endpoint))
        if mono is None or micro is None:
            continue
        r = ratio(mono["rps_ratio_rounds"], micro["rps_ratio_rounds"])
        out[endpoint] = {"value": r.value, "lo": r.lo, "hi": r.hi, "bounded": r.bounded,
                         "text": bias_text(r.value, r.lo, r.hi)}
    return out


def bias_text(value: float, lo: float | None, hi: float | None) -> str:
    """'the gaps raise the monolith/microservices ratio by 1.05x (95% CI 1.01-1.09)', or
    '... not distinguishable from none' when the interval holds 1."""
    moves = "raise" if value >= 1 else "lower"
    text = f"the gaps {moves} the monolith/microservices ratio by {value:.2f}x"
    if lo is None or hi is None:
        return text + " (no interval: fewer than two rounds on a side)"
    text += f" (95% CI {lo:.2f}-{hi:.2f})"
    return text + (": not distinguishable from none" if lo <= 1 <= hi else "")
