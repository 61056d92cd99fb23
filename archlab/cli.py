"""The `archlab` command line: one subcommand per module in archlab.commands."""

import sys

import click

from archlab.commands import (
    audit,
    bench,
    calibrate,
    compare,
    demo,
    down,
    report,
    scale,
    seed,
    status,
    tour,
    up,
)
from archlab.errors import LabError


def build_cli() -> click.Group:
    """The `archlab` command group with every subcommand."""

    @click.group(context_settings={"help_option_names": ["-h", "--help"]})
    def cli() -> None:
        """Run the shop's two architectures side by side on this machine.

        A stack is one architecture with its own PostgreSQL, seed data and
        processes. Its ports start at ARCHLAB_PORT_BASE (default 8000), and its
        state and logs live in .archlab/<port base>/.
        """

    for module in (demo, up, down, status, scale, seed, audit, tour, bench, report, calibrate,
                   compare):
        cli.add_command(module.command)
    return cli


def main() -> None:
    """Entry point of the `archlab` console script; lab errors exit 2 without a traceback."""
    try:
        build_cli().main(prog_name="archlab")
    except LabError as exc:
        click.secho(f"archlab: {exc}", err=True, fg="red")
        sys.exit(2)


if __name__ == "__main__":
    main()
