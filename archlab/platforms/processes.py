"""Finding and ending a stack's processes by the run id in their environment.

Every process a stack starts (supervisor, services, workers, the embedded
PostgreSQL) is given ARCHLAB_RUN_ID in its environment (the supervisor and its
children get an explicit one, archlab/platforms/local.py), and whatever they start
inherits it, so whatever escaped its supervisor can still be found, and `down` can
prove nothing is left.
"""

import os
import signal
import subprocess
import time
from pathlib import Path

import psutil

RUN_ID_VAR = "ARCHLAB_RUN_ID"


def is_running(pid: int | None) -> bool:
    """Whether `pid` is a live process (a zombie is not: it only waits to be reaped)."""
    if pid is None:
        return False
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def has_run_id(pid: int, run_id: str) -> bool:
    """Whether `pid` is a live process of the run `run_id` (guards against reused pids)."""
    try:
        return psutil.Process(pid).environ().get(RUN_ID_VAR) == run_id
    except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
        return False


def run_processes(run_id: str) -> list[psutil.Process]:
    """Every live process whose environment carries ARCHLAB_RUN_ID=`run_id`."""
    found = []
    for process in psutil.process_iter():
        if process.pid == os.getpid():
            continue
        if has_run_id(process.pid, run_id) and is_running(process.pid):
            found.append(process)
    return found


def describe(process: psutil.Process) -> str:
    """'name (pid N): command line' for reports."""
    try:
        command = " ".join(process.cmdline())[:120]
        return f"{process.name()} (pid {process.pid}): {command}"
    except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
        return f"pid {process.pid}"


def reap(pid: int) -> None:
    """Collect `pid`'s exit status if it is our child, so it does not linger as a zombie."""
    try:
        os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        pass


def wait_gone(pids: list[int], timeout: float) -> list[int]:
    """Wait up to `timeout` s for `pids` to end; returns those still running."""
    deadline = time.monotonic() + timeout
    while True:
        for pid in pids:
            reap(pid)
        alive = [pid for pid in pids if is_running(pid)]
        if not alive or time.monotonic() >= deadline:
            return alive
        time.sleep(0.05)


def signal_group(pgid: int, sig: signal.Signals) -> None:
    """Send `sig` to process group `pgid`, if it still exists."""
    try:
        os.killpg(pgid, sig)
    except (ProcessLookupError, PermissionError):
        pass


def run_together(commands: list[tuple[str, list[str], dict[str, str] | None]],
                 timeout: float, cwd: Path | None = None) -> list[str]:
    """Start every (name, argv, env) command at once and wait for all of them, `timeout`
    s in all; one line per failure, naming the command and the last line it wrote. None
    outlives the call, whatever happens (a timeout, Ctrl-C)."""
    children, failures = [], []
    try:
        for name, argv, env in commands:
            children.append((name, argv, subprocess.Popen(
                argv, env=env, cwd=cwd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT, text=True)))
        deadline = time.monotonic() + timeout
        for name, argv, child in children:
            shown = " ".join([Path(argv[0]).name, *argv[1:]])
            try:
                out, _ = child.communicate(timeout=max(deadline - time.monotonic(), 0.1))
            except subprocess.TimeoutExpired:
                failures.append(f"{name}: `{shown}` ran longer than {timeout:.0f} s and was "
                                "stopped")
                continue
            if child.returncode != 0:
                last = (out.strip().splitlines() or ["(no output)"])[-1]
                failures.append(f"{name}: `{shown}` exited with {child.returncode}: {last}")
    finally:
        for _, _, child in children:
            if child.poll() is None:
                child.kill()
                child.wait()
    return failures
