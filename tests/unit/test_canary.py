"""archlab.canary: the fixed workload, run per core in a pinned thread of its own, and
the figures the report takes from it. Nothing here asserts a timing."""

import os
import threading

import pytest

from archlab import canary


def test_the_workload_is_fixed_work_with_a_fixed_result():
    assert canary.workload(10_000) == canary.workload(10_000)
    assert canary.workload(10_000) != canary.workload(10_001)
    assert canary.ITERATIONS > 1_000_000  # a few hundred ms, not a few


def test_each_core_is_timed_in_a_thread_of_its_own_the_callers_cores_untouched(monkeypatch):
    pinned, threads = [], []

    def setaffinity(pid, cpus):
        pinned.append((pid, set(cpus)))
        threads.append(threading.current_thread())

    monkeypatch.setattr(os, "sched_setaffinity", setaffinity, raising=False)
    found = canary.measure([1, 0, 1], iterations=1_000)
    assert pinned == [(0, {0}), (0, {1})]  # each core once, this thread only (pid 0)
    assert all(t is not threading.main_thread() for t in threads)
    assert set(found["cpu_ms"]) == set(found["wall_ms"]) == {"0", "1"}
    assert all(ms >= 0 for ms in found["cpu_ms"].values()) and found["pinned"]


@pytest.mark.skipif(not hasattr(os, "sched_setaffinity"), reason="per-thread affinity")
def test_on_this_machine_the_thread_is_pinned_and_the_caller_is_not(monkeypatch):
    mine = os.sched_getaffinity(0)
    cpu = min(mine)
    seen = []
    real = canary.workload

    def workload(iterations):
        seen.append(os.sched_getaffinity(0))
        return real(iterations)

    monkeypatch.setattr(canary, "workload", workload)
    timing = canary.time_on(cpu, iterations=1_000)
    assert seen == [{cpu}] and os.sched_getaffinity(0) == mine
    assert timing.cpu == cpu and timing.pinned and timing.cpu_ms >= 0


def test_an_error_in_the_pinned_thread_is_raised_in_the_callers(monkeypatch):
    def refuse(pid, cpus):
        raise OSError(22, "Invalid argument")

    monkeypatch.setattr(os, "sched_setaffinity", refuse, raising=False)
    with pytest.raises(OSError):
        canary.time_on(99, iterations=10)


def test_run_json_keeps_both_runs_and_the_systems_cores():
    before = {"cpu_ms": {"0": 200.0, "1": 210.0}, "wall_ms": {"0": 201.0, "1": 260.0},
              "pinned": True}
    after = {"cpu_ms": {"0": 204.0, "1": 190.0}, "wall_ms": {"0": 205.0, "1": 191.0},
             "pinned": True}
    r = canary.record(before, after, sut_cpus=(0,))
    assert r["before"] == {"0": 200.0, "1": 210.0} and r["after"]["0"] == 204.0
    assert r["sut_cpus"] == [0] and r["iterations"] == canary.ITERATIONS
    assert r["wall_ms"]["after"] == {"0": 205.0, "1": 191.0}
    # The system's figure: its cores only, the mean of before and after.
    assert canary.sut_ms(r) == 202.0
    assert canary.sut_ms(r, ("after",)) == 204.0
    cut_short = canary.record(before, None, sut_cpus=(0,))
    assert cut_short["after"] is None and canary.sut_ms(cut_short) == 200.0
    assert canary.sut_ms(None) is None


def test_off_the_median():
    assert canary.off_median(220.0, 200.0) == pytest.approx(0.10)
    assert canary.off_median(None, 200.0) is None and canary.off_median(200.0, None) is None
