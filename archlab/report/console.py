"""The summary a run prints on the console: the same lines after `archlab bench`,
`make demo` and `archlab report`, from summary.json, with 95% intervals, the flags of
the report (generator overloaded, host noise, drift, sold out) in brief, and the
ratios stated as findings only when their interval excludes 1."""

import json
from pathlib import Path

from archlab.report import openloop
from archlab.report.words import NOT_DISTINGUISHABLE, distinguishable

# What "req/s" means here, said on the console where other rates scroll by during a run.
REQ_S_MEANING = ("req/s: each repeat's requests over its measured window (Locust's first "
                 "to last request), then the mean over the repeats [95% CI]")
RATIO_NAMES = (("throughput", "throughput"), ("goodput", "goodput"), ("p50", "p50"),
               ("p95", "p95"), ("p99", "p99"), ("cpu_per_request", "CPU per request"),
               ("corrected_p50", "corrected p50"), ("corrected_p95", "corrected p95"),
               ("corrected_p99", "corrected p99"))


# Lists of flagged repeats in an architecture's summary, and what each flag means.
REPEAT_FLAGS = (
    ("overloaded_repeats", "the load generator was overloaded in repeat(s) {}: those "
                           "figures measure the generator"),
    ("noisy_repeats", "another program loaded the host in repeat(s) {}: those figures may "
                      "be off (report: Host noise)"),
    ("slow_cpu_repeats", "the speed canary ran more than 5% off the run's median in "
                         "repeat(s) {}: those cores ran at another speed (report: Host "
                         "noise)"),
    ("behind_schedule_repeats", "the load generator fell behind its schedule in repeat(s) "
                                "{}: it delayed those requests"),
    ("unfinished_repeats", "arrivals went unanswered in repeat(s) {}: the rate was above "
                           "what it served"),
)


def _ci(stat: dict | None, fmt: str) -> str:
    """'mean [lo-hi]', 'mean [no interval]' with a single repeat, '-' with no figure."""
    if not stat or stat.get("mean") is None:
        return "-"
    if not stat.get("ci95"):
        return f"{stat['mean']:{fmt}} [no interval]"
    lo, hi = stat["ci95"]
    return f"{stat['mean']:{fmt}} [{max(lo, 0):{fmt}}-{hi:{fmt}}]"


def ratio_line(name: str, r: dict | None) -> str:
    """'p95 0.46x [0.21-1.13], not distinguishable in this run': a ratio whose interval
    includes 1 (or that has none) is never a finding."""
    if not r or r.get("value") is None:
        return f"{name} -"
    text = f"{name} {r['value']:.2f}x"
    if r.get("lo") is None:
        return f"{text} [no interval], {NOT_DISTINGUISHABLE}"
    hi = "no upper bound" if r.get("hi") is None else f"{r['hi']:.2f}"
    text += f" [{r['lo']:.2f}-{hi}]"
    return text if distinguishable(r) else f"{text}, {NOT_DISTINGUISHABLE}"


def workload_line(summary: dict) -> str | None:
    """'workload: browsing only (BrowserUser), closed loop, 16 users, no think time;
    3 repeats x 12 s measured per architecture'; None for a summary without it."""
    load = summary.get("workload")
    if not load:
        return None
    personas = ", ".join(load["personas"]) or "personas not recorded"
    kind = "browsing and buying" if load["buys"] else "browsing only"
    wait = load.get("wait_s")
    think = ("think time not recorded" if wait is None else "no think time"
             if max(wait) == 0 else f"think time {wait[0]:g}-{wait[1]:g} s")
    if load.get("users") is None:
        users = (f"open loop at {load.get('arrival_rate')} arrivals/s, at most "
                 f"{load.get('max_in_flight')} in flight")
    elif load.get("load_varies"):
        users = f"load shape {load['shape']}"
    else:
        users = f"closed loop, {load['users']} users, {think}"
    return (f"workload: {kind} ({personas}), {users}; {load['repeats']} repeats x "
            f"{load['duration_s']} s measured per architecture")


def _flags(summary: dict, arch: str) -> list[str]:
    """The report's flags of one architecture's repeats, one short line each."""
    a = summary["arch"][arch]
    lines = []
    lines += [f"  ! {text.format(a[key])}" for key, text in REPEAT_FLAGS if a.get(key)]
    for r in a.get("repeats", []):
        d = r.get("drift") or {}
        if d.get("flagged"):
            lines.append(f"  ! repeat {r['repeat']}: throughput drifted within its measured "
                         f"window (slowest part {100 * d['lowest_share']:.0f}% of the "
                         f"fastest; report: How to read this, Drift)")
    if a.get("sold_out_repeats"):
        lines.append(f"  ! SOLD OUT in repeat(s) {a['sold_out_repeats']}: a product's stock "
                     f"reached 0, so their 409s measure the sell-out, not the architecture")
    if a.get("degraded"):
        lines.append(f"  {a['degraded']:,} degraded answer(s) (stock unknown), left out "
                     "of goodput")
    return lines


def summary_lines(summary: dict) -> list[str]:
    """The summary table: the workload, per architecture mean and 95% CI with its flags,
    then every ratio, then any missing repeat."""
    lines = [line for line in (workload_line(summary), REQ_S_MEANING) if line]
    lines.append(f"{'architecture':<15}{'n':>3}  {'req/s [95% CI]':<22}{'goodput [CI]':<22}"
                 f"{'p50 ms [CI]':<20}{'p95 ms [CI]':<20}{'p99 ms [CI]':<20}{'errors':>7}")
    for arch in summary["architectures"]:
        a = summary["arch"][arch]
        s = a["stats"]
        errors = sum(r.get("errors") or 0 for r in a["repeats"])
        lines.append(f"{arch:<15}{a['n']:>3}  {_ci(s.get('throughput_rps'), '.0f'):<22}"
                     f"{_ci(s.get('goodput_rps'), '.0f'):<22}"
                     f"{_ci(s.get('p50_ms'), '.0f'):<20}{_ci(s.get('p95_ms'), '.0f'):<20}"
                     f"{_ci(s.get('p99_ms'), '.0f'):<20}{errors:>7}")
        lines += _flags(summary, arch)
    r = summary.get("ratios")
    if r:
        lines.append(f"{r['numerator']} / {r['denominator']}, ratio of geometric means "
                     f"[95% CI]:")
        lines += [f"  {ratio_line(label, r.get(key))}" for key, label in RATIO_NAMES
                  if key in r]
    lines += [f"missing: {m['arch']} repeat {m['repeat']} ({m['reason']})"
              for m in summary.get("missing") or []]
    if summary.get("open_loop"):
        lines += ["", "then, at equal offered load:"] + open_lines(summary["open_loop"])
    elif openloop.is_open(summary):
        lines += open_lines(summary, header=False)
    return lines


def open_lines(summary: dict, header: bool = True) -> list[str]:
    """An open loop's corrected latencies per architecture and their ratios (its
    workload and flags when it is a phase of a run with a closed loop first)."""
    lines = ([line for line in (workload_line(summary),) if line] if header else [])
    lines.append("latency from each request's intended send time (corrected for "
                 "coordinated omission), mean over repeats [95% CI]:")
    lines.append(f"{'architecture':<15}{'n':>3}  {'goodput [CI]':<22}{'p50 ms [CI]':<20}"
                 f"{'p95 ms [CI]':<20}{'p99 ms [CI]':<20}")
    for arch in summary["architectures"]:
        a = summary["arch"][arch]
        s = a["stats"]
        lines.append(f"{arch:<15}{a['n']:>3}  {_ci(s.get('goodput_rps'), '.0f'):<22}"
                     f"{_ci(s.get('corrected_p50_ms'), '.1f'):<20}"
                     f"{_ci(s.get('corrected_p95_ms'), '.1f'):<20}"
                     f"{_ci(s.get('corrected_p99_ms'), '.1f'):<20}")
        if header:  # else summary_lines has said them
            lines += _flags(summary, arch)
    r = summary.get("ratios")
    if r and header:
        lines.append(f"{r['numerator']} / {r['denominator']}, corrected latency [95% CI]:")
        lines += [f"  {ratio_line(label, r.get(key))}" for key, label in RATIO_NAMES
                  if key.startswith("corrected") and key in r]
    return lines


def run_lines(run_dir: Path) -> list[str]:
    """What a command prints once a run's report is built: the summary, then where the
    report is."""
    summary = json.loads((run_dir / "summary.json").read_text())
    return summary_lines(summary) + ["", f"report: {run_dir / 'report.html'}"]
