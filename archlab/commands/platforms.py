"""The `--platform` option the stack commands share: where a stack runs."""

import click

from archlab.platforms import PLATFORMS, make

__all__ = ["make", "option"]


def option(func):
    """`--platform local|compose` (default local, or ARCHLAB_PLATFORM)."""
    return click.option(
        "--platform", "platform_name", type=click.Choice(PLATFORMS), default="local",
        envvar="ARCHLAB_PLATFORM", show_default=True,
        help="local: processes on this machine; compose: containers on the Docker engine "
             "DOCKER_HOST names (compose/README.md).")(func)
