"""`archlab status`: the running stack's processes, health and restarts."""

import sys

import click
from rich.console import Console
from rich.table import Table

from archlab import config
from archlab.commands import otherstacks, platforms
from archlab.errors import NoStackRunning
from archlab.platforms.base import StackStatus

# LSB's codes: 1 "running but not healthy", 3 "not running"; scripts can tell them apart.
UNHEALTHY = 1
NOT_RUNNING = 3


def run(*, port_base: int | None = None, console: Console | None = None,
        platform_name: str = "local") -> StackStatus | None:
    """Print the stack's status; None when nothing runs at this port base."""
    console = console or Console()
    platform = platforms.make(platform_name, port_base)
    try:
        status = platform.status()
    except NoStackRunning as exc:
        console.print(str(exc), soft_wrap=True, highlight=False)
        for line in (otherstacks.lines(platform.ports.base) if platform_name == "local" else []):
            console.print(line, soft_wrap=True, highlight=False, markup=False)
        return None
    console.print(f"{status.arch} at {status.base_url} (run {status.run_id})", soft_wrap=True)
    # A stack with replicas shows each one's private port, where its health is asked.
    replicated = any(p.replica_port for p in status.processes)
    # Restarts liveness caused (a hung or paused process), where there were any.
    hung = any(p.liveness_restarts for p in status.processes)
    table = Table()
    columns = ("process", "port", *(("private port",) if replicated else ()), "pid", "alive",
               "health", "restarts", *(("by liveness",) if hung else ()))
    for column in columns:
        table.add_column(column)
    for p in status.processes:
        private = (str(p.replica_port or "-"),) if replicated else ()
        alive = "yes" if p.alive else ("held" if p.state == "held" else "[red]no[/]")
        table.add_row(p.name, str(p.port or "-"), *private, str(p.pid or "-"), alive,
                      p.health if p.health in ("ok", "-") else f"[red]{p.health}[/]",
                      str(p.restarts), *((str(p.liveness_restarts),) if hung else ()))
    console.print(table)
    if status.supervisor_pid is None:  # containers: the engine supervises them
        console.print(f"state:      {status.state_dir}", soft_wrap=True)
        return status
    supervisor = "running" if status.supervisor_alive else "[red]gone[/]"
    console.print(f"supervisor: pid {status.supervisor_pid} ({supervisor})", soft_wrap=True)
    if not status.supervisor_alive:
        console.print(f"This stack died; `{config.command_at(platform.ports.base, 'down')}` "
                      "clears what it left.", soft_wrap=True, highlight=False, markup=False)
    console.print(f"database:   {status.database}", soft_wrap=True)
    console.print(f"state:      {status.state_dir}", soft_wrap=True)
    return status


@click.command("status", short_help="Show the running stack's processes and health.")
@platforms.option
def command(platform_name: str) -> None:
    """Show each process of the running stack: port, pid, alive, health, restarts (and
    how many of them its liveness check caused: a hung or paused process is killed and
    restarted after LIVENESS_FAILURES failed checks in a row).

    A process run as replicas has a row per replica (catalog, catalog.2, ...) with the
    private port where its own health is asked. Health is a GET of the process's health
    URL (1 s timeout). Exits with 0 when
    everything is healthy, 1 when something is not, 3 when no stack runs at this
    port base (then the stacks at other port bases of this checkout are listed).
    """
    status = run(platform_name=platform_name)
    if status is None:
        sys.exit(NOT_RUNNING)
    if not status.healthy:
        sys.exit(UNHEALTHY)
