"""Memory limits (archlab/platforms/memlimit.py): a process that allocates past its limit
is stopped there - killed by the kernel under a cgroup's limit, refused the memory
(MemoryError) under RLIMIT_AS - and one within its limit runs; the method this machine
allows is the one detected."""

import os
import subprocess
import sys

import pytest

from archlab.platforms import memlimit

LIMIT_MIB = 64
# Filled, so every page is touched: past the cgroup's limit and, for RLIMIT_AS, past the
# limit with its headroom.
ALLOCATE = "b'x' * ({mib} * 1024 * 1024)"


@pytest.fixture(params=["detected", "rlimit"])
def method_and_group(request):
    """The method detected here, and RLIMIT_AS (what a machine without cgroups uses)."""
    method = memlimit.detect() if request.param == "detected" else memlimit.Method("rlimit")
    stack = f"test-{os.getpid()}"
    folder = memlimit.prepare(method, stack, "leaker", LIMIT_MIB)
    yield method, folder
    memlimit.cleanup(method, stack)


def run_under_limit(method, folder, mib: int) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", ALLOCATE.format(mib=mib)],
                          preexec_fn=memlimit.preexec(method, folder, LIMIT_MIB),
                          capture_output=True, text=True, timeout=60)


def test_a_process_that_allocates_past_its_limit_is_stopped(method_and_group):
    method, folder = method_and_group
    print(f"memory limits here: {method.kind}")
    over = LIMIT_MIB + memlimit.RLIMIT_HEADROOM_MIB + 256
    done = run_under_limit(method, folder, over)
    if method.kind == "rlimit":
        assert done.returncode != 0 and "MemoryError" in done.stderr
    else:
        assert done.returncode == -9, done.stderr  # the kernel's OOM kill
        assert memlimit.oom_kills(method, folder) >= 1


def test_a_process_within_its_limit_runs(method_and_group):
    method, folder = method_and_group
    assert run_under_limit(method, folder, 8).returncode == 0
    assert memlimit.oom_kills(method, folder) == 0


def test_as_root_with_a_writable_cgroup_the_kernel_enforces_the_limit():
    if os.geteuid() != 0:
        pytest.skip("only root can make cgroups")
    method = memlimit.detect()
    writable = any(os.access(path, os.W_OK) for path in (
        memlimit.CGROUP_ROOT / "memory", memlimit.CGROUP_ROOT / "unified",
        memlimit.CGROUP_ROOT))
    if not writable:
        pytest.skip("no writable cgroup hierarchy here")
    assert method.kind in ("cgroup1", "cgroup2")
