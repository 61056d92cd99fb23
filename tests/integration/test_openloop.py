"""The open loop's coordinated-omission correction, on the real monolith: its web
processes are paused (SIGSTOP) for one second while Locust sends 100 requests a second
through 4 slots. Every request due during the stall waited for it, so the corrected
record must hold about half a second's worth of requests at 500 ms or more; the
uncorrected one, which starts each clock when a slot freed up, must not. With 64 slots
the requests keep being sent on schedule through the stall, so the wait shows in the
uncorrected record and no arrival waits for a slot. And when the generator itself is
paused, the lateness is the generator's: the repeat is behind its schedule, and the
delay shows in the lateness part, not in the service time. Counts, not timings: how
long a request took is never asserted.
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


def run_open_loop(base_url: str, folder, stalled=None, *, rate: int = RATE,
                  slots: int = SLOTS) -> dict:
    """Locust's open loop against `base_url`, with `stalled(locust process)` (the
    processes to pause) paused for STALL_S in the middle; its openloop.json."""
    out = folder / "openloop.json"
    env = dict(os.environ, ARCHLAB_ARRIVAL=json.dumps([[rate, SECONDS]]),
               ARCHLAB_MAX_IN_FLIGHT=str(slots), ARCHLAB_OPENLOOP_OUT=str(out),
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
    started = threading.Event()
    pauser = (threading.Thread(target=stall, args=(stalled(process), started))
              if stalled else None)
    if pauser:
        pauser.start()
    try:
        deadline = time.monotonic() + 30
        while not history.exists() and time.monotonic() < deadline:
            time.sleep(0.02)
        started.set()
        process.wait(60)
    finally:
        started.set()
        if pauser:
            pauser.join()
        process.kill()
    return json.loads(out.read_text())


def holds_the_stall(record: dict, rate: int = RATE) -> bool:
    """Whether a latency record holds the requests a one-second stall delayed, at
    `rate` arrivals a second (each sends one request)."""
    least = int(rate * STALL_S / 2 * 0.8)
    return latency.count_at_or_above(latency.decode(record["hdr"]), 500) >= least


def at_or_above(record: dict, ms: float) -> int:
    """How many values of a latency record were `ms` or more."""
    return latency.count_at_or_above(latency.decode(record["hdr"]), ms)


@pytest.mark.timeout(180)
def test_a_paused_server_shows_in_every_request_it_delayed(stacks, tmp_path):
    stack = stacks.get("monolith")
    loop = run_open_loop(stack.base_url, tmp_path, lambda _: web_processes(stack))
    assert loop["complete"] and loop["intended"] == RATE * SECONDS
    assert loop["completed"] == loop["intended"] and loop["unfinished"] == 0
    assert loop["corrected"]["count"] == loop["uncorrected"]["count"] >= loop["intended"]
    assert holds_the_stall(loop["corrected"]), at_or_above(loop["corrected"], 500)
    # A closed-loop tool's record: only the requests in flight when the stall began.
    assert not holds_the_stall(loop["uncorrected"])
    assert at_or_above(loop["uncorrected"], 500) <= SLOTS * 2
    # The stall kept the 4 slots busy: the arrivals due in it waited for a slot.
    assert at_or_above(loop["slot_wait"], 500) >= AT_LEAST_500MS - SLOTS


@pytest.mark.timeout(180)
def test_with_slots_to_spare_requests_are_sent_on_schedule_through_a_stall(stacks,
                                                                           tmp_path):
    stack = stacks.get("monolith")
    rate = 50  # a stall's arrivals (50) fit in the 64 slots
    loop = run_open_loop(stack.base_url, tmp_path, lambda _: web_processes(stack),
                         rate=rate, slots=64)
    assert loop["completed"] == loop["intended"] == rate * SECONDS
    # No arrival waited for a slot, so each was sent when due (give or take the
    # generator's lateness), and those sent in the stall's first half waited 500 ms or
    # more in the server: the uncorrected record (the service time) holds them.
    assert at_or_above(loop["slot_wait"], 100) == 0
    assert at_or_above(loop["parts"]["slot_wait"], 100) == 0
    assert loop["sent"] == loop["intended"]
    assert holds_the_stall(loop["uncorrected"], rate), at_or_above(loop["uncorrected"], 500)
    assert holds_the_stall(loop["parts"]["service"], rate)
    assert holds_the_stall(loop["corrected"], rate)


@pytest.mark.timeout(180)
def test_a_paused_generator_is_behind_schedule_and_its_lateness_is_its_own(stacks,
                                                                           tmp_path):
    stack = stacks.get("monolith")
    loop = run_open_loop(stack.base_url, tmp_path, lambda locust: [psutil.Process(
        locust.pid)], slots=64)
    assert loop["completed"] == loop["intended"] == RATE * SECONDS
    assert loop["behind_schedule"]
    assert loop["lag_p99_ms"] > loop["lag_limit_ms"]
    # The arrivals due in the pause's first half began 500 ms late or more: lateness.
    assert at_or_above(loop["scheduler_lag"], 500) >= AT_LEAST_500MS
    assert holds_the_stall(loop["parts"]["lateness"])
    assert holds_the_stall(loop["corrected"])
    # Not service time: at most the requests in flight when the generator stopped.
    assert not holds_the_stall(loop["parts"]["service"])
    assert at_or_above(loop["parts"]["service"], 500) <= 64
