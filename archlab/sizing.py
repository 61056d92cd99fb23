"""The sizing plan: how many workers, threads and PostgreSQL connections each process of
a stack gets from the cores the system under test is given, by a stated policy.

Two policies, an experiment setting recorded in every manifest and shown in the report:

- `per-process` (the default): every web process gets one worker per core (at most
  MAX_WORKERS) with WEB_THREADS request threads each; a process that fans out (the
  gateway) gets as many fan-out threads again. So on N cores the microservices run nine
  times the monolith's threads (72 against 8 per core): each service is sized as if it
  were alone.
- `equal-total`: the stack's web threads add up to the same total for both
  architectures (threads_per_core x workers of the monolith), and so do its PostgreSQL
  connections. The microservices split that total among their services by a share of
  CPU each: given to `plan` (e.g. measured), else the stated DEFAULT_SHARES. The unit
  is threads, not workers, so one core can be split: a service gets ceil(share x cores)
  workers (CPU is what workers are for) and its share of the threads spread over them.

Not part of either split, and the same for both architectures: the card processor (the
external party, EXTERNAL_SIZE) and the background workers (BACKGROUND), whose sizes are
fixed.

The connection budget: every pool is sized to its threads, and the pools of a stack add
up to at most CONNECTION_CAP; above it the pools shrink (threads then wait, bounded, for
a connection) rather than PostgreSQL's limit growing. The embedded cluster's
max_connections is the cap plus SPARE_CONNECTIONS, whatever the plan, so replicas added
while the stack runs fit until their pools reach the cap. Written here, not taken from a
library, because no library sizes a stack of gunicorn processes by a policy.
"""

import math
from dataclasses import asdict, dataclass, field, replace

from archlab.errors import LabError

POLICIES = ("per-process", "equal-total")
DEFAULT_POLICY = "per-process"

# Request threads per web worker under per-process: a request mostly waits on PostgreSQL
# or another service, so threads, not processes, carry the concurrency.
WEB_THREADS = 8
# A gunicorn master runs at most this many workers; beyond it a process is scaled by
# replicas (archlab scale), and each worker's pool keeps at least one connection within
# the cap at every core count.
MAX_WORKERS = 32
# equal-total's thread total per monolith worker, both architectures: enough that every
# service of the microservices gets a thread on one core and the gateway about a dozen.
DEFAULT_THREADS_PER_CORE = 32

# The pools of a stack add up to at most this; PostgreSQL serves a few hundred
# connections well, and each one is a server process.
CONNECTION_CAP = 400
# Connections beyond the pools: reseeds, audits, the samplers, a person with psql.
SPARE_CONNECTIONS = 20
MAX_CONNECTIONS = CONNECTION_CAP + SPARE_CONNECTIONS

# The card processor: the external party both stacks pay through, sized alike for both
# and outside the split (workers at most 4, for it is not what is measured).
EXTERNAL_SIZE = {"max_workers": 4, "threads": WEB_THREADS}
# The background workers: one thread of work each, with the fixed pools their modules
# open (monolith/worker.py, microservices/orders/worker.py, microservices/invoices/worker.py).
BACKGROUND = {
    "monolith-worker": {"pool": 1, "fanout": 0},
    "orders-worker": {"pool": 2, "fanout": 2},
    "invoices-worker": {"pool": 1, "fanout": 1},
}
# The connections the plan keeps for them, so both architectures' web pools get the same
# budget: the card processor at its largest and every background worker.
RESERVED_CONNECTIONS = (EXTERNAL_SIZE["max_workers"] * EXTERNAL_SIZE["threads"]
                        + sum(b["pool"] for b in BACKGROUND.values()))
WEB_CONNECTION_BUDGET = CONNECTION_CAP - RESERVED_CONNECTIONS

# The stated split when none was measured. A chosen split, not a measurement: the demo's
# browsing mix spent its web CPU per request in the gateway (4.37 ms, 51%), catalog
# (3.00, 35%) and inventory (1.07, 13%), the rest near 0; this keeps their order but
# moves about a quarter to the services a purchase uses, so a mix with checkouts does
# not starve them.
DEFAULT_SHARES = {
    "monolith": {"monolith": 1.0},
    "microservices": {"gateway": 0.40, "catalog": 0.25, "inventory": 0.12,
                      "accounts": 0.07, "orders": 0.07, "payments": 0.04,
                      "invoices": 0.03, "notifications": 0.02},
}


@dataclass(frozen=True)
class ProcessSize:
    """One process's size, per replica: workers, and per worker its request threads,
    fan-out threads and PostgreSQL connections."""

    workers: int
    threads: int
    fanout: int = 0
    pool: int = 0
    replicas: int = 1
    # The share of the split it was sized by (equal-total), else None.
    share: float | None = None
    # "web", "external" or "background".
    kind: str = "web"

    @property
    def total_threads(self) -> int:
        """Every thread of every replica that serves or makes requests."""
        return self.replicas * self.workers * (self.threads + self.fanout)

    @property
    def connections(self) -> int:
        """PostgreSQL connections of every replica's pools."""
        return self.replicas * self.workers * self.pool

    def replica_connections(self) -> int:
        """The connections one more replica would open."""
        return self.workers * self.pool

    def env(self) -> dict[str, str]:
        """What the process's environment carries (plumbing.gunicorn_conf and the apps
        read it)."""
        return {"WEB_WORKERS": str(self.workers), "WEB_THREADS": str(self.threads),
                "FANOUT_THREADS": str(self.fanout), "DB_POOL_SIZE": str(self.pool)}


@dataclass(frozen=True)
class StackShape:
    """What the plan needs to know of a stack: its web processes (with or without a
    database, fanning out or not), its external and background processes."""

    arch: str
    web: dict[str, tuple[bool, bool]]  # name -> (has a database, fans out)
    external: tuple[str, ...] = ()
    background: tuple[str, ...] = ()


@dataclass(frozen=True)
class Plan:
    """A stack's sizes by process name, the policy that gave them, and the budget."""

    arch: str
    policy: str
    cores: int
    processes: dict[str, ProcessSize]
    threads_per_core: int | None = None
    # Where equal-total's shares came from: "default", "probe" or "given".
    shares_source: str | None = None
    connection_cap: int = CONNECTION_CAP
    max_connections: int = MAX_CONNECTIONS
    notes: tuple[str, ...] = field(default_factory=tuple)

    def web(self) -> dict[str, ProcessSize]:
        """The web processes: what the policies split."""
        return {n: p for n, p in self.processes.items() if p.kind == "web"}

    @property
    def web_threads(self) -> int:
        """Every web thread, request and fan-out, of every replica."""
        return sum(p.total_threads for p in self.web().values())

    @property
    def web_connections(self) -> int:
        """The web processes' pools."""
        return sum(p.connections for p in self.web().values())

    @property
    def connections(self) -> int:
        """Every pool of the stack."""
        return sum(p.connections for p in self.processes.values())

    def to_dict(self) -> dict:
        """The plan as state.json and the manifest record it."""
        data = asdict(self)
        data["notes"] = list(self.notes)
        data["totals"] = {"web_threads": self.web_threads,
                          "web_connections": self.web_connections,
                          "connections": self.connections}
        return data


def shape_of(stack) -> StackShape:
    """The StackShape of an archlab.stacks.Stack."""
    web, external, background = {}, [], []
    for spec in stack.processes:
        if spec.external:
            external.append(spec.name)
        elif spec.port is None:
            background.append(spec.name)
        else:
            web[spec.name] = (spec.database is not None, spec.fans_out)
    return StackShape(stack.name, web, tuple(external), tuple(background))


def check_policy(policy: str) -> str:
    """`policy` when it is one of POLICIES, else a LabError naming them."""
    if policy not in POLICIES:
        raise LabError(f"unknown sizing policy {policy!r}; choose one of {', '.join(POLICIES)}")
    return policy


def plan(shape: StackShape, cores: int, policy: str = DEFAULT_POLICY, *,
         threads_per_core: int = DEFAULT_THREADS_PER_CORE,
         shares: dict[str, dict[str, float]] | None = None,
         shares_source: str = "given",
         replicas: dict[str, int] | None = None,
         others: tuple[StackShape, ...] = ()) -> Plan:
    """The sizes of every process of `shape` on `cores` cores under `policy`.

    `shares` (equal-total), by architecture, give each web process's share of CPU, e.g.
    from a probe run (`shares_source` says which, for the record); an architecture
    without them gets the stated DEFAULT_SHARES.
    `others` are the architectures whose totals this one's must equal (equal-total: the
    connection total is what every one of them can use). `replicas` run several copies
    of a web process: per-process gives each copy the whole size, equal-total splits the
    process's share among its copies.
    """
    check_policy(policy)
    if cores < 1:
        raise LabError(f"a plan needs at least 1 core, not {cores}")
    replicas = dict(replicas or {})
    for name, count in replicas.items():
        if name not in shape.web:
            raise LabError(f"{name!r} has no replicas: only the web processes "
                           f"({', '.join(shape.web)}) do")
        if count < 1:
            raise LabError(f"{name} needs at least 1 replica, not {count}")
    workers = min(cores, MAX_WORKERS)
    notes = []
    if cores > MAX_WORKERS:
        notes.append(f"{cores} cores, but a process runs at most {MAX_WORKERS} workers; "
                     "replicas scale it further")
    processes = {name: ProcessSize(workers=min(cores, EXTERNAL_SIZE["max_workers"]),
                                   threads=EXTERNAL_SIZE["threads"],
                                   pool=EXTERNAL_SIZE["threads"], kind="external")
                 for name in shape.external}
    # A background process the table does not know (a test's) holds no connection.
    processes |= {name: ProcessSize(workers=1, threads=1, kind="background",
                                    **BACKGROUND.get(name, {"pool": 0, "fanout": 0}))
                  for name in shape.background}
    source = None
    if policy == "per-process":
        web = _per_process(shape, workers, replicas)
        threads_per_core = None
    else:
        if threads_per_core < 1:
            raise LabError(f"threads_per_core must be at least 1, not {threads_per_core}")
        shares = shares or {}
        source = shares_source if shape.arch in shares else "default"
        web = _equal_total(shape, workers, threads_per_core, shares, replicas, others)
    web, pool_note = _fit_pools(web, WEB_CONNECTION_BUDGET)
    if pool_note:
        notes.append(pool_note)
    return Plan(arch=shape.arch, policy=policy, cores=cores, processes=processes | web,
                threads_per_core=threads_per_core, shares_source=source,
                notes=tuple(notes))


def _per_process(shape: StackShape, workers: int,
                 replicas: dict[str, int]) -> dict[str, ProcessSize]:
    """Every web process (every replica) one worker per core, WEB_THREADS threads each."""
    return {name: ProcessSize(workers=workers, threads=WEB_THREADS,
                              fanout=WEB_THREADS if fans_out else 0,
                              pool=WEB_THREADS if has_db else 0,
                              replicas=replicas.get(name, 1))
            for name, (has_db, fans_out) in shape.web.items()}


def _normal_shares(shape: StackShape, shares: dict[str, float] | None) -> dict[str, float]:
    """`shares` for exactly the web processes, summing to 1."""
    if not shares or set(shares) != set(shape.web):
        given = ", ".join(sorted(shares or {})) or "none"
        raise LabError(f"equal-total sizing of {shape.arch} needs a CPU share for each of "
                       f"{', '.join(shape.web)} (given: {given})")
    if any(not isinstance(v, int | float) or v <= 0 for v in shares.values()):
        raise LabError(f"every CPU share must be a number above 0, not {shares}")
    total = sum(shares.values())
    return {name: shares[name] / total for name in shape.web}


@dataclass(frozen=True)
class _Threads:
    """equal-total's thread split of one architecture, before its pools."""

    shares: dict[str, float]
    counts: dict[str, tuple[int, int]]  # name -> (replicas, workers per replica)
    request: dict[str, int]             # request threads per worker
    fanout: dict[str, int]              # fan-out threads per worker

    def units(self, name: str) -> int:
        copies, per_copy = self.counts[name]
        return copies * per_copy

    def db_threads(self, shape: StackShape) -> int:
        """The request threads that may hold a database connection at once."""
        return sum(self.units(n) * self.request[n] for n, (db, _) in shape.web.items() if db)


def _thread_split(shape: StackShape, workers: int, threads_per_core: int,
                  shares: dict[str, float], replicas: dict[str, int]) -> _Threads:
    """Split threads_per_core x `workers` threads among the web processes by share."""
    shares = _normal_shares(shape, shares)
    # Workers follow CPU: a share of the cores, at least one per replica.
    counts = {}
    for name in shape.web:
        copies = replicas.get(name, 1)
        counts[name] = (copies, max(1, math.ceil(shares[name] * workers / copies - 1e-9)))
    units = {name: copies * per_copy for name, (copies, per_copy) in counts.items()}
    fans_out = {name for name, (_, fan) in shape.web.items() if fan}
    # A process that fans out needs a request thread and a fan-out thread per worker.
    minimum = {name: 2 if name in fans_out else 1 for name in shape.web}
    threads = _split(threads_per_core * workers, shares, units, minimum, "threads")
    fanout = {name: max(1, threads[name] // 3) if name in fans_out else 0
              for name in shape.web}
    request = {name: threads[name] - fanout[name] for name in shape.web}
    return _Threads(shares, counts, request, fanout)


def _equal_total(shape: StackShape, workers: int, threads_per_core: int,
                 shares: dict[str, dict[str, float]], replicas: dict[str, int],
                 others: tuple[StackShape, ...]) -> dict[str, ProcessSize]:
    """Split the threads among the web processes by their shares, and the connections:
    as many as every architecture's request threads can hold (each pool at most its
    threads), within the budget."""
    splits = [(shape, _thread_split(shape, workers, threads_per_core,
                                    shares.get(shape.arch) or DEFAULT_SHARES.get(shape.arch),
                                    replicas))]
    splits += [(other, _thread_split(other, workers, threads_per_core,
                                     shares.get(other.arch) or DEFAULT_SHARES[other.arch], {}))
               for other in others if other.arch != shape.arch]
    # The total every architecture can reach exactly: lower it to what the coarsest
    # split achieves (the monolith's pools come in multiples of its workers) until all
    # agree; it only falls, so this ends.
    total = min([s.db_threads(sh) for sh, s in splits] + [WEB_CONNECTION_BUDGET])
    while True:
        reached = [sum(s.units(n) * k for n, k in _pools(sh, s, total).items())
                   for sh, s in splits]
        if min(reached) == total or min(reached) == 0:
            break
        total = min(reached)
    split = splits[0][1]
    pools = _pools(shape, split, total)
    return {name: ProcessSize(workers=split.counts[name][1], threads=split.request[name],
                              fanout=split.fanout[name], pool=pools.get(name, 0),
                              replicas=split.counts[name][0],
                              share=round(split.shares[name], 4))
            for name in shape.web}


def _pools(shape: StackShape, split: _Threads, total: int) -> dict[str, int]:
    """Per-worker pools of the processes with a database, `total` split by share, each at
    most its request threads."""
    with_db = [name for name, (has_db, _) in shape.web.items() if has_db]
    return _split(total, {name: split.shares[name] for name in with_db},
                  {name: split.units(name) for name in with_db},
                  dict.fromkeys(with_db, 1), "connections",
                  maximum={name: split.request[name] for name in with_db})


def _split(total: int, shares: dict[str, float], units: dict[str, int],
           minimum: dict[str, int], what: str,
           maximum: dict[str, int] | None = None) -> dict[str, int]:
    """Per-worker amounts for each name such that sum(units x amount) comes as close to
    `total` as whole amounts allow (short by less than the smallest unit count that can
    still grow), each name's part near its share, at least its minimum and at most its
    maximum."""
    if not shares:
        return {}
    total_share = sum(shares.values())
    shares = {name: share / total_share for name, share in shares.items()}
    top = maximum or {}
    amounts = {name: min(top.get(name, total),
                         max(minimum[name], math.floor(share * total / units[name])))
               for name, share in shares.items()}
    used = sum(units[n] * a for n, a in amounts.items())
    # Minimums lifted small shares (a measured split can give a process 1%): take the
    # excess back from whoever is furthest above its share, down to the minimums.
    while used > total:
        above = [n for n in shares if amounts[n] > minimum[n]]
        if not above:
            floor = sum(units[n] * minimum[n] for n in shares)
            raise LabError(f"equal-total sizing cannot give each process its minimum "
                           f"{what}: they need {floor}, the total is {total}; raise "
                           "threads_per_core")
        name = max(above, key=lambda n: units[n] * amounts[n] - shares[n] * total)
        amounts[name] -= 1
        used -= units[name]
    left = total - used
    # One more per worker to whoever is furthest below its share, while one fits.
    while True:
        fitting = [n for n in shares if units[n] <= left and amounts[n] < top.get(n, total)]
        if not fitting:
            return amounts
        name = max(fitting, key=lambda n: shares[n] * total - units[n] * amounts[n])
        amounts[name] += 1
        left -= units[name]


def split_whole(total: int, shares: dict[str, float], minimum: dict[str, int]) -> dict[str, int]:
    """`total` whole units split by `shares`, each at least its minimum, adding up to
    `total` exactly (e.g. a stack's CPU in hundredths among its containers)."""
    return _split(total, shares, dict.fromkeys(shares, 1), minimum, "units")


def _fit_pools(web: dict[str, ProcessSize],
               budget: int) -> tuple[dict[str, ProcessSize], str | None]:
    """The web pools, shrunk to the largest per-worker pool that keeps their sum within
    `budget`; a note when they shrank. At one connection per worker and still above it,
    a LabError: fewer workers or replicas are the only way."""
    demand = sum(p.connections for p in web.values())
    if demand <= budget:
        return web, None
    slots = sum(p.replicas * p.workers for p in web.values() if p.pool)
    if slots > budget:
        raise LabError(f"{slots} web workers with a database need at least {slots} "
                       f"connections, above the budget of {budget} "
                       f"(cap {CONNECTION_CAP}); run fewer replicas")
    largest = max(p.pool for p in web.values())
    cap = max(c for c in range(1, largest + 1)
              if sum(p.replicas * p.workers * min(p.pool, c) for p in web.values()) <= budget)
    fitted = {n: replace(p, pool=min(p.pool, cap)) for n, p in web.items()}
    used = sum(p.connections for p in fitted.values())
    return fitted, (f"pools capped at {cap} connection(s) per worker ({used} in all, "
                    f"{demand} wanted) to stay within the cap of {CONNECTION_CAP}")


def from_dict(data: dict) -> Plan:
    """A Plan from its to_dict() form (state.json, a manifest)."""
    data = dict(data)
    data.pop("totals", None)
    data["processes"] = {n: ProcessSize(**p) for n, p in data["processes"].items()}
    data["notes"] = tuple(data.get("notes", ()))
    return Plan(**data)


def describe(plan: Plan) -> str:
    """One line for people: the policy and each web process's size."""
    parts = []
    for name, p in plan.web().items():
        part = f"{name} {p.workers}x{p.threads}"
        if p.fanout:
            part += f"+{p.fanout}"
        if p.replicas > 1:
            part = f"{p.replicas} x ({part})"
        if p.share is not None:
            part += f" ({p.share:.0%})"
        parts.append(part)
    return (f"{plan.policy}: {plan.web_threads} web threads, {plan.web_connections} "
            f"connections; " + ", ".join(parts))
