"""The speed canary: how fast each core the lab uses runs a fixed piece of work.

The host-noise window (archlab/hostcpu.py) counts CPU time nobody explains; it cannot see
a core that does the same work more slowly: a lower clock, a neighbour on the sibling
hyperthread or on the physical core under a virtual one, caches or memory bandwidth
shared with other machines. Work done on such a core costs more CPU time per request,
and the system under test serves fewer requests, with no foreign CPU time anywhere.

The canary is a fixed, deterministic workload: ITERATIONS steps of a pure-Python
pseudo-random walk over a 4096-slot table (integer arithmetic, the interpreter's own
dispatch, list reads and writes: the kind of work the shop's Python processes do). It is
run on each given core in turn by a short-lived thread pinned to that core alone
(affinity is per thread on Linux, so the calling thread keeps its own cores), and timed
by that thread's own CPU time (time.thread_time) and by the wall clock. The CPU time is
the figure: time the core spent on the same instructions, so it does not grow when
another program takes turns on the core (the wall time does), only when the core itself
runs slower. A repeat whose canary took 10% longer than its session's others ran on
cores that were 10% slower.

We wrote this ourselves because what it needs is narrow: the same bytecode on every
run, pinned per core, timed by thread CPU time, in a few hundred ms. Benchmark suites
(pyperformance, pytest-benchmark) time a whole process by wall clock over many runs and
take seconds to minutes; none pins a thread to one core of a running process.
"""

import os
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass

# About 200 ms of CPU time per core on the 2-core lab machine (AMD EPYC VM, Python
# 3.11): 10 back-to-back runs took 209-239 ms on core 0 (median 218) and 213-224 ms on
# core 1 (median 216) while other programs loaded the machine; wall time was within a
# few percent of CPU time except when they shared the core. Fixed, so every run of every
# machine does the same work and the figures of one machine compare.
ITERATIONS = 2_000_000
TABLE_SLOTS = 4096
# A repeat whose canary is more than this far off its session's median ran on cores of
# another speed (report/summary.py flags it): 5%, a third of the 15-20% changes of speed
# between calibration rounds on the lab machine (docs/profiling.md).
OFF_LIMIT = 0.05


def workload(iterations: int = ITERATIONS) -> int:
    """The canary's fixed work: a pseudo-random walk (a linear congruential generator)
    counting visits in a table; returns the walk's last value (the same for the same
    iterations, everywhere)."""
    x = 1
    table = [0] * TABLE_SLOTS
    for _ in range(iterations):
        x = (x * 1103515245 + 12345) & 0x7FFFFFFF
        table[x & (TABLE_SLOTS - 1)] += 1
    return x


@dataclass(frozen=True)
class Timing:
    """One core's run of the workload: its thread's CPU time and the wall time, in ms."""

    cpu: int
    cpu_ms: float
    wall_ms: float
    pinned: bool


def time_on(cpu: int, iterations: int = ITERATIONS) -> Timing:
    """Run the workload once in a new thread pinned to `cpu` (unpinned where the OS has
    no per-thread affinity) and time it."""
    pinnable = hasattr(os, "sched_setaffinity")
    found: dict = {}

    def run() -> None:
        try:
            if pinnable:
                os.sched_setaffinity(0, {cpu})  # this thread only
            started_cpu, started_wall = time.thread_time(), time.perf_counter()
            workload(iterations)
            found["cpu_ms"] = (time.thread_time() - started_cpu) * 1000
            found["wall_ms"] = (time.perf_counter() - started_wall) * 1000
        except BaseException as exc:  # raised again in the caller's thread
            found["error"] = exc

    thread = threading.Thread(target=run, name=f"archlab-canary-{cpu}", daemon=True)
    thread.start()
    thread.join()
    if "error" in found:
        raise found["error"]
    return Timing(cpu, round(found["cpu_ms"], 2), round(found["wall_ms"], 2), pinnable)


def measure(cpus: Iterable[int], iterations: int = ITERATIONS) -> dict:
    """The workload on each of `cpus` in turn: {"cpu_ms": {cpu: ms}, "wall_ms": {cpu:
    ms}, "pinned": bool} (cpus as strings, as JSON keeps them)."""
    timings = [time_on(cpu, iterations) for cpu in sorted(set(cpus))]
    return {"cpu_ms": {str(t.cpu): t.cpu_ms for t in timings},
            "wall_ms": {str(t.cpu): t.wall_ms for t in timings},
            "pinned": all(t.pinned for t in timings)}


def record(before: dict, after: dict | None, sut_cpus: Iterable[int],
           iterations: int = ITERATIONS) -> dict:
    """run.json's "canary": the CPU ms per core before the warm-up and after the measured
    run (None: not reached), their wall ms, and which cores were the system's."""
    return {"iterations": iterations, "sut_cpus": sorted(set(sut_cpus)),
            "pinned": before["pinned"],
            "before": before["cpu_ms"], "after": after["cpu_ms"] if after else None,
            "wall_ms": {"before": before["wall_ms"],
                        "after": after["wall_ms"] if after else None}}


def sut_ms(canary: dict | None, sides: tuple[str, ...] = ("before", "after")) -> float | None:
    """A repeat's canary figure: the mean CPU ms over the system's cores of the runs
    before and after (of whichever there is; or of `sides`); None without a canary."""
    if not canary:
        return None
    cores = {str(c) for c in canary.get("sut_cpus") or []}
    values = [ms for side in sides for cpu, ms in (canary.get(side) or {}).items()
              if not cores or cpu in cores]
    return sum(values) / len(values) if values else None


def off_median(ms: float | None, median: float | None) -> float | None:
    """How far a canary figure is from its session's median, as a fraction (+0.1: took
    10% longer); None when either is unknown."""
    if ms is None or not median:
        return None
    return ms / median - 1
