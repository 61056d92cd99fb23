"""The bench's floor (archlab/bench/floor.py) without starting anything: the null stack
sits on a port of the bench's block that no stack uses, its record's figures come from
openloop.json and locust.json, and the locustfile sends NullUser only when named."""

import dataclasses
import json
import os
import subprocess
import sys

from archlab.bench import floor
from archlab.config import Ports, project_root


def test_the_null_floor_listens_on_a_port_of_the_block_no_stack_uses():
    ports = Ports.from_base(28000)
    stack = floor.null_stack(ports)
    [process] = stack.processes
    used = {value for value in dataclasses.asdict(ports).values() if isinstance(value, int)}
    used |= set(ports.proxies) | set(ports.replicas)
    assert ports.base < process.port < ports.base + 400
    assert process.port not in used
    assert stack.databases == [] and process.database is None
    assert process.health_url == f"http://127.0.0.1:{process.port}/readyz"


def test_the_record_takes_percentiles_and_counts_from_the_open_loop_files():
    # Only the keys the record reads, as loadtests.latency writes them.
    def described(p50, p95, p99):
        return {"count": 4, "p50_ms": p50, "p95_ms": p95, "p99_ms": p99, "max_ms": 40.0,
                "hdr": "..."}

    loop = {"corrected": described(1.5, 3.5, 40.5), "uncorrected": described(1.0, 3.0, 40.0),
            "intended": 5, "sent": 5, "completed": 4, "unfinished": 1,
            "behind_schedule": False}
    stats = [{"name": "/readyz", "num_failures": 1}, {"name": "Aggregated", "num_failures": 3},
             {"name": "/other", "num_failures": 2}]
    figures = floor.figures(loop, stats)
    assert figures["corrected"] == {"p50_ms": 1.5, "p95_ms": 3.5, "p99_ms": 40.5}
    assert figures["uncorrected"] == {"p50_ms": 1.0, "p95_ms": 3.0, "p99_ms": 40.0}
    assert (figures["intended"], figures["completed"], figures["unfinished"]) == (5, 4, 1)
    assert figures["failures"] == 3 and figures["behind_schedule"] is False


def open_loop_classes(personas: dict) -> dict:
    """The open loop's personas and weights as the locustfile builds them."""
    code = ("import locustfile, inspect\n"
            "personas = inspect.getclosurevars(locustfile.OpenLoop.schedule).nonlocals"
            "['personas']\n"
            "print(__import__('json').dumps({c.__name__: w for c, w in personas.items()}))")
    env = dict(os.environ, ARCHLAB_ARRIVAL="[[1, 1]]", ARCHLAB_PERSONAS=json.dumps(personas),
               PYTHONPATH=f"{project_root()}{os.pathsep}{project_root() / 'loadtests'}")
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True,
                         text=True, check=True, cwd=project_root())
    return json.loads(out.stdout.splitlines()[-1])


def test_the_open_loop_sends_null_user_only_when_the_personas_name_it():
    assert open_loop_classes({floor.PERSONA: 1}) == {
        "BrowserUser": 0, "BuyerUser": 0, "CheckoutUser": 0, "AccountHolderUser": 0,
        "NullUser": 1}
    assert open_loop_classes({"BrowserUser": 1})["NullUser"] == 0
