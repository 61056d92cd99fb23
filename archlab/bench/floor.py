"""The measurement's own floor: an open phase's schedule sent once to a null endpoint.

Before an open phase's repeats, the bench sends the same schedule (its steps, its slots,
a warm-up as long as the repeats', Locust pinned to the generator's core) to
GET /readyz of the monolith's floor app (archlab.floors.apps), served as `archlab
calibrate` serves its floors: gunicorn with the shared configuration, sized by the
system under test's cores and pinned to them. It runs with no database, so /readyz
answers {"status": "ok"} and does nothing else. Its latencies are what the generator,
the loopback network and the web server add to every request: a latency difference
between the architectures smaller than them is not the architectures'.

The floor is context, not a figure of the comparison: when it fails, the bench says so,
records the error in the phase's manifest and goes on with the repeats.
"""

import dataclasses
import subprocess
import tempfile
from collections.abc import Callable
from pathlib import Path

from archlab import budget as budgets
from archlab.bench.locust import (
    LOCUST_GRACE_SECONDS,
    OPENLOOP_FILE,
    LocustRun,
    locust_argv,
    locust_env,
)
from archlab.config import Ports
from archlab.errors import LabError
from archlab.experiment import Experiment
from archlab.platforms.local import LocalPlatform
from archlab.platforms.statefiles import read_json
from archlab.stacks import ProcessSpec, Stack, gunicorn_argv

APP = "archlab.floors.apps.monolith:app"
ENDPOINT = "/readyz"
# The locustfile's persona that sends only GET /readyz.
PERSONA = "NullUser"
# The floor's folder inside the phase's run folder.
FOLDER = "floor"
# A port of the bench's own block that no stack uses (archlab.config.Ports: the card
# processor is at +108, the fault proxies start at +200), so the floor needs no ports
# beyond the ones the bench already holds.
PORT_OFFSET = 109
PROCESS = "null-floor"
PERCENTILES = ("p50_ms", "p95_ms", "p99_ms")


def null_stack(ports: Ports) -> Stack:
    """One gunicorn master serving the floor app, with no database."""
    port = ports.base + PORT_OFFSET
    return Stack(name=PROCESS, databases=[], entrypoint=PROCESS, processes=[ProcessSpec(
        name=PROCESS, argv=gunicorn_argv(APP), port=port,
        health_url=f"http://127.0.0.1:{port}{ENDPOINT}")])


def run(experiment: Experiment, phase_dir: Path, budget: budgets.Budget, port_base: int,
        echo: Callable[[str], None]) -> dict:
    """Send the open phase's schedule to the null endpoint once, into <phase_dir>/floor/,
    and return the manifest's floor record; a failure is said and recorded in it
    ("error"), never raised."""
    record = {"app": APP, "endpoint": f"GET {ENDPOINT}", "folder": FOLDER,
              "steps": [list(step) for step in experiment.arrival_steps],
              "max_in_flight": experiment.max_in_flight, "warmup_s": experiment.warmup_s,
              "error": None}
    echo(f"floor: the same schedule against the null endpoint ({APP}, GET {ENDPOINT}) "
         "before the repeats ...")
    try:
        record |= _measure(experiment, phase_dir / FOLDER, budget, port_base)
    except Exception as exc:  # the floor is context: the comparison goes on without it
        record["error"] = f"{type(exc).__name__}: {exc}"
        echo(f"WARNING: floor: failed ({record['error']}); the bench goes on without "
             "it: the report will have no noise floor for its latencies")
        return record
    corrected = record["corrected"]
    echo(f"floor: p50 {_ms(corrected['p50_ms'])} / p95 {_ms(corrected['p95_ms'])} / "
         f"p99 {_ms(corrected['p99_ms'])} ms (corrected), {record['completed']} of "
         f"{record['intended']} arrivals answered")
    return record


def _measure(experiment: Experiment, folder: Path, budget: budgets.Budget,
             port_base: int) -> dict:
    """Up, warm-up, measured run, down (always); the record's figures."""
    platform = LocalPlatform(port_base)
    floor = dataclasses.replace(experiment, personas={PERSONA: 1})
    # As `archlab calibrate` starts its floors: on the system's cores, sized for them.
    with budgets.system_share(budget):
        info = platform.up(null_stack(platform.ports))
    state = read_json(info.state_dir / "state.json")
    try:
        with tempfile.TemporaryDirectory(prefix="archlab-floor-") as scratch:
            # NullUser never logs in; the file is only the setting locust_env passes on.
            logins = Path(scratch) / "logins.jsonl"
            if experiment.warmup_s > 0:
                _locust(floor, folder / "warmup", info.base_url, logins, info.run_id,
                        budget, measured=False)
            _locust(floor, folder, info.base_url, logins, info.run_id, budget,
                    measured=True)
    finally:
        platform.down()
    loop = read_json(folder / OPENLOOP_FILE)
    if not loop["corrected"]["count"]:
        # Arrivals that raised before their request (a persona the locustfile lacks)
        # complete without one: no figures, so no floor.
        raise LabError(f"the null endpoint answered no request; read "
                       f"{folder / 'locust_exceptions.csv'}")
    sizing = state["sizing"]
    return figures(loop, read_json(folder / "locust.json")) | {
        "port": platform.ports.base + PORT_OFFSET,
        "web_workers": sizing["web_workers"], "web_threads": sizing["web_threads"]}


def _locust(experiment: Experiment, folder: Path, url: str, logins: Path, run_id: str,
            budget: budgets.Budget, measured: bool) -> None:
    """One Locust run of the open loop against the floor, as the runner starts them."""
    seconds = experiment.duration_s if measured else experiment.warmup_s
    run = LocustRun(folder, locust_argv(experiment, url, folder, seconds),
                    locust_env(experiment, folder, logins, run_id=run_id, measured=measured),
                    seconds, budgets.generator_preexec(budget))
    run.start()
    try:
        run.process.wait(timeout=seconds + LOCUST_GRACE_SECONDS)
    except subprocess.TimeoutExpired:
        raise LabError(f"Locust ran {LOCUST_GRACE_SECONDS:.0f} s past its {seconds:.0f} s; "
                       f"read {folder / 'locust.log'}") from None
    finally:
        run.stop()
    run.check_output()


def figures(loop: dict, stats: list | None) -> dict:
    """The record's figures from the floor's openloop.json and locust.json: corrected
    and uncorrected p50/p95/p99 in ms, the arrivals' counts and Locust's failures."""
    return {
        "corrected": {key: loop["corrected"][key] for key in PERCENTILES},
        "uncorrected": {key: loop["uncorrected"][key] for key in PERCENTILES},
        "intended": loop["intended"], "completed": loop["completed"],
        "unfinished": loop["unfinished"], "behind_schedule": loop["behind_schedule"],
        # Locust's --json lists endpoints; a total row, should one appear, is not one.
        "failures": sum(entry["num_failures"] for entry in stats or []
                        if entry["name"] != "Aggregated"),
    }


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}"
