"""`archlab calibrate`: how close each architecture gets to this machine's floor.

The floor is a bare Flask app running the identical SQL with the identical gunicorn
and pool configuration (archlab.floor). Both are loaded with wrk back to back, in
alternating rounds, in one run: these machines are shared and noisy, so only a
ratio measured side by side means anything.
"""

import json
import statistics
from dataclasses import dataclass

from archlab import wrk
from archlab.config import Ports, cores_given, port_base
from archlab.manifest import machine_facts, new_run_dir
from archlab.platforms.local import LocalPlatform
from archlab.stacks import ProcessSpec, Stack, get_stack, gunicorn_argv
from shop.seed import PRODUCT_COUNT

# The floor apps listen above the stack's own port block (base+0..+300).
FLOOR_PORT_OFFSET = 400


@dataclass(frozen=True)
class Target:
    """One thing wrk loads: a name, a base URL and the request script."""

    name: str
    url: str
    script: str


def calibration_stack(ports: Ports) -> Stack:
    """The monolith plus its floor app on the monolith's database."""
    mono = get_stack("monolith", ports)
    floor_port = ports.base + FLOOR_PORT_OFFSET
    floor = ProcessSpec(name="monolith-floor", argv=gunicorn_argv("archlab.floor:app"),
                        port=floor_port, health_url=f"http://127.0.0.1:{floor_port}/readyz",
                        database="monolith")
    return Stack(name="monolith", databases=mono.databases,
                 processes=[*mono.processes, floor], entrypoint=mono.entrypoint)


def targets(stack: Stack) -> list[Target]:
    """What to load: the product read path on the monolith and on its floor."""
    script = wrk.random_paths_script("/api/products/{id}", 1, PRODUCT_COUNT)
    url = {p.name: f"http://127.0.0.1:{p.port}" for p in stack.processes if p.port}
    return [Target("monolith-floor", url["monolith-floor"], script),
            Target("monolith", url["monolith"], script)]


def summarize(runs: dict[str, list[dict]]) -> dict:
    """Median req/s, p50 and p99 per target over its rounds, and each app's share of
    its floor (req/s ratio; latency ratios floor/app so 1.0 means as fast as the floor)."""
    medians = {
        name: {key: statistics.median(r[key] for r in results)
               for key in ("rps", "p50_ms", "p99_ms")} | {"errors": sum(r["errors"]
                                                                         for r in results)}
        for name, results in runs.items()
    }
    ratios = {}
    for name, m in medians.items():
        floor = medians.get(f"{name}-floor")
        if floor:
            ratios[name] = {"rps": m["rps"] / floor["rps"],
                            "p50": floor["p50_ms"] / m["p50_ms"],
                            "p99": floor["p99_ms"] / m["p99_ms"]}
    return {"medians": medians, "ratio_to_floor": ratios}


def run(*, seconds: float = 10.0, warmup: float = 2.0, rounds: int = 2,
        connections: int | None = None, port_base_: int | None = None, echo=print) -> dict:
    """Start the stack with its floors, load each target in alternating rounds, save and
    return the figures."""
    cores = cores_given()
    platform = LocalPlatform(port_base_ if port_base_ is not None else port_base())
    stack = calibration_stack(platform.ports)
    info = platform.up(stack)
    sizing = json.loads((info.state_dir / "state.json").read_text()).get("sizing", {})
    # As many connections as the app has serving threads: saturated, not queued.
    connections = connections or int(sizing.get("web_workers", cores)) * int(
        sizing.get("web_threads", 8))
    # With 2+ cores wrk gets the last one to itself.
    wrk_cpu = cores - 1 if cores >= 2 else None
    runs: dict[str, list[dict]] = {}
    try:
        for t in targets(stack):
            wrk.run(t.url, t.script, connections=connections, seconds=warmup, cpu=wrk_cpu)
        for i in range(rounds):
            for t in targets(stack):
                result = wrk.run(t.url, t.script, connections=connections, seconds=seconds,
                                 cpu=wrk_cpu)
                runs.setdefault(t.name, []).append(result.to_dict())
                echo(f"round {i + 1}/{rounds}  {t.name:<16} {result.rps:9.0f} req/s  "
                     f"p50 {result.p50_ms:6.2f} ms  p99 {result.p99_ms:6.2f} ms  "
                     f"errors {result.errors}")
    finally:
        platform.down()
    figures = {"kind": "calibration", "machine": machine_facts(), "sizing": sizing,
               "connections": connections, "seconds": seconds, "rounds": rounds,
               "wrk_cpu": wrk_cpu, "endpoint": "GET /api/products/{id} (random ids)",
               "runs": runs, **summarize(runs)}
    out = new_run_dir("calibration")
    (out / "calibration.json").write_text(json.dumps(figures, indent=2))
    figures["path"] = str(out / "calibration.json")
    return figures
