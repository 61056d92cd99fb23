"""What each architecture consists of, as data: its databases and its processes.

A platform turns a Stack into running things; it adds the environment every
process gets (DATABASE_URL, PORT, sizing, secrets, run id), so a stack names only
what is particular to it.
"""

import sys
from dataclasses import dataclass, field
from pathlib import Path

from archlab.config import Ports, project_root
from archlab.errors import UnknownArchitecture


@dataclass(frozen=True)
class DatabaseSpec:
    """One database with its own login role; `seed` is "module:function" taking a DSN."""

    name: str
    role: str
    schema: Path
    seed: str | None = None


@dataclass(frozen=True)
class ProcessSpec:
    """One supervised process. Without a health URL it counts as up while it runs."""

    name: str
    argv: list[str]
    env: dict[str, str] = field(default_factory=dict)
    port: int | None = None
    health_url: str | None = None
    # Which DatabaseSpec's DSN the process gets as DATABASE_URL.
    database: str | None = None
    restart: str = "on-failure"


@dataclass(frozen=True)
class Stack:
    """One architecture: its databases, its processes, and the process users talk to."""

    name: str
    databases: list[DatabaseSpec]
    processes: list[ProcessSpec]
    entrypoint: str

    def process(self, name: str) -> ProcessSpec:
        """The process called `name`."""
        return next(p for p in self.processes if p.name == name)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.process(self.entrypoint).port}"


def gunicorn_argv(app: str) -> list[str]:
    """A gunicorn master serving `app` with the shared configuration (plumbing.gunicorn_conf)."""
    return [sys.executable, "-m", "gunicorn", "--config", "python:plumbing.gunicorn_conf", app]


def monolith(ports: Ports) -> Stack:
    """The tiered monolith: one web process, one background worker, one database."""
    root = project_root()
    return Stack(
        name="monolith",
        databases=[
            DatabaseSpec(
                name="monolith",
                role="monolith",
                schema=root / "monolith" / "data" / "schema.sql",
                seed="monolith.data.seed:reseed",
            ),
        ],
        processes=[
            ProcessSpec(
                name="monolith",
                argv=gunicorn_argv("monolith.wsgi:app"),
                port=ports.monolith,
                health_url=f"http://127.0.0.1:{ports.monolith}/readyz",
                database="monolith",
            ),
            ProcessSpec(
                name="monolith-worker",
                argv=[sys.executable, "-m", "monolith.worker"],
                database="monolith",
            ),
        ],
        entrypoint="monolith",
    )


# The services with a database of their own, in start order; the gateway comes last.
SERVICES = ("accounts", "catalog", "inventory")


def service_urls(ports: Ports) -> dict[str, str]:
    """`<NAME>_URL` for every service: how services find each other (DESIGN §3)."""
    return {f"{name.upper()}_URL": f"http://127.0.0.1:{getattr(ports, name)}"
            for name in SERVICES}


def microservices(ports: Ports) -> Stack:
    """The services, each with its own database and role, behind the gateway."""
    root = project_root()
    urls = service_urls(ports)
    databases = [
        DatabaseSpec(name=name, role=name,
                     schema=root / "microservices" / name / "schema.sql",
                     seed=f"microservices.{name}.seed:reseed")
        for name in SERVICES
    ]
    processes = [
        ProcessSpec(name=name, argv=gunicorn_argv(f"microservices.{name}.wsgi:app"),
                    env=urls, port=getattr(ports, name),
                    health_url=f"http://127.0.0.1:{getattr(ports, name)}/readyz",
                    database=name)
        for name in SERVICES
    ]
    processes.append(ProcessSpec(
        name="gateway", argv=gunicorn_argv("microservices.gateway.wsgi:app"), env=urls,
        port=ports.gateway, health_url=f"http://127.0.0.1:{ports.gateway}/readyz"))
    return Stack(name="microservices", databases=databases, processes=processes,
                 entrypoint="gateway")


ARCHITECTURES = {"monolith": monolith, "microservices": microservices}

# What each architecture can serve today. A capability joins an architecture's set
# when it lands there; tests and benchmarks skip or refuse what is missing.
CAPABILITIES = {
    "monolith": frozenset({"browse", "checkout", "invoice", "admin"}),
    "microservices": frozenset({"browse", "admin"}),
}


def get_stack(name: str, ports: Ports) -> Stack:
    """The stack of architecture `name` on these ports."""
    try:
        build = ARCHITECTURES[name]
    except KeyError:
        choices = ", ".join(sorted(ARCHITECTURES))
        raise UnknownArchitecture(
            f"unknown architecture {name!r}; choose one of: {choices}"
        ) from None
    return build(ports)
