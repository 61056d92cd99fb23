"""Container CPU and memory limits: the same totals for both architectures.

A compose stack gets CPUS and MEMORY_MIB in all (ARCHLAB_CPUS, ARCHLAB_MEMORY_MIB). The
parts outside the architectures' split are the same in both stacks, as in the
equal-total sizing policy (archlab/sizing.py): PostgreSQL, the card processor and the
background workers (shared evenly among a stack's workers). The rest goes to the web
processes by their share of CPU (the monolith's one web process takes it all), with a
floor, so the smallest service still runs. The one-shot seed containers run before the
stack serves and are left out of the totals (SEED_LIMITS each).
"""

from dataclasses import dataclass

from archlab import sizing
from archlab.errors import LabError

DEFAULT_CPUS = 2.0
DEFAULT_MEMORY_MIB = 3072
# Fractions of the totals for the parts outside the split.
POSTGRES = {"cpus": 0.30, "memory": 1 / 3}
EXTERNAL = {"cpus": 0.05, "memory": 1 / 16}
BACKGROUND = {"cpus": 0.05, "memory": 1 / 16}
# The least a web process gets: 0.05 CPU (hundredths below) and 192 MiB (gunicorn with
# Flask and psycopg2 takes about 60 MiB per process, a master and a worker or two).
WEB_FLOOR = {"cpus": 5, "memory": 192}
SEED_LIMITS = {"cpus": 1.0, "memory_mib": 256}


@dataclass(frozen=True)
class Limit:
    """One container's limits."""

    cpus: float
    memory_mib: int


def split(shape: sizing.StackShape, shares: dict[str, float] | None = None,
          cpus: float = DEFAULT_CPUS, memory_mib: int = DEFAULT_MEMORY_MIB) -> dict[str, Limit]:
    """Every long-running container's limits, "postgres" included, for the stack `shape`;
    they add up to `cpus` and `memory_mib` (CPU in hundredths)."""
    hundredths = round(cpus * 100)
    fixed = {part: {"cpus": round(hundredths * f["cpus"]),
                    "memory": round(memory_mib * f["memory"])}
             for part, f in (("postgres", POSTGRES), ("external", EXTERNAL),
                             ("background", BACKGROUND))}
    web = {what: (hundredths if what == "cpus" else memory_mib)
           - sum(part[what] for part in fixed.values()) for what in ("cpus", "memory")}
    if any(web[what] < WEB_FLOOR[what] * len(shape.web) for what in web):
        raise LabError(f"{cpus:g} CPUs and {memory_mib} MiB are too little for the "
                       f"{len(shape.web)} web processes of {shape.arch} (each needs at least "
                       f"{WEB_FLOOR['cpus'] / 100:g} CPU and {WEB_FLOOR['memory']} MiB "
                       "besides PostgreSQL's part)")
    shares = shares or sizing.DEFAULT_SHARES[shape.arch]
    parts = {what: sizing.split_whole(web[what], shares, dict.fromkeys(shares, WEB_FLOOR[what]))
             for what in ("cpus", "memory")}
    limits = {name: Limit(parts["cpus"][name] / 100, parts["memory"][name]) for name in shape.web}
    limits["postgres"] = Limit(fixed["postgres"]["cpus"] / 100, fixed["postgres"]["memory"])
    for names, part in ((shape.external, "external"), (shape.background, "background")):
        if not names:
            continue
        each = {what: sizing.split_whole(fixed[part][what], dict.fromkeys(names, 1.0),
                                         dict.fromkeys(names, 1))
                for what in ("cpus", "memory")}
        limits |= {name: Limit(each["cpus"][name] / 100, each["memory"][name])
                   for name in names}
    return limits
