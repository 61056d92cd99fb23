"""`archlab calibrate`: how close each architecture gets to this machine's floor.

Each architecture is started together with its floor (archlab.floors: the same SQL,
pool, gunicorn configuration, hop count and client library, and nothing else), and
both are loaded with wrk back to back, in alternating rounds, in one run: these
machines are shared and noisy, so only ratios measured side by side mean anything.
The load generator gets its own core when there are two or more (archlab.budget).
"""

import json
import statistics
from dataclasses import dataclass

from archlab import budget as budgets
from archlab import wrk
from archlab.config import Ports, port_base
from archlab.manifest import machine_facts, new_run_dir
from archlab.platforms.local import LocalPlatform
from archlab.stacks import ProcessSpec, Stack, get_stack, gunicorn_argv
from shop.seed import PRODUCT_COUNT

# The floor apps listen above a stack's own port block (base+0..+300).
FLOOR_PORT_OFFSET = 400
SEARCH_WORDS = ("rack", "server", "switch", "cable", "ups", "nas", "cooling", "router")
ENDPOINTS = {
    "product": "GET /api/products/{id} (random ids)",
    "search": "GET /api/products?q=<word> (8 words in turn)",
}


@dataclass(frozen=True)
class Target:
    """One thing wrk loads: architecture, endpoint, app or floor, URL and request script."""

    arch: str
    endpoint: str
    variant: str
    url: str
    script: str


def _floor(name: str, app: str, port: int, database: str | None = None,
           env: dict | None = None) -> ProcessSpec:
    return ProcessSpec(name=name, argv=gunicorn_argv(app), port=port, env=env or {},
                       health_url=f"http://127.0.0.1:{port}/readyz", database=database)


def calibration_stack(arch: str, ports: Ports) -> Stack:
    """The architecture's stack plus its floor apps on the architecture's databases."""
    stack = get_stack(arch, ports)
    base = ports.base + FLOOR_PORT_OFFSET
    if arch == "monolith":
        floors = [_floor("monolith-floor", "archlab.floors.monolith:app", base, "monolith")]
    else:
        urls = {"CATALOG_URL": f"http://127.0.0.1:{base + 2}",
                "INVENTORY_URL": f"http://127.0.0.1:{base + 3}"}
        floors = [
            _floor("catalog-floor", "archlab.floors.microservices:catalog_app", base + 2,
                   "catalog"),
            _floor("inventory-floor", "archlab.floors.microservices:inventory_app", base + 3,
                   "inventory"),
            _floor("gateway-floor", "archlab.floors.microservices:gateway_app", base + 1,
                   env=urls),
        ]
    return Stack(name=stack.name, databases=stack.databases,
                 processes=[*stack.processes, *floors], entrypoint=stack.entrypoint)


def targets(arch: str, stack: Stack) -> list[Target]:
    """Both endpoints on the architecture and on its floor."""
    port = {p.name: p.port for p in stack.processes}
    entry = {"app": port[stack.entrypoint],
             "floor": port["monolith-floor" if arch == "monolith" else "gateway-floor"]}
    scripts = {
        "product": wrk.random_paths_script("/api/products/{id}", 1, PRODUCT_COUNT),
        "search": wrk.fixed_paths_script([f"/api/products?q={w}" for w in SEARCH_WORDS]),
    }
    return [Target(arch, endpoint, variant, f"http://127.0.0.1:{entry[variant]}", script)
            for endpoint, script in scripts.items() for variant in ("floor", "app")]


def summarize(runs: list[dict]) -> dict:
    """Median req/s, p50 and p99 per (arch, endpoint, variant) over the rounds, and each
    app's share of its floor (req/s ratio; latency ratios floor/app, so 1.0 = as fast)."""
    groups: dict[tuple, list[dict]] = {}
    for r in runs:
        groups.setdefault((r["arch"], r["endpoint"], r["variant"]), []).append(r)
    medians = {key: {m: statistics.median(r[m] for r in rs) for m in ("rps", "p50_ms", "p99_ms")}
               | {"errors": sum(r["errors"] for r in rs), "rounds": len(rs)}
               for key, rs in groups.items()}
    table = []
    for (arch, endpoint, variant), m in medians.items():
        if variant != "app":
            continue
        floor = medians.get((arch, endpoint, "floor"))
        row = {"arch": arch, "endpoint": endpoint, **{f"app_{k}": v for k, v in m.items()}}
        if floor:
            row |= {f"floor_{k}": v for k, v in floor.items()}
            row |= {"rps_ratio": m["rps"] / floor["rps"],
                    "p50_ratio": floor["p50_ms"] / m["p50_ms"],
                    "p99_ratio": floor["p99_ms"] / m["p99_ms"]}
        table.append(row)
    return {"table": table}


def _measure(arch: str, budget, *, seconds, warmup, rounds, connections, base, echo):
    platform = LocalPlatform(base)
    runs, single = [], {}
    with budgets.system_share(budget):
        stack = calibration_stack(arch, platform.ports)
        info = platform.up(stack)
    cpu = budget.generator_cpus[0] if budget.pinned else None
    try:
        echo(f"{arch}: up in {info.startup_seconds:.1f} s; warming up")
        for t in targets(arch, stack):
            wrk.run(t.url, t.script, connections=connections, seconds=warmup, cpu=cpu)
        for i in range(rounds):
            for t in targets(arch, stack):
                r = wrk.run(t.url, t.script, connections=connections, seconds=seconds, cpu=cpu)
                runs.append({"arch": arch, "endpoint": t.endpoint, "variant": t.variant,
                             "round": i + 1} | r.to_dict())
                echo(f"  round {i + 1}/{rounds} {t.endpoint:<8} {t.variant:<6}"
                     f"{r.rps:9.0f} req/s  p50 {r.p50_ms:6.2f} ms  p99 {r.p99_ms:6.2f} ms"
                     f"  errors {r.errors}")
        # Latency with no queueing at all: one connection, one request at a time.
        for t in targets(arch, stack):
            if t.endpoint == "product":
                r = wrk.run(t.url, t.script, connections=1, seconds=max(3.0, seconds / 2),
                            cpu=cpu)
                single[t.variant] = r.to_dict()
                echo(f"  concurrency 1  product  {t.variant:<6} p50 {r.p50_ms:6.2f} ms")
    finally:
        platform.down()
    return runs, single, info.startup_seconds


def run(*, archs=("monolith", "microservices"), seconds: float = 10.0, warmup: float = 2.0,
        rounds: int = 2, connections: int | None = None, base: int | None = None,
        echo=print) -> dict:
    """Measure each architecture and its floor, save calibration.json, return the figures."""
    budget = budgets.plan()
    # As many connections as an app has serving threads: saturated, not queued.
    connections = connections or budget.web_workers * budget.web_threads
    base = base if base is not None else port_base()
    runs, single, startup = [], {}, {}
    for arch in archs:
        arch_runs, arch_single, startup[arch] = _measure(
            arch, budget, seconds=seconds, warmup=warmup, rounds=rounds,
            connections=connections, base=base, echo=echo)
        runs += arch_runs
        single[arch] = arch_single
    figures = {"kind": "calibration", "machine": machine_facts(), "budget": budget.to_dict(),
               "connections": connections, "seconds": seconds, "rounds": rounds,
               "endpoints": ENDPOINTS, "startup_seconds": startup, "runs": runs,
               "concurrency_1": single, **summarize(runs)}
    out = new_run_dir("calibration")
    (out / "calibration.json").write_text(json.dumps(figures, indent=2))
    figures["path"] = str(out / "calibration.json")
    return figures
