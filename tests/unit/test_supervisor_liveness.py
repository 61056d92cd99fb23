"""The supervisor's liveness checks and holds (archlab/platforms/supervisor.py), driven
in-process with small Python children: a worker whose heartbeat goes stale is killed and
restarted, one that keeps beating is left alone, a slow start is no failure, and a held
process stays down until its hold ends.
"""

import os
import signal
import sys
import time

import psutil

from archlab.platforms.statefiles import read_json, write_json
from archlab.platforms.supervisor import HELD, SPEC_FILE, STATUS_FILE, Supervisor

# Fast settings, so each test takes a second or two (the lab's own are checked in config).
LIVENESS = {"period": 0.2, "timeout": 0.2, "failures": 2, "start_grace": 5.0}
# Touches its heartbeat file every 0.05 s; stops touching once HANG exists.
BEATING = ("import os, time\n"
           "while True:\n"
           "    if not os.path.exists(os.environ['HANG']):\n"
           "        open(os.environ['HEARTBEAT'], 'a').close(); "
           "os.utime(os.environ['HEARTBEAT'])\n"
           "    time.sleep(0.05)\n")


def worker_entry(tmp_path, name: str, code: str = BEATING) -> dict:
    heartbeat = tmp_path / f"{name}.heartbeat"
    return {"name": name, "argv": [sys.executable, "-c", code],
            "env": {"PATH": os.environ.get("PATH", "/usr/bin:/bin"),
                    "HEARTBEAT": str(heartbeat), "HANG": str(tmp_path / f"{name}.hang")},
            "cwd": str(tmp_path), "log": str(tmp_path / f"{name}.log"),
            "restart": "on-failure", "liveness": {"heartbeat": str(heartbeat)}}


def write_spec(tmp_path, generation: int, *entries: dict, holds: dict | None = None) -> None:
    write_json(tmp_path / SPEC_FILE, {"generation": generation, "run_id": "unit",
                                      "processes": list(entries), "liveness": LIVENESS,
                                      "holds": holds or {}})


def process(tmp_path, name: str) -> dict:
    return read_json(tmp_path / STATUS_FILE)["processes"][name]


def run_for(supervisor: Supervisor, seconds: float, until=None) -> None:
    """Step the supervisor as its loop does, for `seconds` or until `until()` holds."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline and not (until and until()):
        supervisor.step(time.monotonic())
        time.sleep(0.02)


def started(tmp_path, entry: dict) -> Supervisor:
    """A supervisor running `entry`, once the process has passed a liveness check."""
    supervisor = Supervisor(tmp_path)
    write_spec(tmp_path, 1, entry)
    supervisor.reload()
    run_for(supervisor, 5, lambda: process(tmp_path, entry["name"])["last_probe"] == "ok")
    return supervisor


def test_a_worker_whose_heartbeat_goes_stale_is_killed_and_restarted(tmp_path):
    supervisor = started(tmp_path, worker_entry(tmp_path, "worker"))
    try:
        first = process(tmp_path, "worker")["pid"]
        (tmp_path / "worker.hang").touch()  # alive, but no longer doing its rounds
        run_for(supervisor, 10,
                lambda: process(tmp_path, "worker")["liveness_restarts"] == 1)
        assert process(tmp_path, "worker")["liveness_restarts"] == 1
        (tmp_path / "worker.hang").unlink()
        run_for(supervisor, 5, lambda: process(tmp_path, "worker")["pid"] not in (None, first))
        replacement = process(tmp_path, "worker")
        assert replacement["state"] == "running" and replacement["restarts"] == 1
    finally:
        supervisor.stop_all()


def test_a_paused_worker_is_killed_and_restarted(tmp_path):
    supervisor = started(tmp_path, worker_entry(tmp_path, "worker"))
    try:
        os.killpg(process(tmp_path, "worker")["pid"], signal.SIGSTOP)
        run_for(supervisor, 10,
                lambda: process(tmp_path, "worker")["liveness_restarts"] == 1)
        assert process(tmp_path, "worker")["liveness_restarts"] == 1
    finally:
        supervisor.stop_all()


def test_a_beating_worker_is_left_alone_and_a_slow_start_is_no_failure(tmp_path):
    slow = worker_entry(tmp_path, "slow", "import time; time.sleep(1.5)\n" + BEATING)
    supervisor = Supervisor(tmp_path)
    write_spec(tmp_path, 1, worker_entry(tmp_path, "worker"), slow)
    try:
        supervisor.reload()
        # The slow one fails its checks for 1.5 s (> failures x period) while starting.
        run_for(supervisor, 3)
        for name in ("worker", "slow"):
            assert process(tmp_path, name)["liveness_restarts"] == 0
            assert process(tmp_path, name)["last_probe"] == "ok"
    finally:
        supervisor.stop_all()


def test_a_held_process_stays_down_until_its_hold_ends(tmp_path):
    entry = worker_entry(tmp_path, "worker")
    supervisor = started(tmp_path, entry)
    try:
        held_pid = process(tmp_path, "worker")["pid"]
        write_spec(tmp_path, 2, entry, holds={"worker": time.time() + 1.0})
        supervisor.reload()
        assert process(tmp_path, "worker")["state"] == HELD
        run_for(supervisor, 0.7)
        assert process(tmp_path, "worker")["state"] == HELD
        assert not psutil.pid_exists(held_pid) or \
            psutil.Process(held_pid).status() == psutil.STATUS_ZOMBIE
        run_for(supervisor, 5, lambda: process(tmp_path, "worker")["state"] == "running")
        back = process(tmp_path, "worker")
        assert back["pid"] != held_pid and back["liveness_restarts"] == 0
        # No liveness failure for the time it was held.
        run_for(supervisor, 1)
        assert process(tmp_path, "worker")["liveness_restarts"] == 0
    finally:
        supervisor.stop_all()
