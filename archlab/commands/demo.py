"""`archlab demo` (what `make demo` runs): a quick baseline of both architectures,
its report, and a summary table with 95% confidence intervals."""

from pathlib import Path

import click

from archlab.commands import bench
from archlab.config import project_root
from archlab.errors import LabError

DEMO_EXPERIMENT = "experiments/demo.yaml"


def run(echo=click.echo) -> Path:
    """Run the demo experiment on both architectures; the bench prints its summary and
    where the report is (archlab.report.console), once."""
    run_dir = bench.run(project_root() / DEMO_EXPERIMENT, echo=echo)
    if not (run_dir / "summary.json").exists():
        raise LabError(f"the run finished but its report was not built; try "
                       f"`archlab report {run_dir}`")
    return run_dir


@click.command("demo", short_help="Benchmark both architectures quickly and report.")
def command() -> None:
    """Run experiments/demo.yaml: both architectures under the same load, 3 interleaved
    repeats, then write the report and print a summary with 95% confidence intervals."""
    run()
