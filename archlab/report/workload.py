"""The load a run put on both architectures, from its manifest and run.json files: the
personas and whether any of them buys, the loop (closed, or with think time), the users,
the measured seconds, the repeats. The report states it next to its headline, because
every figure depends on it."""

from archlab.experiment import persona_buys
from loadtests import shapes

# What each persona does, in a few words (its behaviour is loadtests/locustfile.py's).
PERSONA_WORDS = {
    "BrowserUser": "catalogue and search pages, categories, product pages and their API",
    "BuyerUser": "logs in once, looks at products, checks out 1-3 products, reads the "
                 "invoice",
    "CheckoutUser": "logs in once, looks at a product, checks out 1-3 products",
    "AccountHolderUser": "lists its orders, opens and e-mails invoices (checks out once "
                         "first when it has no order)",
}
# Read from the first repeat's run.json when the manifest's config lacks them (older runs).
RUN_KEYS = ("personas", "users", "spawn_rate", "wait_s", "shape", "warmup_s", "duration_s")


def load_varies(shape: str | None) -> bool:
    """Whether a load shape changes the number of users during the measured phase (an
    unknown shape is assumed to)."""
    if not shape:
        return False
    stages = shapes.SHAPES.get(shape)
    return stages is None or len({stage.users for stage in stages}) > 1


def describe(config: dict, first_run: dict) -> dict:
    """The workload as summary.json records it (see summary.py's docstring); `buys` here
    follows the personas only, the summary adds what the data saw."""
    known = {key: config[key] if key in config else first_run.get(key) for key in RUN_KEYS}
    personas = {name: weight for name, weight in (known["personas"] or {}).items() if weight}
    wait = known["wait_s"]
    wait = [float(w) for w in wait] if isinstance(wait, list | tuple) and wait else None
    return {
        "personas": personas,
        "buys": any(persona_buys(name) for name in personas),
        "users": known["users"], "spawn_rate": known["spawn_rate"],
        # Think time between a user's answer and its next request; [0, 0]: none.
        "wait_s": wait,
        "shape": known["shape"], "load_varies": load_varies(known["shape"]),
        "warmup_s": known["warmup_s"], "duration_s": known["duration_s"],
        "repeats": config.get("repeats"),
        # An open loop's rate as the file gave it, and its slots (None: closed loop).
        "arrival_rate": config.get("arrival_rate") if known["users"] is None else None,
        "max_in_flight": config.get("max_in_flight") if known["users"] is None else None,
    }


def _seconds(values: list[float]) -> str:
    lo, hi = (f"{v:.1f}" for v in values)
    return f"{lo} s" if lo == hi else f"{lo}–{hi} s"


def _who(load: dict) -> str:
    """'Browsing only: BrowserUser (...)', or the mix with its weights."""
    personas = load["personas"]
    if not personas:
        return "Personas: not recorded."
    named = ", ".join(f"{name} ({PERSONA_WORDS.get(name, 'not described here')})"
                      for name in personas)
    weights = (", weighted " + " : ".join(str(w) for w in personas.values())
               if len(personas) > 1 else "")
    if not load["buys"]:
        return (f"Browsing only: {named}. No persona buys, so there are no checkout, 409 "
                f"or order figures, and the stock stays as seeded.")
    return f"Browsing and buying{weights}: {named}."


def _loop(load: dict) -> str:
    """The closed loop in words: what ties throughput to latency under this load."""
    users, wait = load["users"], load["wait_s"]
    if users is None:
        return (f"Open loop: requests arrive at {_rate(load.get('arrival_rate'))} whatever "
                f"the answers, at most {load.get('max_in_flight')} in flight; latency is "
                f"counted from each request's intended send time, so it is compared at "
                f"equal offered load.")
    if load["load_varies"]:
        return (f"The users follow the load shape {load['shape']!r}, which changes their "
                f"number during the measured phase, so throughput changes by design.")
    if wait is None:
        return f"Closed loop: {users} users, each waiting for its answer (think time not recorded)."
    if max(wait) == 0:
        return (f"Closed loop: {users} users, each sending its next request as soon as its "
                f"answer arrives (no think time), so latency and throughput are two views "
                f"of one queue: throughput ≈ {users} ÷ mean response time.")
    think = f"{wait[0]:g}" if wait[0] == wait[1] else f"{wait[0]:g}–{wait[1]:g}"
    return (f"Closed loop with think time: {users} users, each waiting for its answer and "
            f"then {think} s before its next step, so throughput ≈ {users} ÷ (response "
            f"time + think time).")


def _rate(rate) -> str:
    """An arrival_rate as words: '36 req/s', or its steps."""
    if isinstance(rate, list):
        return ", then ".join(f"{s['rps']:g} req/s for {s['for_s']:g} s" for s in rate)
    return f"{rate:g} req/s" if isinstance(rate, int | float) else "an unrecorded rate"


def _order(order: list | None) -> str:
    """', run in the order monolith#1, microservices#1, ... (alternating which runs
    first)'; '' when the manifest has no order."""
    if not order:
        return ""
    said = ", ".join(f"{arch}#{repeat}" for arch, repeat in order)
    firsts = {}
    for arch, repeat in order:
        firsts.setdefault(repeat, arch)
    leads = list(firsts.values())
    alternating = len(set(leads)) > 1 and all(x != y for x, y in zip(leads, leads[1:],
                                                                      strict=False))
    return f", run in the order {said}" + (
        " (alternating which architecture runs first)" if alternating else "")


def text(summary: dict) -> str:
    """The workload paragraph the report puts next to its headline."""
    load = summary["workload"]
    budget = summary.get("budget") or {}
    cores = summary["sut_cores"]
    where = ("the load generator on a core of its own, " if budget.get("generator_cpus")
             else "the load generator sharing the system's cores, ")
    repeats = load["repeats"]
    measured = (f"Measured: {repeats} repeat{'s' * (repeats != 1)} per architecture "
                f"of {load['duration_s']} s each after {load['warmup_s']} s of warm-up "
                f"(Locust's windows {_seconds(load['measured_s'])}: every req/s here is "
                f"requests over that window){_order(summary.get('order'))}; {where}the "
                f"system under test on {cores} core{'s' * (cores != 1)}.")
    restock = (" Before each repeat every product was restocked to "
               + " or ".join(f"{level:,}" for level in load["restocked_to"]) + " units."
               if load.get("restocked_to") else "")
    return f"{_who(load)} {_loop(load)} {measured}{restock}"
