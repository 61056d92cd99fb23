"""The supervisor follows supervisor.json on SIGHUP (archlab/platforms/supervisor.py): new
processes start, gone ones are drained (SIGTERM, no restart, SIGKILL after the grace
period) and leave processes.json, changed ones are drained and started anew, the rest
run on untouched.

Driven in-process (reload() and step() are what the supervisor's loop calls), with small
Python children instead of gunicorn masters.
"""

import os
import signal
import sys
import time

import psutil
import pytest

from archlab.platforms import supervisor as supervisor_module
from archlab.platforms.statefiles import read_json, write_json
from archlab.platforms.supervisor import SPEC_FILE, STATUS_FILE, Supervisor

# Children that say (by a file) once their SIGTERM handler is in place: this one exits 0
# on SIGTERM, as a gunicorn master does once it has stopped gracefully; STUBBORN ignores it.
READY = "open(os.environ['READY'], 'w').close(); time.sleep(60)"
POLITE = ("import os, signal, sys, time; signal.signal(signal.SIGTERM, lambda *a: sys.exit(0)); "
          + READY)
STUBBORN = "import os, signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); " + READY


def entry(tmp_path, name: str, code: str = POLITE, **env) -> dict:
    return {"name": name, "argv": [sys.executable, "-c", code],
            "env": {"PATH": os.environ.get("PATH", "/usr/bin:/bin"),
                    "READY": str(tmp_path / f"{name}.ready"), **env},
            "cwd": str(tmp_path), "log": str(tmp_path / f"{name}.log"), "restart": "on-failure"}


def write_spec(tmp_path, generation: int, *entries: dict) -> None:
    write_json(tmp_path / SPEC_FILE, {"generation": generation, "processes": list(entries)})


def live(tmp_path) -> dict:
    return read_json(tmp_path / STATUS_FILE)


def wait_handling(tmp_path, *names: str) -> None:
    """Wait until the children `names` handle SIGTERM their way."""
    deadline = time.monotonic() + 10
    while not all((tmp_path / f"{name}.ready").exists() for name in names):
        assert time.monotonic() < deadline, "a child did not start"
        time.sleep(0.02)


def run_until(supervisor: Supervisor, condition, timeout: float = 10.0) -> None:
    """Step the supervisor as its loop does until `condition()` holds."""
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        supervisor.step(time.monotonic())
        time.sleep(0.02)


def gone(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


@pytest.fixture
def supervisor(tmp_path):
    supervisor = Supervisor(tmp_path)
    yield supervisor
    supervisor.stop_all()


@pytest.mark.timeout(30)
def test_a_reload_starts_new_processes_and_leaves_the_others_running(tmp_path, supervisor):
    write_spec(tmp_path, 0, entry(tmp_path, "web"))
    supervisor.reload()
    first = live(tmp_path)["processes"]["web"]["pid"]

    write_spec(tmp_path, 1, entry(tmp_path, "web"), entry(tmp_path, "web.2"))
    supervisor.reload()

    now = live(tmp_path)
    assert now["generation"] == 1
    assert now["processes"]["web"]["pid"] == first
    assert now["processes"]["web.2"]["state"] == "running"
    assert psutil.pid_exists(now["processes"]["web.2"]["pid"])


@pytest.mark.timeout(30)
def test_a_process_gone_from_the_file_is_drained_and_not_restarted(tmp_path, supervisor):
    write_spec(tmp_path, 0, entry(tmp_path, "web"), entry(tmp_path, "web.2"))
    supervisor.reload()
    pid = live(tmp_path)["processes"]["web.2"]["pid"]
    wait_handling(tmp_path, "web.2")

    write_spec(tmp_path, 1, entry(tmp_path, "web"))
    supervisor.reload()
    run_until(supervisor, lambda: "web.2" not in live(tmp_path)["processes"])

    assert gone(pid)
    drained = live(tmp_path)["drained"]["web.2"]
    assert drained["pid"] == pid and drained["exit"] == "code 0" and not drained["killed"]
    for _ in range(10):  # it stays gone: no restart
        supervisor.step(time.monotonic())
    assert set(live(tmp_path)["processes"]) == {"web"}


@pytest.mark.timeout(30)
def test_a_drained_process_that_ignores_sigterm_is_killed_after_the_grace_period(
        tmp_path, supervisor, monkeypatch):
    monkeypatch.setattr(supervisor_module, "STOP_GRACE_SECONDS", 0.5)
    write_spec(tmp_path, 0, entry(tmp_path, "web.2", STUBBORN))
    supervisor.reload()
    pid = live(tmp_path)["processes"]["web.2"]["pid"]
    wait_handling(tmp_path, "web.2")

    write_spec(tmp_path, 1)
    supervisor.reload()
    assert live(tmp_path)["processes"]["web.2"]["state"] == "draining"
    run_until(supervisor, lambda: "web.2" not in live(tmp_path)["processes"])

    assert gone(pid)
    assert live(tmp_path)["drained"]["web.2"] | {"seconds": None} == {
        "pid": pid, "exit": "signal SIGKILL", "killed": True, "seconds": None}


@pytest.mark.timeout(30)
def test_a_changed_process_is_drained_then_started_anew_never_two_at_once(
        tmp_path, supervisor):
    write_spec(tmp_path, 0, entry(tmp_path, "web"))
    supervisor.reload()
    old = live(tmp_path)["processes"]["web"]["pid"]
    wait_handling(tmp_path, "web")

    write_spec(tmp_path, 1, entry(tmp_path, "web", REPLICA_PORT="8310"))
    supervisor.reload()
    seen = []

    def restarted():
        process = live(tmp_path)["processes"]["web"]
        seen.append(process["pid"])
        return process["pid"] != old and process["state"] == "running"
    run_until(supervisor, restarted)

    new = live(tmp_path)["processes"]["web"]["pid"]
    assert gone(old) and psutil.Process(new).environ()["REPLICA_PORT"] == "8310"
    assert set(seen) <= {old, new}  # one process of that name at any time


@pytest.mark.timeout(30)
def test_a_process_that_crashes_after_a_reload_is_still_restarted(tmp_path, supervisor):
    write_spec(tmp_path, 0, entry(tmp_path, "web"))
    supervisor.reload()
    write_spec(tmp_path, 1, entry(tmp_path, "web"), entry(tmp_path, "web.2"))
    supervisor.reload()
    pid = live(tmp_path)["processes"]["web.2"]["pid"]

    os.kill(pid, signal.SIGKILL)
    run_until(supervisor, lambda: live(tmp_path)["processes"]["web.2"]["restarts"] == 1
              and live(tmp_path)["processes"]["web.2"]["state"] == "running")

    assert live(tmp_path)["processes"]["web.2"]["pid"] != pid


@pytest.mark.timeout(30)
def test_stop_all_stops_draining_processes_too(tmp_path, supervisor, monkeypatch):
    monkeypatch.setattr(supervisor_module, "STOP_GRACE_SECONDS", 0.5)
    write_spec(tmp_path, 0, entry(tmp_path, "web"), entry(tmp_path, "web.2", STUBBORN))
    supervisor.reload()
    pids = [p["pid"] for p in live(tmp_path)["processes"].values()]
    wait_handling(tmp_path, "web", "web.2")
    write_spec(tmp_path, 1, entry(tmp_path, "web"))
    supervisor.reload()

    supervisor.stop_all()

    assert all(gone(pid) for pid in pids)
    assert {p["state"] for p in live(tmp_path)["processes"].values()} == {"stopped"}


@pytest.mark.timeout(30)
def test_sighup_reloads_a_running_supervisor(tmp_path):
    """The real thing, as a process: SIGHUP makes it take up the new file."""
    import subprocess
    write_spec(tmp_path, 0, entry(tmp_path, "web"))
    process = subprocess.Popen([sys.executable, "-m", "archlab.platforms.supervisor",
                                str(tmp_path)], stdout=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 10
        while (live(tmp_path) or {}).get("generation") != 0:
            assert time.monotonic() < deadline
            time.sleep(0.05)
        write_spec(tmp_path, 3, entry(tmp_path, "web"), entry(tmp_path, "web.2"))
        process.send_signal(signal.SIGHUP)
        while (live(tmp_path) or {}).get("generation") != 3:
            assert time.monotonic() < deadline
            time.sleep(0.05)
        assert set(live(tmp_path)["processes"]) == {"web", "web.2"}
        assert process.poll() is None
    finally:
        process.terminate()
        process.wait(15)
    assert {p["state"] for p in live(tmp_path)["processes"].values()} == {"stopped"}
