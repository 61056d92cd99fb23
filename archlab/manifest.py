"""Where a result came from: machine, versions, commit. Every result folder carries it."""

import datetime
import importlib.metadata
import os
import platform
import subprocess
from pathlib import Path

import psutil

from archlab import config
from archlab.config import project_root

PACKAGES = ("flask", "gunicorn", "psycopg2-binary", "locust", "requests", "urllib3")


def _git(*args: str) -> str | None:
    try:
        done = subprocess.run(["git", *args], cwd=project_root(), capture_output=True,
                              text=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return done.stdout.strip() if done.returncode == 0 else None


def _version(name: str) -> str | None:
    try:
        return importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
        return None


def postgres_source() -> dict:
    """Where the lab would take PostgreSQL from: ARCHLAB_POSTGRES's source and the
    wheel's version, or the external server of ARCHLAB_DATABASE_URL."""
    from archlab.db import postgres_source as source
    from archlab.db import wheel_version

    if os.environ.get("ARCHLAB_DATABASE_URL"):
        return {"source": "external"}
    try:
        chosen = source()
    except Exception:  # a manifest never fails a run over a setting it describes
        return {"source": None}
    return {"source": chosen} | ({"package": wheel_version()} if chosen == "wheel" else {})


def postgres_version() -> str | None:
    """`postgres --version` of the binary the lab would start (find_pg_bin's), None when
    there is none. Not necessarily the server a stack ran: with ARCHLAB_DATABASE_URL the
    server is not ours at all. What ran is what the server itself answered, in state.json
    `database.server_version` (StackInfo.database_server_version)."""
    from archlab.db import find_pg_bin

    try:
        bindir = find_pg_bin()
        done = subprocess.run([str(bindir / "postgres"), "--version"], capture_output=True,
                              text=True, timeout=10)
        return done.stdout.strip() or None
    except Exception:  # a manifest never fails a run over a version string
        return None


def machine_facts() -> dict:
    """Machine, OS, cores, memory, versions and the git commit (with a dirty flag)."""
    vm = psutil.virtual_memory()
    status = _git("status", "--porcelain")
    return {
        "created_at": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "hostname": platform.node(),
        "os": platform.platform(),
        "cpu_model": _cpu_model(),
        "cpu_count": os.cpu_count(),
        "cpus_allowed": len(config.available_cpus()),
        "memory_gib": round(vm.total / 2**30, 1),
        "python": platform.python_version(),
        "postgres": postgres_version(),
        "postgres_source": postgres_source(),
        "packages": {name: _version(name) for name in PACKAGES},
        "git_commit": _git("rev-parse", "HEAD"),
        "git_dirty": bool(status) if status is not None else None,
    }


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def results_root() -> Path:
    """Where run folders go: <root>/results, or ARCHLAB_RESULTS_DIR."""
    override = os.environ.get("ARCHLAB_RESULTS_DIR")
    return Path(override).resolve() if override else project_root() / "results"


def new_run_dir(name: str, root: Path | None = None) -> Path:
    """A fresh <results>/<UTC time>_<name>/ folder (under `root` when given)."""
    stamp = datetime.datetime.now(datetime.UTC).strftime("%Y%m%dT%H%M%SZ")
    path = (root or results_root()) / f"{stamp}_{name}"
    path.mkdir(parents=True, exist_ok=False)
    return path
