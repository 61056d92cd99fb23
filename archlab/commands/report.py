"""`archlab report`: rebuild a run folder's summary, charts and report from its raw files."""

import json
from pathlib import Path

import click

from archlab import report


def run(run_dir: Path, echo=click.echo) -> Path:
    """Build the report, print the headline figures and where the report is."""
    path = report.build(run_dir)
    summary = json.loads((run_dir / "summary.json").read_text())
    for arch in summary["architectures"]:
        s = summary["arch"][arch]["stats"]
        echo(f"{arch:<15} {s['throughput_rps']['mean']:9.1f} req/s  "
             f"p95 {s['p95_ms']['mean']:7.1f} ms  errors {100 * s['error_rate']['mean']:.2f}%"
             f"  n = {summary['arch'][arch]['n']}")
    for m in summary["missing"]:
        echo(f"missing: {m['arch']} repeat {m['repeat']} ({m['reason']})")
    echo(f"wrote {run_dir / 'summary.json'}, {run_dir / 'charts'}/, {run_dir / 'report.md'}")
    echo(f"report: {path}")
    return path


@click.command("report", short_help="Rebuild a run's summary, charts and report.")
@click.argument("run_dir", type=click.Path(exists=True, file_okay=False, path_type=Path))
def command(run_dir: Path) -> None:
    """Rebuild RUN_DIR's summary.json, charts/*.png, report.html and report.md from its
    raw files (which are only read, never edited).

    RUN_DIR is a folder written by `archlab bench`, e.g. results/20261125T185000Z_baseline.
    A folder from an older archlab is read as it was written; one from a newer archlab
    is refused (docs/results-format.md, "Format versions").
    """
    run(run_dir)
