"""What each architecture consists of, as data: its databases and its processes.

A platform turns a Stack into running things; it adds the environment every
process gets (DATABASE_URL, PORT, sizing, secrets, run id), so a stack names only
what is particular to it.
"""

import sys
from dataclasses import dataclass, field

from archlab.config import Ports
from archlab.errors import UnknownArchitecture


@dataclass(frozen=True)
class DatabaseSpec:
    """One database with its own login role, prepared by its package's seed command."""

    name: str
    role: str
    # The module whose command creates and seeds the database (`python -m <seed> --schema`,
    # plumbing.seedcli), run with DATABASE_URL; without one the database stays empty.
    seed: str | None = None
    # Whether it holds the shop's `stock` table (the platform's restock raises it).
    stock: bool = False


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
    # Whether it makes parallel calls to other services (the sizing plan gives it fan-out
    # threads, archlab/sizing.py).
    fans_out: bool = False
    # Whether it stands for a party outside the shop (the card processor): sized alike for
    # both architectures, outside their split, and never replicated.
    external: bool = False


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


def card_processor(ports: Ports) -> tuple[DatabaseSpec, ProcessSpec]:
    """The external card processor both architectures pay through (a simulator with a
    database of its own), started with either stack."""
    database = DatabaseSpec(name="cardprocessor", role="cardprocessor",
                            seed="cardprocessor.seed")
    process = ProcessSpec(
        name="card-processor", argv=gunicorn_argv("cardprocessor.wsgi:app"),
        port=ports.card_processor,
        health_url=f"http://127.0.0.1:{ports.card_processor}/readyz",
        database="cardprocessor", external=True)
    return database, process


def card_processor_url(ports: Ports) -> dict[str, str]:
    """Where the card processor is, for the processes that pay through it."""
    return {"CARD_PROCESSOR_URL": f"http://127.0.0.1:{ports.card_processor}"}


def monolith(ports: Ports) -> Stack:
    """The tiered monolith: one web process, one background worker, one database; and
    the card processor."""
    processor_db, processor = card_processor(ports)
    processor_url = card_processor_url(ports)
    return Stack(
        name="monolith",
        databases=[
            DatabaseSpec(
                name="monolith",
                role="monolith",
                seed="monolith.data.seed",
                stock=True,
            ),
            processor_db,
        ],
        processes=[
            processor,
            ProcessSpec(
                name="monolith",
                argv=gunicorn_argv("monolith.wsgi:app"),
                env=processor_url,
                port=ports.monolith,
                health_url=f"http://127.0.0.1:{ports.monolith}/readyz",
                database="monolith",
            ),
            ProcessSpec(
                name="monolith-worker",
                argv=[sys.executable, "-m", "monolith.worker"],
                env=processor_url,
                database="monolith",
            ),
        ],
        entrypoint="monolith",
    )


# The services with a database of their own, in start order; the gateway comes last.
SERVICES = ("accounts", "catalog", "inventory", "payments", "notifications", "invoices",
            "orders")


def service_urls(ports: Ports) -> dict[str, str]:
    """`<NAME>_URL` for every service and the card processor: how services find each
    other (README: the command line)."""
    return {f"{name.upper()}_URL": f"http://127.0.0.1:{getattr(ports, name)}"
            for name in SERVICES} | card_processor_url(ports)


def microservices(ports: Ports) -> Stack:
    """The services, each with its own database and role, behind the gateway; the orders
    and invoices services' workers; and the card processor."""
    urls = service_urls(ports)
    processor_db, processor = card_processor(ports)
    databases = [
        DatabaseSpec(name=name, role=name, seed=f"microservices.{name}.seed",
                     stock=name == "inventory")
        for name in SERVICES
    ] + [processor_db]
    processes = [processor] + [
        ProcessSpec(name=name, argv=gunicorn_argv(f"microservices.{name}.wsgi:app"),
                    env=urls, port=getattr(ports, name),
                    health_url=f"http://127.0.0.1:{getattr(ports, name)}/readyz",
                    database=name)
        for name in SERVICES
    ]
    # The services' background work, each in a supervised process of the service that
    # owns the rows: the orders saga's recovery and outbox relay, invoice retries.
    processes += [
        ProcessSpec(name=f"{name}-worker",
                    argv=[sys.executable, "-m", f"microservices.{name}.worker"],
                    env=urls, database=name)
        for name in ("orders", "invoices")
    ]
    processes.append(ProcessSpec(
        name="gateway", argv=gunicorn_argv("microservices.gateway.wsgi:app"), env=urls,
        port=ports.gateway, health_url=f"http://127.0.0.1:{ports.gateway}/readyz",
        fans_out=True))
    return Stack(name="microservices", databases=databases, processes=processes,
                 entrypoint="gateway")


ARCHITECTURES = {"monolith": monolith, "microservices": microservices}

# What each architecture can serve today. A capability joins an architecture's set
# when it lands there; tests and benchmarks skip or refuse what is missing.
CAPABILITIES = {
    "monolith": frozenset({"browse", "checkout", "invoice", "admin"}),
    "microservices": frozenset({"browse", "checkout", "invoice", "admin"}),
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
