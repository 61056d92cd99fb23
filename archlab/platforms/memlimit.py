"""Memory limits for the local platform's processes, as a container engine sets them.

Each supervised process (a gunicorn master with its workers, or a background worker)
runs under a limit, so a component that leaks is stopped at its limit and restarted like
a crash, as in containers. Three ways, the first that works here:

- `cgroup2`: a cgroup v2 of its own with `memory.max` (root, a cgroup2 hierarchy whose
  memory controller the supervisor's cgroup passes down);
- `cgroup1`: a cgroup v1 memory cgroup of its own with `memory.limit_in_bytes` (root, a
  writable v1 memory hierarchy, as on hosts that still mount one);
- `rlimit`: RLIMIT_AS on each process (any user). It bounds address space, not memory:
  thread stacks and malloc arenas are reserved address space, so it is the limit plus
  RLIMIT_HEADROOM_MIB, and a process that reaches it gets MemoryError instead of the
  kernel's OOM kill.

The supervisor makes the group before it starts a process and puts the process in it
from the child (`preexec`), before its program runs; `cleanup` removes the groups once
the stack has stopped. Written here because no library on PyPI sets a cgroup for a
child process portably across v1 and v2 without a systemd bus.
"""

import os
import resource
from dataclasses import dataclass
from pathlib import Path

CGROUP_ROOT = Path("/sys/fs/cgroup")
RLIMIT_HEADROOM_MIB = 2048
MIB = 1024 * 1024


@dataclass(frozen=True)
class Method:
    """How limits are set on this machine: `kind` (cgroup2, cgroup1, rlimit) and, for the
    cgroups, the folder under which each stack gets its own."""

    kind: str
    parent: Path | None = None


def _own_cgroup(version: str) -> str | None:
    """This process's cgroup path in the v2 hierarchy (version "2") or the v1 memory one."""
    for line in Path("/proc/self/cgroup").read_text().splitlines():
        number, controllers, path = line.split(":", 2)
        if version == "2" and number == "0" and controllers == "":
            return path
        if version == "1" and "memory" in controllers.split(","):
            return path
    return None


def _usable(parent: Path, limit_file: str) -> bool:
    """Whether a child cgroup made under `parent` has `limit_file` (then it can be used)."""
    probe = parent / f"archlab-probe-{os.getpid()}"
    try:
        probe.mkdir()
    except OSError:
        return False
    try:
        return (probe / limit_file).exists()
    finally:
        probe.rmdir()


def detect() -> Method:
    """The best way to limit memory here."""
    if os.geteuid() == 0:
        v2 = _own_cgroup("2")
        for mount in (CGROUP_ROOT, CGROUP_ROOT / "unified"):
            if v2 is not None and (mount / "cgroup.controllers").exists():
                parent = mount / v2.lstrip("/")
                if _usable(parent, "memory.max"):
                    return Method("cgroup2", parent)
        v1 = _own_cgroup("1")
        if v1 is not None:
            parent = CGROUP_ROOT / "memory" / v1.lstrip("/")
            if _usable(parent, "memory.limit_in_bytes"):
                return Method("cgroup1", parent)
    return Method("rlimit")


def group(method: Method, stack: str, name: str) -> Path | None:
    """The cgroup folder of process `name` of stack `stack` (None for rlimit)."""
    return None if method.parent is None else method.parent / f"archlab-{stack}" / name


def prepare(method: Method, stack: str, name: str, limit_mib: int) -> Path | None:
    """Make the process's cgroup with its limit (nothing for rlimit); returns it."""
    folder = group(method, stack, name)
    if folder is None:
        return None
    folder.mkdir(parents=True, exist_ok=True)
    limit_file = "memory.max" if method.kind == "cgroup2" else "memory.limit_in_bytes"
    (folder / limit_file).write_text(str(limit_mib * MIB))
    if method.kind == "cgroup1":
        # The kernel's OOM killer ends a process over the limit, as in a container.
        (folder / "memory.oom_control").write_text("0")
    return folder


def preexec(method: Method, folder: Path | None, limit_mib: int):
    """A function run in the child before its program: it joins its cgroup, or sets its
    RLIMIT_AS."""
    def enter() -> None:
        if folder is not None:
            (folder / "cgroup.procs").write_text(str(os.getpid()))
        else:
            address_space = (limit_mib + RLIMIT_HEADROOM_MIB) * MIB
            resource.setrlimit(resource.RLIMIT_AS, (address_space, address_space))
    return enter


def oom_kills(method: Method, folder: Path | None) -> int:
    """How many times the kernel killed a process of this cgroup at its limit."""
    if folder is None:
        return 0
    events = "memory.events" if method.kind == "cgroup2" else "memory.oom_control"
    try:
        for line in (folder / events).read_text().splitlines():
            if line.startswith("oom_kill "):
                return int(line.split()[1])
    except (OSError, ValueError):
        pass
    return 0


def cleanup(method: Method, stack: str) -> None:
    """Remove the stack's cgroups (once its processes are gone)."""
    if method.parent is None:
        return
    top = method.parent / f"archlab-{stack}"
    if not top.is_dir():
        return
    for folder in top.iterdir():
        if folder.is_dir():
            try:
                folder.rmdir()
            except OSError:
                pass
    try:
        top.rmdir()
    except OSError:
        pass
