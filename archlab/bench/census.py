"""What a stack actually ran with, for the report's held-equal table: every process
with its role and thread count, taken at the end of the measured phase, and the
access-log lines each process wrote during it (one line per request it served, so the
lines per load-generator request are the hops each request took)."""

from pathlib import Path

import psutil

from archlab.metrics import components, stack_roots
from plumbing.observability import is_access_line, probe_figures

# The lab's own process: it starts the stack, but is not part of the system under test.
LAB_COMPONENTS = ("supervisor",)


def _role(process: psutil.Process, cmdline: list[str], parents: dict[int, int],
          cmdlines: dict[int, list[str]]) -> str:
    """gunicorn master or worker, postgres, or another (background) process."""
    if cmdline and (cmdline[0].startswith("postgres") or
                    cmdline[0].rsplit("/", 1)[-1] == "postgres"):
        return "postgres"
    if "gunicorn" in cmdline[1:3]:
        # A worker is forked by its master, so it has the master's command line.
        parent = parents.get(process.pid)
        return "web worker" if cmdlines.get(parent) == cmdline else "web master"
    return "process"


def take(state_dir: Path, state: dict) -> dict:
    """Every process of the stack (its supervisor's tree and PostgreSQL's): component,
    role and threads; and which process is the entry point."""
    parents, handles = {}, {}
    for process in psutil.process_iter(["ppid"]):
        parents[process.pid] = process.info["ppid"]
        handles[process.pid] = process
    roots = stack_roots(state_dir)
    # The trees first (by parent alone), then the command lines of their processes only.
    cmdlines = {}
    for pid in components(parents, {}, roots):
        try:
            cmdlines[pid] = handles[pid].cmdline()
        except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
            cmdlines[pid] = []
    found = []
    for pid, component in sorted(components(parents, cmdlines, roots).items()):
        if component in LAB_COMPONENTS:
            continue
        try:
            threads = handles[pid].num_threads()
        except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess, KeyError):
            continue
        found.append({"pid": pid, "component": component,
                      "role": _role(handles[pid], cmdlines[pid], parents, cmdlines),
                      "threads": threads})
    entry = next((name for name, url in state["urls"].items() if url == state["base_url"]),
                 None)
    return {"processes": found, "entrypoint": entry}


class AccessLogs:
    """Counts the access-log lines each process's log gained between `mark` and `count`."""

    def __init__(self, logs_dir: Path):
        self.logs_dir = logs_dir
        self.offsets: dict[str, int] = {}
        # The liveness probes among the lines `count` read (not counted as served).
        self.probes: dict | None = None

    def mark(self) -> None:
        """Remember where every log ends now."""
        self.offsets = {p.stem: p.stat().st_size for p in self.logs_dir.glob("*.log")}

    def count(self) -> dict[str, int]:
        """Access-log lines written since `mark`, per process name (log file)."""
        counts, every = {}, []
        for path in sorted(self.logs_dir.glob("*.log")):
            with open(path, "rb") as f:
                f.seek(self.offsets.get(path.stem, 0))
                lines = f.read().splitlines()
            counts[path.stem] = sum(1 for line in lines if is_access_line(line))
            every += lines
        self.probes = probe_figures(every)
        return {name: n for name, n in counts.items() if n}
