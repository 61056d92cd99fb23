""".ci/run on a machine that lacks packages: it says what it installs while it does, and
a failed install stops it. Run with a fake apt-get and make on a PATH of their own."""

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from archlab.config import project_root

TOOLS = ("bash", "python3", "ls", "grep", "sed", "dirname", "cat")
FAKE_APT = """#!/bin/bash
echo "apt-get $*" >> "$CALLS"
[ "$1" = update ] && exit 0
echo "Reading package lists..."
n=0; for p in "${@: -3}"; do n=$((n+1))
  echo "Get:$n http://deb.debian.org/debian bookworm/main amd64 $p amd64 1.0 [1 kB]"; done
for p in "${@: -3}"; do echo "Unpacking $p (1.0) ..."; done
for p in "${@: -3}"; do echo "Setting up $p (1.0) ..."; done
exit "${APT_EXIT:-0}"
"""
FAKE_MAKE = """#!/bin/bash
echo "make $*" >> "$CALLS"
exit 3
"""


def ci_run(tmp_path: Path, apt_exit: int) -> tuple[subprocess.CompletedProcess, str]:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for tool in TOOLS:
        (bin_dir / tool).symlink_to(shutil.which(tool))
    for name, text in (("apt-get", FAKE_APT), ("make", FAKE_MAKE)):
        (bin_dir / name).write_text(text)
        (bin_dir / name).chmod(0o755)
    calls = tmp_path / "calls"
    env = {"PATH": str(bin_dir), "CALLS": str(calls), "APT_EXIT": str(apt_exit),
           "HOME": os.environ.get("HOME", "/root")}
    done = subprocess.run([str(bin_dir / "bash"), str(project_root() / ".ci" / "run")],
                          env=env, capture_output=True, text=True, timeout=30)
    return done, calls.read_text() if calls.exists() else ""


@pytest.mark.skipif(any(shutil.which(t) is None for t in TOOLS), reason="needs a shell")
def test_ci_run_says_what_it_installs_while_it_does(tmp_path):
    done, calls = ci_run(tmp_path, apt_exit=0)

    lines = done.stdout.splitlines()
    # wrk and chromium are not on this PATH, so they are installed; make is faked.
    assert lines[0].startswith("installing system packages: ") and "wrk" in lines[0]
    assert lines[1] == "  apt-get update (reading the package lists) ..."
    assert lines[2].startswith("  apt-get install (")
    assert "    downloading wrk" in lines and "    Setting up wrk (1.0) ..." in lines
    assert "Reading package lists..." not in done.stdout  # the noise is left out
    assert lines[-1].startswith("  installed in ")
    assert calls.splitlines()[-1] == "make test"
    assert done.returncode == 3  # make's failure is CI's failure


@pytest.mark.skipif(any(shutil.which(t) is None for t in TOOLS), reason="needs a shell")
def test_a_failed_install_stops_ci_before_the_tests(tmp_path):
    done, calls = ci_run(tmp_path, apt_exit=100)

    assert done.returncode != 0
    assert "make" not in calls
    assert "installed in" not in done.stdout
