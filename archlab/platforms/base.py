"""What every platform offers (local now; compose and k8s later), and what it reports."""

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from pathlib import Path

from archlab.errors import LabError
from archlab.stacks import Stack


@dataclass(frozen=True)
class StackInfo:
    """A stack that is up: where to reach it and how to administer it."""

    arch: str
    run_id: str
    base_url: str
    urls: dict[str, str]
    admin_token: str
    state_dir: Path
    database: str
    startup_seconds: float
    # The PostgreSQL server that ran, as it answered once up: {"server_version": SHOW
    # server_version, "server_version_num": int, "version": SELECT version()}; None
    # where a platform cannot tell.
    database_server_version: dict | None = None
    # How many replicas each web process runs (all of them, 1 where not replicated).
    replicas: dict[str, int] = field(default_factory=dict)


@dataclass(frozen=True)
class ProcessStatus:
    """One process (one replica) as `status` sees it; health is 'ok', 'HTTP <code>',
    'unreachable' or '-', asked on the replica's private port when it has one."""

    name: str
    port: int | None
    pid: int | None
    alive: bool
    health: str
    restarts: int
    # A replica's private port (None when its process is not replicated).
    replica_port: int | None = None
    # Restarts its liveness check caused (counted in `restarts` too).
    liveness_restarts: int = 0
    # What its supervisor says of it: running, backoff, held, ...; "-" where not known.
    state: str = "-"


@dataclass(frozen=True)
class StackStatus:
    """A running stack as `status` sees it."""

    arch: str
    run_id: str
    base_url: str
    state_dir: Path
    database: str
    supervisor_pid: int | None
    supervisor_alive: bool
    processes: list[ProcessStatus]

    @property
    def healthy(self) -> bool:
        return self.supervisor_alive and all(
            p.alive and p.health in ("ok", "-") for p in self.processes
        )


@dataclass(frozen=True)
class DownReport:
    """What `down` found and did; `leftovers` are processes it had to kill by run id."""

    was_running: bool
    arch: str | None = None
    run_id: str | None = None
    leftovers: list[str] = field(default_factory=list)
    logs_dir: Path | None = None


@dataclass(frozen=True)
class ScaleReport:
    """What `scale` did: the replica counts before and after, the replicas it started,
    the ones it drained (highest-numbered first) and how long their drain took, and any
    it restarted (replica 1, to give it a private port)."""

    service: str
    before: int
    after: int
    started: list[str] = field(default_factory=list)
    drained: list[str] = field(default_factory=list)
    restarted: list[str] = field(default_factory=list)
    # Drained replicas that outlived the grace period and were killed.
    killed: list[str] = field(default_factory=list)
    seconds: float = 0.0
    drain_seconds: float | None = None

    @property
    def changed(self) -> bool:
        return self.before != self.after


class Platform(ABC):
    """Runs one stack at a time and takes it down again, leaving nothing behind."""

    @abstractmethod
    def up(self, stack: str | Stack) -> StackInfo:
        """Start the stack (an architecture name or a Stack) and return once it is ready."""

    @abstractmethod
    def down(self) -> DownReport:
        """Stop the stack and everything it started; harmless when nothing runs."""

    @abstractmethod
    def status(self) -> StackStatus:
        """The running stack's processes, their health and restarts."""

    @abstractmethod
    def scale(self, service: str, replicas: int) -> ScaleReport:
        """Run `replicas` replicas of the web process `service` in the running stack."""

    @abstractmethod
    def reseed(self) -> None:
        """Put every database of the running stack back to its seed data."""

    @abstractmethod
    def restock(self, minimum: int) -> None:
        """Raise every product's available stock in the running stack to at least `minimum`."""

    @abstractmethod
    def wait_ready(self, timeout: float) -> None:
        """Return once every process is healthy; raise StackNotReady after `timeout` s."""

    def engine_pids(self) -> list[int]:
        """Processes on this host outside the stack's own trees that work for it (a
        container engine's); the host-CPU window counts them as the stack's. None for
        processes the platform starts itself: the supervisor's tree holds them all."""
        return []

    def terminate_db_connections(self, role: str | None = None) -> int:
        """End the stack's database sessions (of `role` only, when given); returns how
        many were ended. A fault for the chaos tests."""
        raise LabError(f"{type(self).__name__}: ending database sessions is not supported "
                       "on this platform")

    def hold(self, service: str, seconds: float) -> list[str]:
        """Stop every replica of `service` and keep it down for `seconds`, then start it
        again; returns the names held. A fault for the chaos work."""
        raise LabError(f"{type(self).__name__}: holding a process down is not supported on "
                       "this platform")

    def restart_database(self) -> None:
        """Restart the stack's PostgreSQL and return once it accepts connections again.
        A fault for the chaos tests."""
        raise LabError(f"{type(self).__name__}: restarting the database is not supported "
                       "on this platform")
