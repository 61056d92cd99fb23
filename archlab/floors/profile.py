"""Where an architecture's time goes, against its floor: py-spy on the serving processes
under the same wrk load `archlab calibrate` puts on them.

    python -m archlab.floors.profile monolith --endpoint search --seconds 15 --out DIR

starts the calibration stack (the architecture and its floor, at ARCHLAB_PORT_BASE, the
floors 400 above), warms both up, and then for the app and for the floor in turn runs wrk
for `--seconds` while `py-spy record --gil --subprocesses --format raw` samples every
gunicorn process of the stack (only the thread holding the GIL: on the one core the
system gets, that is where the Python CPU time goes), without pausing them
(`--nonblocking`: a paused process stalls every hop waiting on it). It writes one
collapsed-stack file per target (`<arch>-<endpoint>-<variant>.txt`, for flamegraph.pl
or speedscope) and prints, per process, its GIL milliseconds per request and the
functions that took most of them, own and inclusive. Then

    python -m archlab.floors.profile monolith --endpoint search --out DIR --compare

lists, per process role (monolith; gateway, catalog, inventory), the functions whose
GIL ms per request differ most between the app and its floor.

Needs py-spy (the test extra) and the right to trace other processes (root, or
ptrace_scope 0). docs/profiling.md tells how to read it and what it showed.
"""

import argparse
import collections
import json
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

from archlab import budget as budgets
from archlab.config import port_base
from archlab.errors import LabError
from archlab.metrics import stack_roots
from archlab.platforms.local import LocalPlatform

from . import wrk
from .calibration import calibration_stack, targets

# Frames every stack of a gunicorn thread starts with (the fork from the master, the
# thread, gunicorn's loop): left out of the inclusive lists so they show what a request
# costs.
_LOOP_FRAMES = ("Thread.", "_worker (concurrent/futures", "_WorkItem.run", "Arbiter.",
                "BaseApplication.run", "Application.run", "run (gunicorn/app/wsgiapp",
                "<module> (gunicorn/__main__", "_run_", "Worker.init_process",
                "ThreadWorker.run", "ThreadWorker.handle (")


def collapsed_tops(path: Path, top: int = 15) -> dict[str, tuple[int, list, list]]:
    """Per process of a py-spy raw (collapsed) file: its samples, and the `top`
    functions by own samples and by inclusive samples, each as (samples, frame)."""
    own: dict[str, collections.Counter] = collections.defaultdict(collections.Counter)
    incl: dict[str, collections.Counter] = collections.defaultdict(collections.Counter)
    total: collections.Counter = collections.Counter()
    for line in path.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        frames = stack.split(";")
        # py-spy --subprocesses starts a stack with its process and the parents it was
        # forked from ('process 123:"cmd"'), then the thread: the last process is the one.
        procs = [f for f in frames if f.startswith("process ")]
        proc = procs[-1] if procs else "-"
        frames = [f for f in frames if not f.startswith(("process ", "thread "))]
        n = int(count)
        total[proc] += n
        if frames:
            own[proc][frames[-1]] += n
        for frame in set(frames):
            if not frame.startswith(_LOOP_FRAMES):
                incl[proc][frame] += n
    return {proc: (total[proc], [(n, f) for f, n in own[proc].most_common(top)],
                   [(n, f) for f, n in incl[proc].most_common(top)])
            for proc in total}


def role(process: str) -> str:
    """The part a process of a profile plays, the same name for an app's process and its
    floor's: 'monolith', 'gateway', 'catalog', 'inventory' (else the command line)."""
    found = re.search(r"microservices\.(\w+)\.wsgi|microservices:(\w+)_app"
                      r"|(monolith)\.wsgi|apps\.(monolith):app", process)
    return next((g for g in found.groups() if g), process) if found else process


def per_request(path: Path, requests: int, rate: int) -> dict[str, tuple[float, dict, dict]]:
    """Per role (see `role`) of a profile: its GIL ms per request, and per function its
    own and its inclusive GIL ms per request."""
    ms = 1000.0 / rate / max(requests, 1)
    out = {}
    for proc, (n, own, incl) in collapsed_tops(path, top=10_000).items():
        name = role(proc)
        total, own_ms, incl_ms = out.get(name, (0.0, {}, {}))
        for c, f in own:
            own_ms[f] = own_ms.get(f, 0.0) + c * ms
        for c, f in incl:
            incl_ms[f] = incl_ms.get(f, 0.0) + c * ms
        out[name] = (total + n * ms, own_ms, incl_ms)
    return out


def compare(out: Path, arch: str, endpoint: str, top: int = 25, echo=print) -> None:
    """Print, per role, the app's and the floor's GIL ms per request and the functions
    whose inclusive and own ms per request differ most between them (app - floor)."""
    sides = {}
    for variant in ("app", "floor"):
        stem = out / f"{arch}-{endpoint}-{variant}"
        meta = json.loads(stem.with_suffix(".json").read_text())
        sides[variant] = per_request(stem.with_suffix(".txt"), meta["requests"], meta["rate"])
        echo(f"{arch} {endpoint} {variant}: {meta['rps']:.0f} req/s under py-spy")
    app, floor = sides["app"], sides["floor"]
    for name in sorted(set(app) & set(floor), key=lambda n: -app[n][0]):
        (a_total, a_own, a_incl), (f_total, f_own, f_incl) = app[name], floor[name]
        if a_total < 0.005 and f_total < 0.005:
            continue  # a process off the measured path
        echo(f"{name}: GIL ms/request app {a_total:.3f}, floor {f_total:.3f}, "
             f"app - floor {a_total - f_total:+.3f}")
        for title, a, f in (("inclusive", a_incl, f_incl), ("own", a_own, f_own)):
            echo(f"  {title} (app - floor, app, floor ms/request):")
            diff = {k: a.get(k, 0.0) - f.get(k, 0.0) for k in set(a) | set(f)}
            for k, d in sorted(diff.items(), key=lambda kv: -abs(kv[1]))[:top]:
                echo(f"    {d:+.3f}  {a.get(k, 0.0):.3f}  {f.get(k, 0.0):.3f}  {k}")


def _python_roots(platform: LocalPlatform) -> dict[str, int]:
    """Every supervised process of the stack (gunicorn masters, background workers) by
    name: all of the stack's Python."""
    return {name: pid for pid, name in stack_roots(platform.state_dir).items()
            if name not in ("supervisor", "postgres")}


def profile(arch: str, endpoint: str, seconds: float, out: Path, rate: int = 200,
            echo=print) -> list[Path]:
    """Profile `arch`'s app and floor on `endpoint` under wrk; return the files written."""
    pyspy = shutil.which("py-spy") or str(Path(sys.executable).with_name("py-spy"))
    if not Path(pyspy).exists():
        raise LabError("py-spy is not installed: pip install -e '.[test]'")
    budget = budgets.plan()
    connections = budget.web_workers * budget.web_threads
    platform = LocalPlatform(port_base())
    cpu = budget.generator_cpus[0] if budget.pinned else None
    out.mkdir(parents=True, exist_ok=True)
    written = []
    with budgets.system_share(budget):
        stack = calibration_stack(arch, platform.ports)
        platform.up(stack)
    try:
        chosen = [t for t in targets(arch, stack) if t.endpoint == endpoint]
        for t in chosen:
            wrk.run(t.url, t.script, connections=connections, seconds=3, cpu=cpu)
        masters = _python_roots(platform)
        for t in chosen:
            path = out / f"{arch}-{endpoint}-{t.variant}.txt"
            # py-spy runs on wrk's core, away from the system's; it traces every Python
            # process of the stack with its workers (idle ones add no samples with --gil).
            spies = [subprocess.Popen(
                ["taskset", "-c", str(cpu)] * (cpu is not None) + [
                    pyspy, "record", "--pid", str(pid), "--subprocesses", "--gil",
                    # Never pause the processes: a paused hop stalls the whole chain.
                    "--nonblocking",
                    "--function", "--rate", str(rate), "--duration", f"{seconds + 2:g}",
                    "--format", "raw",
                    "--output", str(out / f".{name}.txt")],
                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
                for name, pid in masters.items()]
            time.sleep(1)
            result = wrk.run(t.url, t.script, connections=connections, seconds=seconds,
                             cpu=cpu)
            for spy in spies:
                spy.wait(timeout=seconds + 30)
            parts = [out / f".{name}.txt" for name in masters]
            path.write_text("".join(p.read_text().rstrip("\n") + "\n" for p in parts
                                    if p.exists()))
            for p in parts:
                p.unlink(missing_ok=True)
            path.with_suffix(".json").write_text(json.dumps(
                {"rps": result.rps, "requests": result.requests, "seconds": seconds,
                 "rate": rate}))
            written.append(path)
            echo(f"{arch} {endpoint} {t.variant}: {result.rps:.0f} req/s under py-spy; {path}")
            # GIL milliseconds per request: samples / rate over the requests wrk made.
            per_request = 1000.0 / rate / max(result.requests, 1)
            for proc, (n, own, incl) in sorted(collapsed_tops(path).items(),
                                               key=lambda kv: -kv[1][0]):
                if n < 0.02 * seconds * rate:
                    continue  # a process that hardly ran (another service at rest)
                echo(f"  {proc.split(':', 1)[-1][-60:]}: {n * per_request:.3f} GIL ms/request")
                echo("    own ms/request:")
                for c, f in own:
                    echo(f"      {c * per_request:6.3f}  {f}")
                echo("    inclusive ms/request:")
                for c, f in incl:
                    echo(f"      {c * per_request:6.3f}  {f}")
    finally:
        platform.down()
    return written


def main(argv: list[str] | None = None) -> None:
    """The command line (see the module's docstring)."""
    parser = argparse.ArgumentParser(prog="python -m archlab.floors.profile",
                                     description=__doc__.split("\n\n")[0])
    parser.add_argument("arch", choices=("monolith", "microservices"))
    parser.add_argument("--endpoint", choices=("product", "search"), default="product")
    parser.add_argument("--seconds", type=float, default=15.0)
    parser.add_argument("--rate", type=int, default=200, help="py-spy samples per second")
    parser.add_argument("--out", type=Path, default=Path("results") / "profiles")
    parser.add_argument("--compare", action="store_true",
                        help="profile nothing: compare the app's and the floor's profiles "
                             "already in --out")
    parser.add_argument("--top", type=int, default=25, help="functions listed with --compare")
    args = parser.parse_args(argv)
    if args.compare:
        compare(args.out, args.arch, args.endpoint, args.top)
        return
    if os.geteuid() != 0 and Path("/proc/sys/kernel/yama/ptrace_scope").exists() and \
            Path("/proc/sys/kernel/yama/ptrace_scope").read_text().strip() != "0":
        print("note: py-spy needs root or kernel.yama.ptrace_scope=0 to trace the stack",
              file=sys.stderr)
    profile(args.arch, args.endpoint, args.seconds, args.out, args.rate)


if __name__ == "__main__":
    main()
