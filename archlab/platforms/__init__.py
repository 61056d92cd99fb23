"""Where a stack runs: `local` (processes on this machine) or `compose` (containers on a
Docker engine). Both offer base.Platform."""

PLATFORMS = ("local", "compose")


def make(name: str, port_base: int | None = None):
    """The platform called `name` at `port_base`."""
    if name == "compose":
        from archlab.platforms.compose import ComposePlatform
        return ComposePlatform(port_base)
    if name == "local":
        from archlab.platforms.local import LocalPlatform
        return LocalPlatform(port_base)
    raise ValueError(f"unknown platform {name!r}; choose one of {', '.join(PLATFORMS)}")
