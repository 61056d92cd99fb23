"""`archlab demo` (what `make demo` runs): a quick baseline of both architectures,
its report, and a summary table with 95% confidence intervals."""

import json
from pathlib import Path

import click

from archlab.commands import bench
from archlab.config import project_root
from archlab.errors import LabError

DEMO_EXPERIMENT = "experiments/demo.yaml"


def _ci(stat: dict, fmt: str) -> str:
    lo, hi = stat["ci95"]
    return f"{stat['mean']:{fmt}} [{max(lo, 0):{fmt}}-{hi:{fmt}}]"


def summary_lines(summary: dict) -> list[str]:
    """The table `make demo` prints: per architecture mean and 95% CI, then the ratios."""
    lines = [f"{'architecture':<15}{'n':>3}  {'req/s [95% CI]':<22}{'p50 ms [CI]':<20}"
             f"{'p95 ms [CI]':<20}{'p99 ms [CI]':<20}{'errors':>7}"]
    for arch in summary["architectures"]:
        a = summary["arch"][arch]
        s = a["stats"]
        errors = sum(r["errors"] for r in a["repeats"])
        lines.append(f"{arch:<15}{a['n']:>3}  {_ci(s['throughput_rps'], '.0f'):<22}"
                     f"{_ci(s['p50_ms'], '.0f'):<20}{_ci(s['p95_ms'], '.0f'):<20}"
                     f"{_ci(s['p99_ms'], '.0f'):<20}{errors:>7}")
        if a["overloaded_repeats"]:
            lines.append(f"  ! the load generator was overloaded in repeat(s) "
                         f"{a['overloaded_repeats']}: those figures measure the generator")
    r = summary.get("ratios")
    if r:
        t, p = r["throughput"], r["p95"]
        lines.append(f"{r['numerator']} / {r['denominator']}: throughput {t['value']:.2f}x "
                     f"[{t['lo']:.2f}-{t['hi']:.2f}], p95 {p['value']:.2f}x "
                     f"[{p['lo']:.2f}-{p['hi']:.2f}]")
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
