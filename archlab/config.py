"""Where the lab lives and what it may use: project root, ports, state folder, cores.

Everything here can be moved by an environment variable so a test stack and a
running stack never touch each other (ARCHLAB_PORT_BASE, ARCHLAB_STATE_DIR).
"""

import os
from dataclasses import dataclass
from pathlib import Path

from archlab.errors import LabError

DEFAULT_PORT_BASE = 8000

# Threads per web worker: a request mostly waits on PostgreSQL or on another
# service, so threads, not processes, carry the concurrency (measured: 2 workers
# x 8 threads saturates a 2-core box without queueing).
WEB_THREADS = 8


# Settings every process of a stack gets, the same for both architectures; a stack may be
# started with others (tests shorten the saga deadline), and state.json and each run's
# manifest record the ones a stack ran with.
STACK_SETTINGS = {
    # The external card processor's latency per charge or refund (its network and
    # processing time), and how late it answers the "late" test card.
    "CARD_PROCESSOR_LATENCY_MS": "30",
    "CARD_PROCESSOR_LATE_SECONDS": "6",
    # How long the shop waits for the processor before the outcome counts as unknown.
    "CARD_PROCESSOR_TIMEOUT_SECONDS": "3",
    # When the orders service's recovery takes over an unfinished order (saga.py says why).
    "ORDERS_SAGA_DEADLINE_SECONDS": "30",
    # "spool": invoices print; "offline": every print fails, so invoices are e-mailed.
    "INVOICE_PRINTER": "spool",
    # Where the monolith delivers an invoice: "inline" in the checkout request right after
    # its COMMIT (its natural design), or "deferred" to its worker. The microservices
    # always deliver after the order is PAID, through the orders service's outbox.
    "INVOICE_DELIVERY": "inline",
    # How long every web process (gunicorn) keeps an idle keep-alive connection open, in
    # s: above the clients' idle time, so pooled connections are not cut under them.
    "WEB_KEEPALIVE": "75",
    # "1": every web process writes one JSON access-log line per request; "0": none, so an
    # experiment can measure what the logging costs.
    "ARCHLAB_ACCESS_LOG": "1",
    # Liveness, as Kubernetes' probes (archlab/platforms/supervisor.py): every period each
    # process is checked (GET /healthz within the timeout; a worker's heartbeat), and
    # after this many failures in a row it is killed and restarted. A pause is noticed
    # within period x failures (+ timeout); a probe waits behind requests already queued,
    # so the timeout leaves room for a saturated process's queue.
    "LIVENESS_PERIOD_SECONDS": "2",
    "LIVENESS_TIMEOUT_SECONDS": "2",
    "LIVENESS_FAILURES": "3",
    # Every supervised process's memory limit, the same for both architectures ("0": none).
    "MEMORY_LIMIT_MIB": "1024",
}

# The settings that are the platform's, not the processes': they shape how the
# supervisor watches and limits each process, and no process reads them.
PLATFORM_SETTINGS = frozenset({"LIVENESS_PERIOD_SECONDS", "LIVENESS_TIMEOUT_SECONDS",
                               "LIVENESS_FAILURES", "MEMORY_LIMIT_MIB"})


def process_settings(settings: dict[str, str]) -> dict[str, str]:
    """The stack settings every process gets in its environment."""
    return {k: v for k, v in settings.items() if k not in PLATFORM_SETTINGS}


# The allowed liveness settings. A failure window (period x failures) under the minimum
# would kill a process for one slow moment (a garbage collection, a burst of logins, a
# start-up that has not answered yet); a timeout above the period would overlap checks.
LIVENESS_PERIOD_RANGE = (0.5, 60.0)
LIVENESS_FAILURES_RANGE = (1, 20)
MIN_LIVENESS_WINDOW_SECONDS = 3.0
# A process that has never passed a check is restarted only after this long: a start-up
# (imports, connecting, seeding) is not a failure.
LIVENESS_START_GRACE_SECONDS = 60.0


# The settings that take one of a few words; every other one is a number of ms or s.
SETTING_CHOICES = {"INVOICE_PRINTER": ("spool", "offline"),
                   "INVOICE_DELIVERY": ("inline", "deferred"),
                   "ARCHLAB_ACCESS_LOG": ("1", "0")}


def stack_settings(overrides: dict | None = None) -> dict[str, str]:
    """The stack settings with `overrides`; an unknown name or a bad value is refused."""
    unknown = set(overrides or {}) - set(STACK_SETTINGS)
    if unknown:
        raise LabError(f"unknown stack setting(s): {', '.join(sorted(unknown))}; known: "
                       f"{', '.join(STACK_SETTINGS)}")
    settings = dict(STACK_SETTINGS)
    for name, value in (overrides or {}).items():
        choices = SETTING_CHOICES.get(name)
        # As text, as every process gets it: YAML's `ARCHLAB_ACCESS_LOG: 0` is a number.
        if choices is not None and str(value) not in choices:
            raise LabError(f"stack setting {name} must be one of {', '.join(choices)}, "
                           f"not {value!r}")
        if choices is None and not _non_negative_number(value):
            raise LabError(f"stack setting {name} must be a number >= 0, not {value!r}")
        settings[name] = str(value)
    _check_liveness(settings)
    if not float(settings["MEMORY_LIMIT_MIB"]).is_integer():
        raise LabError("stack setting MEMORY_LIMIT_MIB must be a whole number of MiB (0: no "
                       f"limit), not {settings['MEMORY_LIMIT_MIB']!r}")
    return settings


def _check_liveness(settings: dict[str, str]) -> None:
    """Refuse liveness settings outside their ranges, saying the range."""
    period = float(settings["LIVENESS_PERIOD_SECONDS"])
    timeout = float(settings["LIVENESS_TIMEOUT_SECONDS"])
    failures = float(settings["LIVENESS_FAILURES"])
    low, high = LIVENESS_PERIOD_RANGE
    if not low <= period <= high:
        raise LabError(f"stack setting LIVENESS_PERIOD_SECONDS must be from {low:g} to "
                       f"{high:g} s, not {period:g}")
    if not 0 < timeout <= period:
        raise LabError(f"stack setting LIVENESS_TIMEOUT_SECONDS must be above 0 and at most "
                       f"the period ({period:g} s), not {timeout:g}")
    low, high = LIVENESS_FAILURES_RANGE
    if not (failures.is_integer() and low <= failures <= high):
        raise LabError(f"stack setting LIVENESS_FAILURES must be a whole number from {low} "
                       f"to {high}, not {settings['LIVENESS_FAILURES']}")
    if period * failures < MIN_LIVENESS_WINDOW_SECONDS:
        raise LabError(
            f"liveness would restart a process after {period * failures:g} s of failed "
            f"checks (LIVENESS_PERIOD_SECONDS x LIVENESS_FAILURES); it must be at least "
            f"{MIN_LIVENESS_WINDOW_SECONDS:g} s, or one slow moment restarts a process")


def liveness_settings(settings: dict[str, str]) -> dict:
    """The supervisor's liveness settings from the stack settings."""
    return {"period": float(settings["LIVENESS_PERIOD_SECONDS"]),
            "timeout": float(settings["LIVENESS_TIMEOUT_SECONDS"]),
            "failures": int(float(settings["LIVENESS_FAILURES"])),
            "start_grace": LIVENESS_START_GRACE_SECONDS}


def _non_negative_number(value) -> bool:
    if isinstance(value, bool):
        return False
    try:
        return float(value) >= 0
    except (TypeError, ValueError):
        return False


def project_root() -> Path:
    """The folder holding pyproject.toml and archlab/ (ARCHLAB_HOME overrides)."""
    override = os.environ.get("ARCHLAB_HOME")
    if override:
        return Path(override).resolve()
    for folder in Path(__file__).resolve().parents:
        if (folder / "pyproject.toml").is_file() and (folder / "archlab").is_dir():
            return folder
    raise LabError(
        "cannot find the archlab project folder (the one with pyproject.toml); "
        "set ARCHLAB_HOME to it"
    )


def port_base() -> int:
    """The first port of this stack's block (ARCHLAB_PORT_BASE, default 8000).

    Keep blocks below 32768 on Linux: above it lies the ephemeral range, where the
    kernel picks the local ports of outgoing connections, and one of those can hold a
    stack's port for a moment just when it starts.
    """
    raw = os.environ.get("ARCHLAB_PORT_BASE", str(DEFAULT_PORT_BASE))
    try:
        base = int(raw)
    except ValueError:
        raise LabError(f"ARCHLAB_PORT_BASE must be a port number, not {raw!r}") from None
    # The block spans base..base+399 (PostgreSQL at +300, the replicas' private ports up
    # to +399); it must fit below 65536 and stay unprivileged.
    if not 1024 <= base <= 65535 - 400:
        raise LabError(f"ARCHLAB_PORT_BASE must be between 1024 and 65135, not {base}")
    return base


@dataclass(frozen=True)
class Ports:
    """Every port of one stack, moved together as a block from its base."""

    base: int
    monolith: int
    gateway: int
    accounts: int
    catalog: int
    inventory: int
    orders: int
    payments: int
    invoices: int
    notifications: int
    card_processor: int
    proxies: range
    postgres: int
    # One private port per replica of a replicated web process, where the lab checks that
    # replica's health (the shared port reaches whichever replica the kernel picks).
    replicas: range

    @classmethod
    def from_base(cls, base: int) -> "Ports":
        """The block of ports that starts at `base`."""
        return cls(
            base=base,
            monolith=base,
            gateway=base + 100,
            accounts=base + 101,
            catalog=base + 102,
            inventory=base + 103,
            orders=base + 104,
            payments=base + 105,
            invoices=base + 106,
            notifications=base + 107,
            card_processor=base + 108,
            proxies=range(base + 200, base + 300),
            postgres=base + 300,
            replicas=range(base + 310, base + 400),
        )


def state_root() -> Path:
    """The folder that holds every stack's state folder: <root>/.archlab, or
    ARCHLAB_STATE_DIR."""
    override = os.environ.get("ARCHLAB_STATE_DIR")
    return Path(override).resolve() if override else project_root() / ".archlab"


def state_dir(base: int) -> Path:
    """The folder of the stack at this port base while it runs: <state root>/<base>/.

    Stacks are keyed by their base so two of them never share a folder; `down` removes
    the folder, so one left behind belongs to a running stack or to one that died.
    """
    return state_root() / str(base)


def logs_dir(base: int) -> Path:
    """The logs of the last stack at this port base: <state root>/logs/<base>/. Kept
    after `down`, replaced by the next `up` at the same base."""
    return state_root() / "logs" / str(base)


def command_at(base: int, command: str) -> str:
    """The `archlab` command line that reaches the stack at `base`: the port base is
    spelled out unless it is the default."""
    prefix = "" if base == DEFAULT_PORT_BASE else f"ARCHLAB_PORT_BASE={base} "
    return f"{prefix}archlab {command}"


def available_cpus() -> list[int]:
    """The cpus this process may run on (all of them where the OS cannot tell, e.g. macOS)."""
    if hasattr(os, "sched_getaffinity"):
        return sorted(os.sched_getaffinity(0))
    return list(range(os.cpu_count() or 1))


def cores_given() -> int:
    """How many cores the system under test may use (ARCHLAB_CORES, else our affinity)."""
    raw = os.environ.get("ARCHLAB_CORES")
    if raw:
        try:
            cores = int(raw)
        except ValueError:
            raise LabError(f"ARCHLAB_CORES must be a whole number, not {raw!r}") from None
        if cores < 1:
            raise LabError(f"ARCHLAB_CORES must be at least 1, not {cores}")
        return cores
    return len(available_cpus())


def web_sizing(cores: int) -> tuple[int, int]:
    """(workers, threads) per web process: one worker per core, WEB_THREADS threads each."""
    return cores, WEB_THREADS
