"""The stacks of this checkout at other port bases, for `status` and `down` to point at
when nothing runs at their own base (a stack started with ARCHLAB_PORT_BASE is easily
forgotten)."""

from archlab import config
from archlab.platforms.local import stacks_of_checkout


def lines(base: int) -> list[str]:
    """One line per live stack at a base other than `base`, with the command that reaches
    it; empty when there is none."""
    live = [(platform, state, condition) for platform, state, condition in stacks_of_checkout()
            if platform.ports.base != base and condition in ("running", "starting")]
    if not live:
        return []
    out = ["running at other port bases of this checkout:"]
    for platform, state, condition in live:
        other = platform.ports.base
        out.append(f"  {other:<6} {state['arch']:<14} {condition} since {state['started_at']}"
                   f"  (`{config.command_at(other, 'status')}`, "
                   f"`{config.command_at(other, 'down')}`)")
    return out
