"""`archlab seed --reset`: put the running stack's data back to the seed."""

import sys

import click

from archlab import config
from archlab.commands import platforms

# click's own exit code for a usage error.
USAGE = 2


def run(*, port_base: int | None = None, echo=click.echo, platform_name: str = "local") -> None:
    """Reseed every database of the running stack (truncate and bulk-load)."""
    platform = platforms.make(platform_name, port_base)
    platform.reseed()
    echo(f"reseeded the stack at port base {platform.ports.base}")


@click.command("seed", short_help="Reset the running stack's data to the seed.")
@click.option("--reset", is_flag=True,
              help="Confirm: every table is emptied and the seed data loaded again.")
@platforms.option
def command(reset: bool, platform_name: str) -> None:
    """Reset the running stack's data to the deterministic seed; services stay up.

    Every order, payment, invoice and e-mail is deleted, so it asks for --reset.
    """
    if not reset:
        base = config.port_base()
        click.echo("`archlab seed` puts the running stack's data back to the seed: every "
                   "table is emptied (orders, payments, invoices, e-mails) and the seed "
                   "products, stock and customers are loaded again; the services stay up.\n"
                   f"To do it, confirm with `{config.command_at(base, 'seed --reset')}`.",
                   err=True)
        sys.exit(USAGE)
    run(platform_name=platform_name)
