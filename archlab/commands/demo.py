"""`archlab demo` (what `make demo` runs): a quick baseline of both architectures,
its report, and a summary table with 95% confidence intervals."""

import json
from pathlib import Path

import click

from archlab.commands import bench
from archlab.config import project_root
from archlab.errors import LabError
from archlab.report.content import distinguishable

DEMO_EXPERIMENT = "experiments/demo.yaml"


def _ci(stat: dict | None, fmt: str) -> str:
    """'mean [lo-hi]', 'mean [no interval]' with a single repeat, '-' with no figure."""
    if not stat or stat.get("mean") is None:
        return "-"
    if not stat.get("ci95"):
        return f"{stat['mean']:{fmt}} [no interval]"
    lo, hi = stat["ci95"]
    return f"{stat['mean']:{fmt}} [{max(lo, 0):{fmt}}-{hi:{fmt}}]"


def _ratio(name: str, r: dict | None) -> str:
    """'p95 0.46x [0.21-1.13], not distinguishable': a ratio whose interval includes 1
    (or that has none) is never a finding."""
    if not r or r.get("value") is None:
        return f"{name} -"
    text = f"{name} {r['value']:.2f}x"
    if r.get("lo") is None:
        return f"{text} [no interval], not distinguishable"
    hi = "no upper bound" if r.get("hi") is None else f"{r['hi']:.2f}"
    text += f" [{r['lo']:.2f}-{hi}]"
    return text if distinguishable(r) else f"{text}, not distinguishable"


def summary_lines(summary: dict) -> list[str]:
    """The table `make demo` prints: per architecture mean and 95% CI, then the ratios."""
    lines = [f"{'architecture':<15}{'n':>3}  {'req/s [95% CI]':<22}{'goodput [CI]':<22}"
             f"{'p50 ms [CI]':<20}{'p95 ms [CI]':<20}{'p99 ms [CI]':<20}{'errors':>7}"]
    for arch in summary["architectures"]:
        a = summary["arch"][arch]
        s = a["stats"]
        errors = sum(r.get("errors") or 0 for r in a["repeats"])
        lines.append(f"{arch:<15}{a['n']:>3}  {_ci(s.get('throughput_rps'), '.0f'):<22}"
                     f"{_ci(s.get('goodput_rps'), '.0f'):<22}"
                     f"{_ci(s.get('p50_ms'), '.0f'):<20}{_ci(s.get('p95_ms'), '.0f'):<20}"
                     f"{_ci(s.get('p99_ms'), '.0f'):<20}{errors:>7}")
        if a.get("overloaded_repeats"):
            lines.append(f"  ! the load generator was overloaded in repeat(s) "
                         f"{a['overloaded_repeats']}: those figures measure the generator")
        if a.get("noisy_repeats"):
            lines.append(f"  ! another program loaded the host in repeat(s) "
                         f"{a['noisy_repeats']}: those figures may be off (report: Host noise)")
        if a.get("degraded"):
            lines.append(f"  {a['degraded']:,} degraded answer(s) (stock unknown), left out "
                         "of goodput")
    r = summary.get("ratios")
    if r:
        lines.append(f"{r['numerator']} / {r['denominator']}: "
                     f"{_ratio('goodput', r.get('goodput') or r.get('throughput'))}; "
                     f"{_ratio('p95', r.get('p95'))}")
    return lines


def run(echo=click.echo) -> Path:
    """Run the demo experiment on both architectures and print its summary."""
    run_dir = bench.run(project_root() / DEMO_EXPERIMENT, echo=echo)
    summary_file = run_dir / "summary.json"
    if not summary_file.exists():
        raise LabError(f"the run finished but its report was not built; try "
                       f"`archlab report {run_dir}`")
    echo("")
    for line in summary_lines(json.loads(summary_file.read_text())):
        echo(line)
    echo("")
    echo(f"report: {run_dir / 'report.html'}")
    return run_dir


@click.command("demo", short_help="Benchmark both architectures quickly and report.")
def command() -> None:
    """Run experiments/demo.yaml: both architectures under the same load, 3 interleaved
    repeats, then write the report and print a summary with 95% confidence intervals."""
    run()
