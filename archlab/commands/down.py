"""`archlab down`: stop the stack and prove nothing is left; clear what dead stacks left."""

import click

from archlab import config
from archlab.commands import otherstacks, platforms
from archlab.platforms.base import DownReport
from archlab.platforms.local import LocalPlatform, stacks_of_checkout


def run(*, port_base: int | None = None, echo=click.echo) -> DownReport:
    """Stop the stack at this port base and clear the state of dead stacks at any base;
    with nothing at this base, name the stacks that run at others."""
    platform = LocalPlatform(port_base)
    report = stop(platform, echo)
    clear_dead(echo)
    if not report.was_running:
        others = otherstacks.lines(platform.ports.base)
        for line in others:
            echo(line)
        if others:
            echo("`archlab down --all` stops every stack of this checkout.")
    return report


def run_all(echo=click.echo) -> list[DownReport]:
    """Stop every stack of this checkout, at every port base, and clear dead ones."""
    reports = [stop(platform, echo) for platform, _, condition in stacks_of_checkout()
               if condition in ("running", "starting")]
    clear_dead(echo)
    if not reports:
        echo("no stack of this checkout is running")
    return reports


def stop(platform: LocalPlatform, echo) -> DownReport:
    """Take one stack down and say what happened."""
    report = platform.down()
    if not report.was_running:
        echo(f"nothing is running at port base {platform.ports.base}")
        return report
    if report.leftovers:
        echo(f"killed {len(report.leftovers)} process(es) of run {report.run_id} "
             "that outlived the supervisor:")
        for line in report.leftovers:
            echo(f"  {line}")
    echo(f"{report.arch} at port base {platform.ports.base} is down (run {report.run_id}); "
         f"no process of it is left. Logs kept in {report.logs_dir}")
    return report


def clear_dead(echo) -> None:
    """Take down what stacks that died left (a database, stray processes) and remove their
    state folders; their logs stay in the logs folder."""
    for platform, state, condition in stacks_of_checkout():
        if condition not in ("dead", "leftover"):
            continue
        report = platform.down()
        what = f"the {state['arch']} stack" if state else "a stack"
        echo(f"cleared the state of {what} at port base {platform.ports.base}, which no longer "
             f"ran (logs in {config.logs_dir(platform.ports.base)})")
        if report.leftovers:
            echo(f"  and killed {len(report.leftovers)} process(es) it had left")


def run_compose(*, port_base: int | None = None, echo=click.echo) -> DownReport:
    """Remove the compose stack at this port base: containers, network, volumes."""
    platform = platforms.make("compose", port_base)
    report = platform.down()
    if not report.was_running:
        echo(f"no compose stack is up at port base {platform.ports.base}")
    else:
        echo(f"{report.arch} (compose project {platform.project(report.arch)}) is down: its "
             f"containers, network and volumes are removed. Logs kept in {report.logs_dir}")
    return report


@click.command("down", short_help="Stop the stack and check nothing is left.")
@click.option("--all", "all_stacks", is_flag=True,
              help="Stop every stack of this checkout, whatever its port base.")
@platforms.option
def command(all_stacks: bool, platform_name: str) -> None:
    """Stop the running stack, its PostgreSQL included, and check that nothing is left.

    Every process the stack started carries its run id in its environment; any
    that survived are killed and listed. Logs are kept in .archlab/logs/<port base>/.
    The state of stacks that died (after a reboot, say) is cleared at any base. With
    nothing running at this port base, names the stacks that run at other bases;
    harmless (exit 0) when nothing runs at all.
    """
    if platform_name == "compose":
        if all_stacks:
            raise click.UsageError("--all is for the local platform")
        run_compose()
    elif all_stacks:
        run_all()
    else:
        run()
