"""`archlab calibrate`: each architecture's read path against this machine's floor."""

import click

from archlab import calibrate


def run(seconds: float, rounds: int, echo=click.echo) -> dict:
    """Measure, print the table and where the figures were saved."""
    figures = calibrate.run(seconds=seconds, rounds=rounds, echo=echo)
    m, r = figures["medians"], figures["ratio_to_floor"]
    echo("")
    echo(f"{figures['endpoint']}, {figures['connections']} connections, median of "
         f"{rounds} round(s) x {seconds:g} s")
    echo(f"{'target':<18}{'req/s':>10}{'p50 ms':>10}{'p99 ms':>10}{'vs floor':>10}")
    for name, fig in m.items():
        ratio = f"{r[name]['rps']:.0%}" if name in r else "-"
        echo(f"{name:<18}{fig['rps']:>10.0f}{fig['p50_ms']:>10.2f}{fig['p99_ms']:>10.2f}"
             f"{ratio:>10}")
    echo(f"saved {figures['path']}")
    return figures


@click.command("calibrate", short_help="Measure each architecture against this machine's floor.")
@click.option("--seconds", default=10.0, show_default=True, help="Length of each measured run.")
@click.option("--rounds", default=2, show_default=True,
              help="Alternating rounds per target (the median is reported).")
def command(seconds: float, rounds: int) -> None:
    """Load GET /api/products/{id} (random ids) with wrk on the monolith and on a bare
    Flask app running the identical SQL with the identical gunicorn and pool
    configuration (the floor), back to back, and print req/s, p50, p99 and the ratio.

    Starts its own stack at ARCHLAB_PORT_BASE (default 8000) and takes it down after.
    """
    run(seconds, rounds)
