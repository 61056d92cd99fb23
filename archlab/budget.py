"""The equal budget: which cores the load generator gets and which the system under test.

With two or more cores the generator gets the last core to itself and the system
under test the rest, the same for every architecture; worker counts derive from the
system's share (ARCHLAB_CORES).

What runs where (the rule): the system under test's cores run the stack and nothing
else of the lab's. The stack inherits them: the lab pins itself there only while it
starts the stack (`system_share`). The lab's own work - the bench's loop, the sampler,
the host-noise windows, reseeding, the live line - runs on the generator's side
(`lab_share`), beside Locust. That core's total load is judged by the generator's event
loop lag (loadtests.series), not by its CPU share: lag is what delays requests.
"""

import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass

from archlab import config


@dataclass(frozen=True)
class Budget:
    """Cores for the generator and for the system under test (empty = not pinned)."""

    cpus_total: int
    generator_cpus: tuple[int, ...]
    sut_cpus: tuple[int, ...]
    web_workers: int
    web_threads: int

    @property
    def pinned(self) -> bool:
        return bool(self.generator_cpus)

    @property
    def lab_cpus(self) -> tuple[int, ...]:
        """Every core the lab uses: the system's and the generator's (a host-noise
        window watches these)."""
        return self.sut_cpus + self.generator_cpus

    def to_dict(self) -> dict:
        return asdict(self) | {"pinned": self.pinned}


def plan() -> Budget:
    """Split the cores this process may use between generator and system under test."""
    cpus = config.available_cpus()
    # Pinning needs the OS's affinity calls (Linux); elsewhere the budget is unpinned.
    if len(cpus) >= 2 and hasattr(os, "sched_setaffinity"):
        generator, sut = (cpus[-1],), tuple(cpus[:-1])
    else:
        generator, sut = (), tuple(cpus)
    workers, threads = config.web_sizing(len(sut))
    return Budget(len(cpus), generator, sut, workers, threads)


@contextmanager
def lab_share(budget: Budget) -> Iterator[None]:
    """Run the block pinned to the generator's cores with ARCHLAB_CORES set to the
    system's core count (what a stack started inside sizes itself for); restore
    afterwards. Start stacks inside it with `system_share`."""
    with _pinned(budget, budget.generator_cpus):
        yield


@contextmanager
def system_share(budget: Budget) -> Iterator[None]:
    """Run the block pinned to the system's cores with ARCHLAB_CORES set to their count,
    so a stack started inside inherits both; restore afterwards.

    Affinity is per thread: call this before starting other threads (bench and
    calibrate do), or they keep the cores they had.
    """
    with _pinned(budget, budget.sut_cpus):
        yield


@contextmanager
def _pinned(budget: Budget, cpus: tuple[int, ...]) -> Iterator[None]:
    """This thread on `cpus` (when the budget pins) and ARCHLAB_CORES the system's count."""
    before_cpus = os.sched_getaffinity(0) if budget.pinned else None
    before_cores = os.environ.get("ARCHLAB_CORES")
    if budget.pinned:
        os.sched_setaffinity(0, cpus)
    os.environ["ARCHLAB_CORES"] = str(len(budget.sut_cpus))
    try:
        yield
    finally:
        if before_cpus is not None:
            os.sched_setaffinity(0, before_cpus)
        if before_cores is None:
            os.environ.pop("ARCHLAB_CORES", None)
        else:
            os.environ["ARCHLAB_CORES"] = before_cores


def generator_preexec(budget: Budget):
    """A subprocess `preexec_fn` pinning the generator to its core (None when unpinned)."""
    if not budget.pinned:
        return None
    cpus = set(budget.generator_cpus)
    return lambda: os.sched_setaffinity(0, cpus)
