"""`archlab scale SERVICE N`: run N replicas of a web process of the running stack."""

import click

from archlab import config
from archlab.commands import platforms
from archlab.platforms.base import ScaleReport


def run(service: str, replicas: int, *, port_base: int | None = None,
        echo=click.echo, platform_name: str = "local") -> ScaleReport:
    """Scale `service` to `replicas` replicas and say what happened."""
    platform = platforms.make(platform_name, port_base)
    report = platform.scale(service, replicas)
    for line in describe(report):
        echo(line)
    if report.changed:
        status = "status" + (" --platform compose" if platform_name == "compose" else "")
        echo(f"See them with `{config.command_at(platform.ports.base, status)}`.")
    return report


def describe(report: ScaleReport) -> list[str]:
    """What a scale did, for people."""
    def replicas(n: int) -> str:
        return f"{n} replica{'s' if n != 1 else ''}"
    if not report.changed:
        return [f"{report.service} already runs {replicas(report.after)}; nothing to do"]
    lines = [f"{report.service}: {replicas(report.before)} -> {replicas(report.after)} "
             f"in {report.seconds:.1f} s"]
    if report.started:
        where = "its private port" if len(report.started) == 1 else "their private ports"
        lines.append(f"  started {', '.join(report.started)} (healthy on {where})")
    if report.restarted:
        lines.append(f"  restarted {', '.join(report.restarted)} with a private port of its "
                     "own (the other replicas served meanwhile)")
    if report.drained:
        took = f" in {report.drain_seconds:.1f} s" if report.drain_seconds is not None else ""
        lines.append(f"  drained {', '.join(report.drained)}{took} (graceful stop: no new "
                     "connections, requests in flight finished)")
    if report.killed:
        lines.append(f"  killed {', '.join(report.killed)}: still running after the grace "
                     "period")
    return lines


HELP = """Run N replicas of SERVICE, a web process of the running stack.

SERVICE is the monolith's `monolith`, or the microservices' `gateway` or one of
their services (accounts, catalog, inventory, orders, payments, invoices,
notifications); the card processor is the external party and is not scaled.
Replicas are gunicorn masters sharing the process's port; each also answers on a
private port of its own, where its health is checked.

Scaling up starts the new replicas and returns once they are healthy, and is
refused when the stack's PostgreSQL pools would need more connections than the
cluster allows. Scaling down drains the highest-numbered replicas: each stops
accepting connections, finishes the requests in flight and exits (SIGKILL after
10 s). See docs/replicas.md for what a drain cannot avoid.

With --platform compose, a service runs N containers behind its service name (the
engine's DNS spreads the callers' connections); the published entry point is not
scaled there.
"""


@click.command("scale", help=HELP, short_help="Change how many replicas a web process runs.")
@click.argument("service")
@click.argument("replicas", metavar="N", type=int)
@platforms.option
def command(service: str, replicas: int, platform_name: str) -> None:
    """The `scale` subcommand."""
    run(service, replicas, platform_name=platform_name)
