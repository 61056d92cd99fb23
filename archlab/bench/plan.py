"""What a run will do, decided before it starts: the order of the repeats and the
manifest that records where the run came from."""

import json
from pathlib import Path

from archlab import budget as budgets
from archlab import config, formats
from archlab.experiment import Experiment
from archlab.manifest import machine_facts
from archlab.platforms import memlimit

UNPINNED_NOTE = ("unpinned (one core, or an OS without CPU pinning): the generator and the "
                 "system under test share every core, so the generator's load is part of "
                 "what is measured")
ORDER_RULE = ("ABBA: odd repeats run the architectures in the experiment's order, even "
              "repeats in reverse, so neither always runs first")


def run_order(experiment: Experiment) -> list[tuple[str, int]]:
    """Interleaved, alternating which goes first (ABBA): repeat 1 in the experiment's
    order, repeat 2 in reverse, and so on, so whatever drifts during a run (a warming
    machine, a filling disk) does not always favour the architecture that runs first."""
    order = []
    for repeat in range(1, experiment.repeats + 1):
        archs = experiment.architectures if repeat % 2 else experiment.architectures[::-1]
        order += [(arch, repeat) for arch in archs]
    return order


def newest_calibration(results_dir: Path) -> dict | None:
    """The newest results/*_calibration/calibration.json, or None."""
    found = sorted(results_dir.glob("*_calibration/calibration.json"))
    if not found:
        return None
    calibration = json.loads(found[-1].read_text())
    calibration["path"] = str(found[-1])
    return calibration


def manifest(experiment: Experiment, budget: budgets.Budget, port_base: int,
             results_dir: Path) -> dict:
    """manifest.json: where the run came from and what it plans to do."""
    path = experiment.path.resolve()
    try:
        shown = str(path.relative_to(config.project_root()))
    except ValueError:
        shown = str(path)
    share = budget.to_dict()
    if not budget.pinned:
        share["note"] = UNPINNED_NOTE
    return {
        "format": formats.MANIFEST_FORMAT,
        "experiment": experiment.name,
        "experiment_file": shown,
        "config": experiment.to_config(),
        "machine": machine_facts(),
        "budget": share,
        "port_base": port_base,
        "order": [list(step) for step in run_order(experiment)],
        "order_rule": ORDER_RULE,
        # The PostgreSQL server each stack ran on, filled in as the stacks come up.
        "postgres_servers": [],
        "calibration": newest_calibration(results_dir),
        "supervision": supervision(experiment),
    }


def supervision(experiment: Experiment) -> dict:
    """How every process of both architectures was watched and limited (the same for
    both): the liveness settings, the memory limit, and how this machine sets it."""
    settings = config.stack_settings(experiment.settings)
    return {"liveness": config.liveness_settings(settings),
            "memory_limit_mib": int(float(settings["MEMORY_LIMIT_MIB"])),
            "memory_limits": memlimit.detect().kind}
