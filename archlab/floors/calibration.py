"""`archlab calibrate`'s measurement: how close each architecture gets to this machine's
floor.

Each architecture is started together with its floor (archlab.floors.apps: the same SQL,
pool, gunicorn configuration, hop count and client library, and nothing else), and
both are loaded with wrk back to back, in alternating rounds, in one run: these
machines are shared and noisy, so only ratios measured side by side mean anything.
The load generator gets its own core when there are two or more (archlab.budget).

Every wrk run is also a host window (archlab.hostcpu) over the system's and the
generator's cores: CPU time there that the stack, wrk and this process do not explain
is another program's load. A run above hostcpu.NOISE_LIMIT_PERCENT is flagged, and its
round's app/floor pair is left out of that row's shares while clean rounds remain. Each
share gets a t-based 95% interval over the rounds, from the per-round ratios (a round's
app run and floor run go back to back) on the log scale (archlab.floors.shares).

Every run also records the stack's CPU time over it (`stack_cpu_seconds`: every process
of the stack, PostgreSQL included; not wrk, not the lab), from which shares.py reports
the overhead above the floor in CPU milliseconds per request.
"""

import json
import os
from dataclasses import dataclass
from pathlib import Path

from archlab import budget as budgets
from archlab import hostcpu
from archlab.config import Ports, port_base
from archlab.manifest import machine_facts, new_run_dir
from archlab.metrics import stack_roots
from archlab.platforms.local import LocalPlatform
from archlab.stacks import ProcessSpec, Stack, get_stack, gunicorn_argv
from shop.seed import PRODUCT_COUNT

from . import wrk
from .shares import cpu_ms_per_request, summarize

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
        floors = [_floor("monolith-floor", "archlab.floors.apps.monolith:app", base, "monolith")]
    else:
        urls = {"CATALOG_URL": f"http://127.0.0.1:{base + 2}",
                "INVENTORY_URL": f"http://127.0.0.1:{base + 3}"}
        floors = [
            _floor("catalog-floor", "archlab.floors.apps.microservices:catalog_app", base + 2,
                   "catalog"),
            _floor("inventory-floor", "archlab.floors.apps.microservices:inventory_app", base + 3,
                   "inventory"),
            _floor("gateway-floor", "archlab.floors.apps.microservices:gateway_app", base + 1,
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


DEFAULT_ROUNDS = 3


def _noise_note(host: hostcpu.HostCpu) -> str:
    if not host.flagged:
        return ""
    return f"  ! host noise: {host.unexplained_percent:.0f}% of a core unexplained"


def _measure(arch: str, budget, *, seconds, warmup, rounds, connections, base, echo):
    platform = LocalPlatform(base)
    runs, single = [], {}
    with budgets.system_share(budget):
        stack = calibration_stack(arch, platform.ports)
        info = platform.up(stack)
    cpu = budget.generator_cpus[0] if budget.pinned else None
    def roots() -> list[int]:
        return list(stack_roots(platform.state_dir))

    def measured(t: Target, **kw) -> tuple[dict, hostcpu.HostCpu]:
        # Known to the window: the stack's trees (supervisor, postmaster), and this
        # process, which runs and reaps wrk inside each window.
        window = hostcpu.Window(cpus=budget.lab_cpus, roots=roots,
                                extra_pids=[os.getpid()]).open()
        # The stack alone (not wrk, not the lab): its CPU per request is the overhead's
        # measure (shares.py). Also per supervised process (its tree: a gunicorn master
        # with its workers, the postmaster with its backends), to say where it went.
        trees = {pid: name for pid, name in stack_roots(platform.state_dir).items()
                 if name != "supervisor"}
        before = hostcpu.read_processes(roots())
        before_trees = {pid: hostcpu.read_processes([pid]) for pid in trees}
        result = wrk.run(t.url, t.script, cpu=cpu, **kw)
        stack_cpu, _ = hostcpu.known_seconds(before, hostcpu.read_processes(roots()))
        by_tree = {name: hostcpu.known_seconds(before_trees[pid],
                                               hostcpu.read_processes([pid]))[0]
                   for pid, name in trees.items()}
        host = window.close()
        return result.to_dict() | {
            "stack_cpu_seconds": round(stack_cpu, 3),
            # Processes that hardly ran (services off the measured path) are left out.
            "stack_cpu_by_process": {name: round(sec, 3) for name, sec in by_tree.items()
                                     if sec >= 0.01}}, host

    try:
        echo(f"{arch}: up in {info.startup_seconds:.1f} s; warming up")
        for t in targets(arch, stack):
            wrk.run(t.url, t.script, connections=connections, seconds=warmup, cpu=cpu)
        for i in range(rounds):
            for t in targets(arch, stack):
                r, host = measured(t, connections=connections, seconds=seconds)
                runs.append({"arch": arch, "endpoint": t.endpoint, "variant": t.variant,
                             "round": i + 1} | r | {"host_cpu": host.to_dict()})
                echo(f"  round {i + 1}/{rounds} {t.endpoint:<8} {t.variant:<6}"
                     f"{r['rps']:9.0f} req/s  p50 {r['p50_ms']:6.2f} ms  p99 {r['p99_ms']:6.2f}"
                     f" ms  cpu {cpu_ms_per_request(r):5.2f} ms/req  errors {r['errors']}"
                     f"{_noise_note(host)}")
        # Latency with no queueing at all: one connection, one request at a time.
        for t in targets(arch, stack):
            if t.endpoint == "product":
                r, host = measured(t, connections=1, seconds=max(3.0, seconds / 2))
                single[t.variant] = r | {"host_cpu": host.to_dict()}
                echo(f"  concurrency 1  product  {t.variant:<6} p50 {r['p50_ms']:6.2f} ms"
                     f"{_noise_note(host)}")
    finally:
        platform.down()
    return runs, single, info.startup_seconds


def run(*, archs=("monolith", "microservices"), seconds: float = 10.0, warmup: float = 2.0,
        rounds: int = DEFAULT_ROUNDS, connections: int | None = None, base: int | None = None,
        results_dir: Path | None = None, echo=print) -> dict:
    """Measure each architecture and its floor, save calibration.json (in a new folder
    under `results_dir`, default results/), return the figures."""
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
               "endpoints": ENDPOINTS, "startup_seconds": startup,
               "noise_limit_percent": hostcpu.NOISE_LIMIT_PERCENT, "runs": runs,
               "concurrency_1": single, **summarize(runs)}
    out = new_run_dir("calibration", results_dir)
    (out / "calibration.json").write_text(json.dumps(figures, indent=2))
    figures["path"] = str(out / "calibration.json")
    return figures
