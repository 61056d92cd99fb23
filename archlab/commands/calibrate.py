"""`archlab calibrate`: each architecture's read path against this machine's floor."""

import click

from archlab import calibrate


def run(seconds: float, rounds: int, archs: tuple[str, ...], echo=click.echo) -> dict:
    """Measure, print the table and where the figures were saved."""
    figures = calibrate.run(archs=archs, seconds=seconds, rounds=rounds, echo=echo)
    b = figures["budget"]
    echo("")
    echo(f"{figures['connections']} connections; median of {rounds} round(s) x {seconds:g} s; "
         f"system on cpus {list(b['sut_cpus'])}, wrk on {list(b['generator_cpus']) or 'any'}")
    echo(f"{'architecture':<15}{'endpoint':<9}{'req/s':>8}{'floor':>8}{'share':>7}"
         f"{'p50 ms':>8}{'floor':>7}{'p99 ms':>8}{'floor':>7}")
    for row in figures["table"]:
        echo(f"{row['arch']:<15}{row['endpoint']:<9}{row['app_rps']:>8.0f}"
             f"{row['floor_rps']:>8.0f}{row['rps_ratio']:>7.0%}{row['app_p50_ms']:>8.2f}"
             f"{row['floor_p50_ms']:>7.2f}{row['app_p99_ms']:>8.2f}{row['floor_p99_ms']:>7.2f}")
    for arch, single in figures["concurrency_1"].items():
        echo(f"{arch}: p50 at concurrency 1 (product) {single['app']['p50_ms']:.2f} ms "
             f"(floor {single['floor']['p50_ms']:.2f} ms); started in "
             f"{figures['startup_seconds'][arch]:.1f} s")
    echo(f"saved {figures['path']}")
    return figures


@click.command("calibrate", short_help="Measure each architecture against this machine's floor.")
@click.option("--seconds", default=10.0, show_default=True, help="Length of each measured run.")
@click.option("--rounds", default=2, show_default=True,
              help="Alternating rounds per target (the median is reported).")
@click.option("--arch", "archs", multiple=True, default=("monolith", "microservices"),
              show_default=True, help="Architecture(s) to calibrate.")
def command(seconds: float, rounds: int, archs: tuple[str, ...]) -> None:
    """Load GET /api/products/{id} (random ids) and a search with wrk on each
    architecture and on its floor - a bare app running the identical SQL with the
    identical gunicorn, pool, hop count and client library - back to back, and print
    req/s, p50, p99 and each architecture's share of its floor.

    Starts its own stacks at ARCHLAB_PORT_BASE (default 8000), one after the other,
    and takes each down after.
    """
    run(seconds, rounds, archs)
