"""`archlab seed --reset`: put the running stack's data back to the seed."""

import click

from archlab.platforms.local import LocalPlatform


def run(*, port_base: int | None = None, echo=click.echo) -> None:
    """Reseed every database of the running stack (truncate and bulk-load)."""
    platform = LocalPlatform(port_base)
    platform.reseed()
    echo(f"reseeded the stack at port base {platform.ports.base}")


@click.command("seed", short_help="Reset the running stack's data to the seed.")
@click.option("--reset", is_flag=True, required=True,
              help="Confirm: every table is emptied and the seed data loaded again.")
def command(reset: bool) -> None:
    """Reset the running stack's data to the deterministic seed; services stay up."""
    run()
