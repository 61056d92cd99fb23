"""The report's charts, drawn from summary.json alone (matplotlib, object-oriented).

Each `plot_x(ax, summary, ...)` draws on an axes it is given; `draw_all` lays out the
figures and writes charts/*.png. Architectures keep one colour everywhere.
"""

import math
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402  (the backend must be chosen first)
from matplotlib.patches import Patch  # noqa: E402
from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter  # noqa: E402

from archlab.report import openloop, stats  # noqa: E402
from archlab.report.words import floor_share  # noqa: E402

DPI = 110
ARCH_COLOURS = {"monolith": "#1f77b4", "microservices": "#ff7f0e"}
OTHER_ARCH_COLOURS = ("#2ca02c", "#9467bd", "#8c564b")
# Components avoid the architectures' blue and orange; PostgreSQL is grey in every chart.
COMPONENT_COLOURS = ("#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#bcbd22",
                     "#17becf", "#98df8a", "#ff9896", "#c5b0d5", "#c49c94", "#dbdb8d")
POSTGRES_COLOUR = "#8f8f8f"
STYLE = {"font.size": 11, "axes.titlesize": 13, "axes.titleweight": "bold",
         "axes.labelsize": 11, "legend.fontsize": 10, "axes.spines.top": False,
         "axes.spines.right": False, "axes.grid": True, "grid.alpha": 0.3,
         "axes.axisbelow": True, "figure.dpi": DPI, "savefig.dpi": DPI}
PERCENTILE_TICKS = (50, 75, 90, 95, 99, 99.5, 99.9)


def arch_colour(arch: str, archs: list[str]) -> str:
    """The architecture's colour: monolith blue, microservices orange, others after."""
    if arch in ARCH_COLOURS:
        return ARCH_COLOURS[arch]
    others = [a for a in archs if a not in ARCH_COLOURS]
    return OTHER_ARCH_COLOURS[others.index(arch) % len(OTHER_ARCH_COLOURS)]


def component_colours(names: list[str]) -> dict[str, str]:
    """A colour per component name, stable for a given set of names."""
    others = [n for n in sorted(names) if n != "postgres"]
    colours = {n: COMPONENT_COLOURS[i % len(COMPONENT_COLOURS)] for i, n in enumerate(others)}
    return colours | ({"postgres": POSTGRES_COLOUR} if "postgres" in names else {})


def _fmt(value: float) -> str:
    if value >= 100:
        return f"{value:,.0f}"
    return f"{value:.1f}" if value >= 10 else f"{value:.2f}"


def _errorbar(est: dict) -> tuple[float, float]:
    """Lower and upper error-bar lengths; the lower one stops at zero (no figure here
    can be negative, though a t interval from few repeats can reach below)."""
    if not est or est["half_width"] is None:
        return 0.0, 0.0
    return min(est["half_width"], est["mean"]), est["half_width"]


def _n_label(summary: dict) -> str:
    ns = sorted({summary["arch"][a]["n"] for a in summary["architectures"]})
    return f"n = {ns[0]}" if len(ns) == 1 else "n = " + "/".join(map(str, ns))


def plot_estimates(ax, summary: dict, metric: str, unit: str) -> None:
    """One bar per architecture: the mean over repeats, its 95% CI and each repeat."""
    archs = summary["architectures"]
    for i, arch in enumerate(archs):
        a = summary["arch"][arch]
        est = a["stats"][metric]
        if est is None:
            continue
        lo, hi = _errorbar(est)
        ax.bar(i, est["mean"], width=0.6, color=arch_colour(arch, archs), alpha=0.85)
        ax.errorbar(i, est["mean"], yerr=[[lo], [hi]], fmt="none", ecolor="#222",
                    capsize=8, linewidth=1.5)
        values = [r[metric] for r in a["repeats"] if r[metric] is not None]
        offsets = [(k - (len(values) - 1) / 2) * 0.08 for k in range(len(values))]
        ax.scatter([i + o for o in offsets], values, s=22, color="#222", zorder=3)
        ax.annotate(f"{_fmt(est['mean'])} {unit}", (i, est["mean"] + hi),
                    textcoords="offset points", xytext=(0, 6), ha="center",
                    fontsize=11, fontweight="bold")
    ax.set_xticks(range(len(archs)), archs)
    ax.set_xlim(-0.7, len(archs) - 0.3)
    ax.set_ylim(0, ax.get_ylim()[1] * 1.12)
    ax.set_xlabel("bar: mean   whiskers: 95% CI   dots: single repeats", fontsize=9,
                  color="#444")
    ax.grid(axis="x", visible=False)


def plot_latency(ax, summary: dict) -> None:
    """p50, p95 and p99 per architecture (grouped bars, mean over repeats, 95% CI)."""
    archs = summary["architectures"]
    metrics = ("p50_ms", "p95_ms", "p99_ms")
    width = 0.8 / len(archs)
    for j, arch in enumerate(archs):
        est = [summary["arch"][arch]["stats"][m] for m in metrics]
        xs = [k + (j - (len(archs) - 1) / 2) * width for k in range(len(metrics))]
        means = [e["mean"] if e else 0.0 for e in est]
        bars = [_errorbar(e) for e in est]
        ax.bar(xs, means, width=width * 0.92, color=arch_colour(arch, archs), alpha=0.85,
               label=f"{arch} (n = {summary['arch'][arch]['n']})")
        ax.errorbar(xs, means, yerr=[[b[0] for b in bars], [b[1] for b in bars]], fmt="none",
                    ecolor="#222", capsize=5, linewidth=1.2)
        for x, m, b in zip(xs, means, bars, strict=True):
            ax.annotate(_fmt(m), (x, m + b[1]), textcoords="offset points", xytext=(0, 4),
                        ha="center", fontsize=9)
    ax.set_xticks(range(len(metrics)), ["p50 (median)", "p95", "p99"])
    ax.set_ylabel("response time (ms)")
    ax.set_ylim(0, ax.get_ylim()[1] * 1.1)
    ax.set_xlabel("bar: mean over repeats   whiskers: 95% CI", fontsize=9, color="#444")
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1), frameon=False)
    ax.grid(axis="x", visible=False)


def _nines(p: float) -> float:
    return -math.log10(1 - p / 100)


def plot_percentile_curve(ax, summary: dict) -> None:
    """Response time against percentile (50 to 99.9, spaced by 'nines'), one line per
    architecture from its histogram pooled over the repeats."""
    archs = summary["architectures"]
    lo, hi, steps = _nines(50), _nines(99.9), 300
    ps = [100 * (1 - 10 ** -(lo + (hi - lo) * k / steps)) for k in range(steps + 1)]
    top, bottom = 0.0, math.inf
    for arch in archs:
        hist = {int(k): v for k, v in summary["arch"][arch]["latency_histogram"].items()}
        if not hist:
            continue
        ys = [stats.percentile(hist, p) for p in ps]
        top, bottom = max(top, max(ys)), min(bottom, min(ys))
        ax.plot([_nines(p) for p in ps], ys, color=arch_colour(arch, archs), linewidth=2.2,
                drawstyle="steps-post",
                label=f"{arch} ({sum(hist.values()):,} requests)")
    _percentile_axes(ax, lo, hi, top, bottom)
    ax.legend(loc="upper left", frameon=False)


def _percentile_axes(ax, lo: float, hi: float, top: float, bottom: float) -> None:
    """Percentiles spaced by nines from `lo` to `hi` across, response time up (on a log
    scale when the curves span more than 30x)."""
    ax.set_xticks([_nines(p) for p in PERCENTILE_TICKS],
                  [f"p{p:g}" for p in PERCENTILE_TICKS])
    ax.set_xlim(lo, hi)
    ax.set_xlabel("percentile (spaced by nines: each step is 10x rarer)")
    if top > 30 * bottom > 0:
        # A long tail would flatten everything else on a linear axis.
        ax.set_yscale("log")
        ax.yaxis.set_major_locator(LogLocator(subs=(1, 2, 5)))
        ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
        ax.yaxis.set_minor_formatter(NullFormatter())
        ax.set_ylabel("response time (ms, log scale)")
    else:
        ax.set_ylabel("response time (ms)")
        ax.set_ylim(0, top * 1.08 if top else 1)


def plot_open_loop(ax, loop: dict) -> None:
    """An open loop's latency of successful answers against percentile, one colour per
    architecture: counted from the intended send time (solid) and from the actual send
    (dashed), all repeats pooled; faint where too few answers support the percentile."""
    archs = loop["architectures"]
    top, bottom = 0.0, math.inf
    for arch in archs:
        a = loop["arch"][arch]
        pool = a.get("open_loop_pooled") or {}
        for key, record, style, said in (
                ("corrected_percentiles", "corrected", "-", "from intended send"),
                ("uncorrected_percentiles", "uncorrected", "--", "from actual send")):
            points = [(p, ms) for p, ms in a.get(key) or [] if 50 <= p <= 99.9]
            if not points:
                continue
            count = (pool.get(record) or {}).get("count")
            ys = [ms for _, ms in points]
            top, bottom = max(top, max(ys)), min(bottom, min(ys))
            kept = [(p, ms) for p, ms in points
                    if count is None or stats.percentile_support(count, p)["supported"]]
            colour, width = arch_colour(arch, archs), 2 if style == "-" else 1.2
            ax.plot([_nines(p) for p, _ in kept], [ms for _, ms in kept], style,
                    marker="o", markersize=3, color=colour, linewidth=width,
                    label=f"{arch}, {said}" + (f" ({count:,})" if count else ""))
            rest = points[max(len(kept) - 1, 0):]
            if len(rest) > 1:  # beyond what the samples support: drawn, but faint
                ax.plot([_nines(p) for p, _ in rest], [ms for _, ms in rest], style,
                        marker="o", markersize=2, color=colour, linewidth=width, alpha=0.3)
    _percentile_axes(ax, _nines(50), _nines(99.9), top, bottom)
    ax.legend(loc="upper left", frameon=False, fontsize=9)


# The parts of an open loop's corrected latency, in stacking order, with their colours.
OPEN_PARTS = (("lateness", "generator lateness", "#d62728"),
              ("slot_wait", "wait for a slot", "#bcbd22"),
              ("service", "service time (response)", "#7f7f7f"))


def plot_open_loop_parts(ax, loop: dict) -> bool:
    """One bar per architecture: the successful answers' mean corrected latency split
    into generator lateness, slot wait and service time, as shares of it (so a fast
    architecture's split reads as well as a slow one's), each part labelled in ms; all
    repeats pooled. False when no architecture recorded the parts (format 1)."""
    archs = [arch for arch in loop["architectures"]
             if all(((loop["arch"][arch].get("open_loop_pooled") or {}).get("parts") or {})
                    .get(name) for name, _, _ in OPEN_PARTS)]
    if not archs:
        return False
    labels = []
    for y, arch in enumerate(archs):
        parts = loop["arch"][arch]["open_loop_pooled"]["parts"]
        means = [parts[name]["mean_ms"] or 0.0 for name, _, _ in OPEN_PARTS]
        total = sum(means) or 1.0
        left = 0.0
        for ms, (_, label, colour) in zip(means, OPEN_PARTS, strict=True):
            share = 100 * ms / total
            ax.barh(y, share, left=left, color=colour, height=0.55, edgecolor="white",
                    label=label if y == 0 else None)
            if share >= 8:  # room for a label inside the bar
                ax.text(left + share / 2, y, f"{_fmt(ms)} ms", ha="center", va="center",
                        fontsize=9, color="white")
            left += share
        labels.append(f"{arch}\n{_fmt(sum(means))} ms")
    ax.set_yticks(range(len(archs)), labels)
    ax.invert_yaxis()
    ax.set_xlim(0, 100)
    ax.set_xlabel("share of the mean corrected latency (%)")
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.22), ncol=3, frameon=False)
    ax.grid(axis="y", visible=False)
    return True


def plot_timeline(ax, summary: dict, column: int, ylabel: str) -> None:
    """One thin line per repeat and architecture over the measured phase; a repeat
    flagged as drifting is dashed and named in the legend."""
    archs = summary["architectures"]
    for arch in archs:
        a = summary["arch"][arch]
        for k, rep in enumerate(a["repeats"]):
            points = [(row[0], row[column]) for row in rep["timeline"]
                      if row[column] is not None]
            if not points:
                continue
            xs, ys = zip(*points, strict=True)
            drifting = (rep.get("drift") or {}).get("flagged")
            label = (f"{arch} #{rep['repeat']} drifting" if drifting else
                     f"{arch} ({a['n']} repeat{'s' * (a['n'] != 1)})" if k == 0 else None)
            ax.plot(xs, ys, color=arch_colour(arch, archs), linewidth=1.1, alpha=0.75,
                    linestyle="--" if drifting else "-", label=label)
    ax.set_xlabel("seconds since the first sample")
    ax.set_ylabel(ylabel)
    ax.set_ylim(bottom=0)
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1), frameon=False)


def component_values(summary: dict, key: str) -> dict[str, dict[str, float]]:
    """arch -> component -> a figure of the components table (cpu_percent, memory_mib)."""
    return {arch: {c: u[key] for c, u in summary["arch"][arch]["components"].items()}
            for arch in summary["architectures"]}


def plot_stacked(ax, summary: dict, values: dict[str, dict[str, float]], unit: str,
                 limit: float | None = None, limit_label: str = "",
                 digits: int = 0) -> None:
    """One bar per architecture, stacked by component of the system under test
    (`values`: arch -> component -> figure); an optional dashed line marks a limit (the
    cores the system was given)."""
    archs = summary["architectures"]
    names = sorted({c for a in archs for c in values[a]})
    colours = component_colours(names)
    order = [n for n in names if n == "postgres"] + [n for n in names if n != "postgres"]
    heights = {a: sum(values[a].values()) for a in archs}
    top = max([*heights.values(), limit or 0]) or 1
    for i, arch in enumerate(archs):
        comps = values[arch]
        below = 0.0
        for name in (n for n in order if n in comps):
            value = comps[name]
            ax.bar(i, value, bottom=below, width=0.55, color=colours[name],
                   edgecolor="white", linewidth=0.8)
            # Thin segments go unlabelled: the legend names them.
            if value > top * 0.08:
                ax.text(i, below + value / 2, f"{name}  {value:,.{digits}f}", ha="center",
                        va="center", fontsize=9 if len(name) <= 10 else 8, color="white",
                        fontweight="bold")
            below += value
    for i, arch in enumerate(archs):
        # On a white box: the total often sits right on the budget line.
        ax.annotate(f"{heights[arch]:,.{digits}f}{unit}", (i, heights[arch]),
                    textcoords="offset points", xytext=(0, 7), ha="center",
                    fontweight="bold", zorder=4,
                    bbox={"facecolor": "white", "edgecolor": "none", "pad": 1.5})
    handles = [Patch(color=colours[n], label=n) for n in reversed(order)]
    if limit:
        handles.append(ax.axhline(limit, color="#222", linestyle="--", linewidth=1,
                                  label=limit_label))
    ax.set_xticks(range(len(archs)), archs)
    ax.set_xlim(-0.6, len(archs) - 0.4)
    ax.set_ylim(0, top * 1.15)
    ax.grid(axis="x", visible=False)
    # Listed top to bottom, as the segments are stacked.
    ax.legend(handles=handles, loc="upper left", bbox_to_anchor=(1.01, 1), frameon=False,
              title="component")


def plot_calibration(ax, summary: dict) -> None:
    """Each architecture's req/s as a share of its floor (a bare app, same SQL)."""
    rows = summary["calibration"]["rows"]
    archs = list(dict.fromkeys(r["arch"] for r in rows))
    endpoints = list(dict.fromkeys(r["endpoint"] for r in rows))
    width = 0.8 / max(len(archs), 1)
    for j, arch in enumerate(archs):
        for k, endpoint in enumerate(endpoints):
            row = next((r for r in rows if r["arch"] == arch and r["endpoint"] == endpoint),
                       None)
            if row is None:
                continue
            x = k + (j - (len(archs) - 1) / 2) * width
            share = 100 * floor_share(row)
            ax.bar(x, share, width=width * 0.92,
                   color=arch_colour(arch, summary["architectures"] + archs),
                   alpha=0.85, label=arch if k == 0 else None)
            inside = share > 30
            ax.annotate(f"{share:.0f}%\n{row['app_rps']:,.0f} of\n{row['floor_rps']:,.0f} req/s",
                        (x, share), textcoords="offset points",
                        xytext=(0, -6 if inside else 4), ha="center",
                        va="top" if inside else "bottom", fontsize=9,
                        color="white" if inside else "#222",
                        fontweight="bold" if inside else "normal")
    ax.axhline(100, color="#222", linestyle="--", linewidth=1)
    ax.text(len(endpoints) - 0.5, 101, "floor = 100%", ha="right", va="bottom", fontsize=9)
    names = summary["calibration"]["endpoints"] or {}
    ax.set_xticks(range(len(endpoints)),
                  [(names.get(e) or e).split(" (")[0] for e in endpoints])
    ax.set_ylabel("req/s as % of its floor")
    ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:.0f}%"))
    ax.set_ylim(0, max(125, max((100 * floor_share(r) for r in rows), default=0) * 1.2))
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1), frameon=False)
    ax.grid(axis="x", visible=False)


def _save(fig, path: Path) -> Path:
    fig.savefig(path, dpi=DPI, bbox_inches="tight")
    plt.close(fig)
    return path


def draw_all(summary: dict, out_dir: Path) -> dict[str, Path]:
    """Write every chart the summary has data for; returns name -> file."""
    out_dir.mkdir(exist_ok=True)
    n = _n_label(summary)
    files = {}
    with plt.rc_context(STYLE):
        fig, ax = plt.subplots(figsize=(7, 4.8))
        plot_estimates(ax, summary, "throughput_rps", "req/s")
        ax.set_title(f"Throughput (requests/s): mean of repeats, 95% CI, {n}")
        ax.set_ylabel("requests per second")
        files["throughput"] = _save(fig, out_dir / "throughput.png")

        fig, ax = plt.subplots(figsize=(8, 4.8))
        plot_latency(ax, summary)
        ax.set_title(f"Response time percentiles (ms): mean of repeats, 95% CI, {n}")
        files["latency"] = _save(fig, out_dir / "latency.png")

        fig, ax = plt.subplots(figsize=(8, 4.8))
        plot_percentile_curve(ax, summary)
        ax.set_title("Response time by percentile (ms), all repeats pooled")
        files["latency_percentiles"] = _save(fig, out_dir / "latency_percentiles.png")

        loop = summary.get("open_loop") or (summary if openloop.is_open(summary) else None)
        if loop:
            fig, ax = plt.subplots(figsize=(8, 4.8))
            plot_open_loop(ax, loop)
            ax.set_title(f"Open loop at {openloop.offered(loop)}: response time of "
                         "successful answers by percentile (ms)", fontsize=11)
            files["open_loop_latency"] = _save(fig, out_dir / "open_loop_latency.png")

            fig, ax = plt.subplots(figsize=(8, 3.6))
            if plot_open_loop_parts(ax, loop):
                ax.set_title("Open loop: where the corrected time went (mean ms)",
                             fontsize=11)
                files["open_loop_parts"] = _save(fig, out_dir / "open_loop_parts.png")
            else:
                plt.close(fig)

        fig, ax = plt.subplots(figsize=(9, 4.2))
        plot_timeline(ax, summary, 1, "requests per second")
        ax.set_title("Throughput over time (requests/s), one line per repeat")
        files["throughput_over_time"] = _save(fig, out_dir / "throughput_over_time.png")

        fig, ax = plt.subplots(figsize=(9, 4.2))
        plot_timeline(ax, summary, 2, "p95 response time (ms)")
        ax.set_title("p95 response time over time (ms, Locust's last-10-s window)")
        files["p95_over_time"] = _save(fig, out_dir / "p95_over_time.png")

        fig, ax = plt.subplots(figsize=(7.5, 5))
        cores = summary["sut_cores"]
        plot_stacked(ax, summary, component_values(summary, "cpu_percent"), "%",
                     limit=100 * cores,
                     limit_label=f"budget: {cores} core{'s' * (cores != 1)}")
        ax.set_title("CPU by component (% of one core, mean)")
        ax.set_ylabel("% of one core (100 = one busy core)")
        files["cpu_by_component"] = _save(fig, out_dir / "cpu_by_component.png")

        per_request = {arch: summary["arch"][arch].get("cpu_ms_by_component") or {}
                       for arch in summary["architectures"]}
        if all(per_request.values()):
            fig, ax = plt.subplots(figsize=(7.5, 5))
            plot_stacked(ax, summary, per_request, " ms", digits=2)
            ax.set_title("CPU per request by component (ms, mean of repeats)")
            ax.set_ylabel("CPU ms per request served")
            files["cpu_per_request"] = _save(fig, out_dir / "cpu_per_request.png")

        fig, ax = plt.subplots(figsize=(7.5, 5))
        plot_stacked(ax, summary, component_values(summary, "memory_mib"), " MiB")
        basis = summary["memory_basis"].upper()
        ax.set_title(f"Memory by component (MiB {basis}, mean)")
        ax.set_ylabel(f"MiB ({basis})")
        files["memory_by_component"] = _save(fig, out_dir / "memory_by_component.png")

        # On one core req/s per core is the throughput chart again: drawn only for more.
        if cores > 1:
            fig, ax = plt.subplots(figsize=(7, 4.8))
            plot_estimates(ax, summary, "rps_per_core", "")
            ax.set_title(f"req/s per core of the system ({cores} cores): mean of repeats, "
                         f"95% CI, {n}")
            ax.set_ylabel("requests per second per core")
            files["rps_per_core"] = _save(fig, out_dir / "rps_per_core.png")

        fig, ax = plt.subplots(figsize=(7, 4.8))
        plot_estimates(ax, summary, "rps_per_gib", "")
        ax.set_title(f"req/s per GiB of {basis}: mean of repeats, 95% CI, {n}")
        ax.set_ylabel(f"requests per second per GiB {basis}")
        files["rps_per_gib"] = _save(fig, out_dir / "rps_per_gib.png")

        if summary["calibration"] and summary["calibration"]["rows"]:
            fig, ax = plt.subplots(figsize=(8, 4.8))
            plot_calibration(ax, summary)
            ax.set_title("Calibration: req/s as a share of each architecture's floor")
            files["calibration"] = _save(fig, out_dir / "calibration.png")
    # charts/ is derived: a chart an earlier build drew that this one does not (renamed,
    # or no longer applying) would otherwise linger beside the report.
    for stale in set(out_dir.glob("*.png")) - set(files.values()):
        stale.unlink()
    return files
