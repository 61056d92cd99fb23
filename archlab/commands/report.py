"""`archlab report`: rebuild a run folder's summary, charts and report from its raw files."""

from pathlib import Path

import click

from archlab import report
from archlab.report import console


def run(run_dir: Path, echo=click.echo) -> Path:
    """Build the report, then print the run's summary (the same as after the bench) and
    where the report is."""
    run_dir = Path(run_dir)
    path = report.build(run_dir)
    echo(f"wrote {run_dir / 'summary.json'}, {run_dir / 'charts'}/, {run_dir / 'report.md'}")
    echo("")
    for line in console.run_lines(run_dir):
        echo(line)
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
