"""`archlab up ARCH`: start a stack and print where it is."""

import signal
import time

import click

from archlab import config
from archlab.commands import down, platforms
from archlab.platforms.base import StackInfo
from archlab.platforms.local import LocalPlatform
from archlab.stacks import ARCHITECTURES


def _interrupt(signum, frame):
    raise KeyboardInterrupt


def run_compose(arch: str, *, port_base: int | None = None, echo=click.echo) -> StackInfo:
    """Start `arch` as containers (compose/) and report it."""
    platform = platforms.make("compose", port_base)
    echo(f"starting {arch} on the Docker engine (building the image, then the containers) "
         "...")
    info = platform.up(arch)
    echo(f"{info.arch} is up (healthy in {info.startup_seconds:.1f} s)")
    echo(f"  {'entry point':<16} {info.base_url}")
    echo(f"  {'admin token':<16} {info.admin_token}")
    echo(f"  {'compose project':<16} {platform.project(arch)}")
    echo(f"  {'state folder':<16} {info.state_dir}  (logs in {platform.logs_dir} after down)")
    base = platform.ports.base
    echo(f"See it with `{config.command_at(base, 'status --platform compose')}`; "
         f"stop it with `{config.command_at(base, 'down --platform compose')}`.")
    return info


def run(arch: str, *, foreground: bool = False, port_base: int | None = None,
        replicas: dict[str, int] | None = None, echo=click.echo) -> StackInfo:
    """Start `arch` and report it; with `foreground`, stay until Ctrl-C, then take it down.
    `replicas` runs web processes as several replicas ({"catalog": 2})."""
    platform = LocalPlatform(port_base)
    platform.check_free(arch, replicas)  # refuse before announcing anything
    echo(f"starting {arch} at port base {platform.ports.base} ...")
    info = platform.up(arch, replicas=replicas)
    echo(f"{info.arch} is up (ready in {info.startup_seconds:.1f} s)")
    for name, url in info.urls.items():
        count = info.replicas.get(name, 1)
        echo(f"  {name:<16} {url}" + (f"  ({count} replicas)" if count > 1 else ""))
    echo(f"  {'admin token':<16} {info.admin_token}")
    echo(f"  {'database':<16} {info.database}")
    echo(f"  {'state folder':<16} {info.state_dir}  (logs in {platform.logs_dir})")
    echo(f"  {'run id':<16} {info.run_id}")
    if not foreground:
        base = platform.ports.base
        echo(f"See it with `{config.command_at(base, 'status')}`; "
             f"stop it with `{config.command_at(base, 'down')}`.")
        return info
    echo("Press Ctrl-C to stop it.")
    try:
        while platform.running():
            time.sleep(0.5)
        echo("the supervisor exited on its own; taking the stack down")
    except KeyboardInterrupt:
        echo("stopping ...")
    finally:
        down.run(port_base=platform.ports.base, echo=echo)
    return info


def parse_replicas(ctx, param, values: tuple[str, ...]) -> dict[str, int]:
    """--replicas SERVICE=N (repeatable) as {SERVICE: N}; which services may be scaled,
    and to how many, the platform checks."""
    replicas = {}
    for value in values:
        service, sep, count = value.partition("=")
        if not sep or not service or not count.strip().lstrip("-").isdigit():
            raise click.BadParameter(f"{value!r} is not SERVICE=N, e.g. catalog=2")
        replicas[service.strip()] = int(count)
    return replicas


HELP = f"""Start the ARCH stack (database, seed data, every process) and return once ready.

ARCH is one of: {", ".join(sorted(ARCHITECTURES))}.

--replicas SERVICE=N runs a web process as N gunicorn masters on its one port (the
kernel spreads connections among them); `archlab scale` changes N while it runs.

Prints the URL(s), the admin token and where the state and logs are. The stack
keeps running in the background until `archlab down`. ARCHLAB_PORT_BASE moves all
its ports as a block (default 8000) to run a second stack beside it.
"""


@click.command("up", help=HELP, short_help="Start a stack and wait until it is ready.")
@click.argument("arch", metavar="ARCH", type=click.Choice(sorted(ARCHITECTURES)))
@click.option("--foreground", is_flag=True,
              help="Stay attached; Ctrl-C stops everything, the database included.")
@click.option("--replicas", "replicas", multiple=True, metavar="SERVICE=N",
              callback=parse_replicas,
              help="Run SERVICE (a web process) as N replicas; repeatable.")
@platforms.option
def command(arch: str, foreground: bool, replicas: dict[str, int],
            platform_name: str) -> None:
    """The `up` subcommand."""
    if platform_name == "compose":
        if foreground or replicas:
            raise click.UsageError("--foreground and --replicas are for the local platform; "
                                   "on compose, scale with `archlab scale --platform compose`")
        run_compose(arch)
        return
    # SIGTERM takes the same way out as Ctrl-C, so whatever was started is stopped;
    # SIGINT is set too because a shell starts background jobs with it ignored.
    signal.signal(signal.SIGTERM, _interrupt)
    signal.signal(signal.SIGINT, _interrupt)
    run(arch, foreground=foreground, replicas=replicas or None)
