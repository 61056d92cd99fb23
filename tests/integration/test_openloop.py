"""The open loop's coordinated-omission correction, on the real monolith: its web
processes are paused (SIGSTOP) for one second while Locust sends 100 requests a second
through 4 slots. Every request due during the stall waited for it, so the corrected
record must hold about half a second's worth of requests at 500 ms or more; the
uncorrected one, which starts each clock when a slot freed up, must not. Counts, not
timings: how long a request took is never asserted.
"""

import json
import os
import signal
import subprocess
import sys
import threading
import time

import psutil
import pytest

from archlab.config import project_root
from loadtests import latency

RATE = 100            # requests per second
SECONDS = 4
SLOTS = 4
STALL_AT_S, STALL_S = 1.5, 1.0
# Requests due in the stall's first half waited at least 500 ms: RATE x STALL_S / 2 of
# them. A fifth is allowed for a stall that starts late or a schedule that starts early.
AT_LEAST_500MS = int(RATE * STALL_S / 2 * 0.8)


def web_processes(stack) -> list[psutil.Process]:
    """The monolith's gunicorn master and its workers, as they run now (a restart since
    `up` - by liveness, say - gave the master a new pid: processes.json has it)."""
    live = json.loads((stack.platform.state_dir / "processes.json").read_text())
    master = psutil.Process(live["processes"]["monolith"]["pid"])
    return [master, *master.children(recursive=True)]


def stall(processes: list[psutil.Process], started: threading.Event) -> None:
    """Pause the processes for STALL_S, STALL_AT_S after the load started."""
    started.wait(30)
    time.sleep(STALL_AT_S)
    for p in processes:
        p.send_signal(signal.SIGSTOP)
    try:
        time.sleep(STALL_S)
    finally:
        for p in processes:
            p.send_signal(signal.SIGCONT)


def run_open_loop(base_url: str, folder, started: threading.Event) -> dict:
    """Locust's open loop against `base_url`; its openloop.json."""
    out = folder / "openloop.json"
    env = dict(os.environ, ARCHLAB_ARRIVAL=json.dumps([[RATE, SECONDS]]),
               ARCHLAB_MAX_IN_FLIGHT=str(SLOTS), ARCHLAB_OPENLOOP_OUT=str(out),
               ARCHLAB_PERSONAS=json.dumps({"BrowserUser": 1}), ARCHLAB_WAIT="0",
               PYTHONPATH=str(project_root()))
    history = folder / "locust_stats_history.csv"
    process = subprocess.Popen(
        [sys.executable, "-m", "locust", "-f", str(project_root() / "loadtests" /
                                                   "locustfile.py"),
         "--headless", "-u", "1", "-r", "1", "-t", "40s", "--host", base_url,
         "--csv", str(folder / "locust"), "--csv-full-history", "--only-summary",
         "OpenLoop"],
        env=env, cwd=project_root(), stdout=subprocess.DEVNULL,
        stderr=open(folder / "locust.log", "w"))
    try:
        deadline = time.monotonic() + 30
        while not history.exists() and time.monotonic() < deadline:
            time.sleep(0.02)
        started.set()
        process.wait(60)
    finally:
        process.kill()
    return json.loads(out.read_text())


def holds_the_stall(record: dict) -> bool:
    """Whether a latency record holds the requests a one-second stall delayed."""
    return latency.count_at_or_above(latency.decode(record["hdr"]), 500) >= AT_LEAST_500MS


@pytest.mark.timeout(180)
def test_a_paused_server_shows_in_every_request_it_delayed(stacks, tmp_path):
    stack = stacks.get("monolith")
    started = threading.Event()
    pauser = threading.Thread(target=stall, args=(web_processes(stack), started))
    pauser.start()
    try:
        loop = run_open_loop(stack.base_url, tmp_path, started)
    finally:
        started.set()
        pauser.join()
    assert loop["complete"] and loop["intended"] == RATE * SECONDS
    assert loop["completed"] == loop["intended"] and loop["unfinished"] == 0
    assert loop["corrected"]["count"] == loop["uncorrected"]["count"] >= loop["intended"]
    assert holds_the_stall(loop["corrected"]), latency.count_at_or_above(
        latency.decode(loop["corrected"]["hdr"]), 500)
    # A closed-loop tool's record: only the requests in flight when the stall began.
    assert not holds_the_stall(loop["uncorrected"])
    assert latency.count_at_or_above(latency.decode(loop["uncorrected"]["hdr"]), 500) \
        <= SLOTS * 2
