"""`archlab calibrate`: how close each architecture gets to this machine's floor.

Each architecture is started together with its floor (archlab.floors: the same SQL,
pool, gunicorn configuration, hop count and client library, and nothing else), and
both are loaded with wrk back to back, in alternating rounds, in one run: these
machines are shared and noisy, so only ratios measured side by side mean anything.
The load generator gets its own core when there are two or more (archlab.budget).

Every wrk run is also a host window (archlab.hostcpu) over the system's and the
generator's cores: CPU time there that the stack, wrk and this process do not explain
is another program's load. A run above hostcpu.NOISE_LIMIT_PERCENT is flagged, and its
round's app/floor pair is left out of that row's shares while clean rounds remain. Each
share gets a t-based 95% interval over the rounds, from the per-round ratios (a round's
app run and floor run go back to back) on the log scale.
"""

import json
import math
import os
import statistics
from dataclasses import dataclass
from pathlib import Path

from archlab import budget as budgets
from archlab import hostcpu, wrk
from archlab.config import Ports, port_base
from archlab.manifest import machine_facts, new_run_dir
from archlab.metrics import stack_roots
from archlab.platforms.local import LocalPlatform
from archlab.report.stats import estimate
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


DEFAULT_ROUNDS = 3
METRICS = ("rps", "p50_ms", "p99_ms")


def _flagged(run: dict) -> bool:
    return bool((run.get("host_cpu") or {}).get("flagged"))


def ratio_interval(ratios: list[float]) -> tuple[float, list[float] | None]:
    """The geometric mean of per-round ratios and its t-based 95% interval, taken on
    the log scale (ratios are multiplicative; the interval stays above 0); None with
    fewer than two rounds."""
    est = estimate(math.log(r) for r in ratios)
    centre = math.exp(est.mean)
    if est.half_width is None:
        return centre, None
    return centre, [math.exp(est.lo), math.exp(est.hi)]


def summarize(runs: list[dict]) -> dict:
    """Per (arch, endpoint): median req/s, p50 and p99 of app and floor over the rounds
    used, and the app's share of its floor (`rps_ratio`: req/s ratio of the medians;
    latency ratios floor/app, so 1.0 = as fast). The share shown is `rps_ratio_gmean`,
    the geometric mean of the per-round ratios, the centre of its 95% interval
    (`rps_ratio_ci`; report.words.floor_share).

    A round is a back-to-back pair of one app run and one floor run. Pairs where either
    run was flagged for host noise are left out while clean pairs remain (else all are
    used, and `noise_fallback` says so); `rounds_used` and `rounds_noisy` list them.
    Also `noisy_rounds`: every flagged run, for the closing output and the report."""
    by_key: dict[tuple, dict[int, dict]] = {}
    for r in runs:
        by_key.setdefault((r["arch"], r["endpoint"], r["variant"]), {})[r["round"]] = r
    table = []
    for (arch, endpoint, variant), apps in by_key.items():
        if variant != "app":
            continue
        floors = by_key.get((arch, endpoint, "floor"), {})
        paired = sorted(set(apps) & set(floors))
        noisy = [i for i in paired if _flagged(apps[i]) or _flagged(floors[i])]
        clean = [i for i in paired if i not in noisy]
        used = clean or paired or sorted(apps)
        row = {"arch": arch, "endpoint": endpoint}
        for name, rs in (("app", apps), ("floor", floors)):
            chosen = [rs[i] for i in used if i in rs]
            if not chosen:
                continue
            row |= {f"{name}_{m}": statistics.median(r[m] for r in chosen) for m in METRICS}
            row |= {f"{name}_errors": sum(r["errors"] for r in chosen),
                    f"{name}_rounds": len(chosen)}
        if paired:
            per_round = [apps[i]["rps"] / floors[i]["rps"] for i in used]
            gmean, ci = ratio_interval(per_round)
            row |= {"rps_ratio": row["app_rps"] / row["floor_rps"],
                    "p50_ratio": row["floor_p50_ms"] / row["app_p50_ms"],
                    "p99_ratio": row["floor_p99_ms"] / row["app_p99_ms"],
                    "rps_ratio_rounds": per_round, "rps_ratio_gmean": gmean,
                    "rps_ratio_ci": ci, "rounds_used": used, "rounds_noisy": noisy,
                    "noise_fallback": bool(noisy) and not clean}
        table.append(row)
    noisy_runs = [{"arch": r["arch"], "round": r["round"], "endpoint": r["endpoint"],
                   "variant": r["variant"],
                   "unexplained_percent": r["host_cpu"]["unexplained_percent"]}
                  for r in runs if _flagged(r)]
    return {"table": table, "noisy_rounds": noisy_runs}


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
    # Known to the window: the stack's trees (supervisor, postmaster), and this process,
    # which runs and reaps wrk inside each window.
    def measured(t: Target, **kw) -> tuple[wrk.WrkResult, hostcpu.HostCpu]:
        window = hostcpu.Window(cpus=budget.lab_cpus,
                                roots=lambda: list(stack_roots(platform.state_dir)),
                                extra_pids=[os.getpid()]).open()
        result = wrk.run(t.url, t.script, cpu=cpu, **kw)
        return result, window.close()

    try:
        echo(f"{arch}: up in {info.startup_seconds:.1f} s; warming up")
        for t in targets(arch, stack):
            wrk.run(t.url, t.script, connections=connections, seconds=warmup, cpu=cpu)
        for i in range(rounds):
            for t in targets(arch, stack):
                r, host = measured(t, connections=connections, seconds=seconds)
                runs.append({"arch": arch, "endpoint": t.endpoint, "variant": t.variant,
                             "round": i + 1} | r.to_dict() | {"host_cpu": host.to_dict()})
                echo(f"  round {i + 1}/{rounds} {t.endpoint:<8} {t.variant:<6}"
                     f"{r.rps:9.0f} req/s  p50 {r.p50_ms:6.2f} ms  p99 {r.p99_ms:6.2f} ms"
                     f"  errors {r.errors}{_noise_note(host)}")
        # Latency with no queueing at all: one connection, one request at a time.
        for t in targets(arch, stack):
            if t.endpoint == "product":
                r, host = measured(t, connections=1, seconds=max(3.0, seconds / 2))
                single[t.variant] = r.to_dict() | {"host_cpu": host.to_dict()}
                echo(f"  concurrency 1  product  {t.variant:<6} p50 {r.p50_ms:6.2f} ms"
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
