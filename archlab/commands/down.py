"""`archlab down`: stop the stack and prove nothing is left."""

import click

from archlab.platforms.base import DownReport
from archlab.platforms.local import LocalPlatform


def run(*, port_base: int | None = None, echo=click.echo) -> DownReport:
    """Stop the stack at this port base; reports processes that had escaped the supervisor."""
    platform = LocalPlatform(port_base)
    report = platform.down()
    if not report.was_running:
        echo(f"nothing is running at port base {platform.ports.base}")
        return report
    if report.leftovers:
        echo(f"killed {len(report.leftovers)} process(es) of run {report.run_id} "
             "that outlived the supervisor:")
        for line in report.leftovers:
            echo(f"  {line}")
    echo(f"{report.arch} is down (run {report.run_id}); no process of it is left. "
         f"Logs kept in {report.logs_dir}")
    return report


@click.command("down", short_help="Stop the stack and check nothing is left.")
def command() -> None:
    """Stop the running stack, its PostgreSQL included, and check that nothing is left.

    Every process the stack started carries its run id in its environment; any
    that survived are killed and listed. Logs are kept. Harmless when nothing runs.
    """
    run()
