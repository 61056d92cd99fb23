"""Experiment files (experiments/*.yaml): the load to run and on which architectures.

A file is checked completely before anything starts: unknown keys and bad values are
refused with the file and the field named, and so is a persona an architecture cannot
serve yet (archlab.stacks.CAPABILITIES), so a run never fails half-way for a typo.

docs/experiments.md is the reference of every key. Sections for features that are not
built yet (RESERVED) are refused by name rather than accepted and ignored: a file that
asks for a fault schedule must never run without one and look like it had it.
"""

import dataclasses
import math
from dataclasses import dataclass
from pathlib import Path

import yaml

from archlab import config, formats
from archlab import sizing as sizing_plans
from archlab.config import project_root
from archlab.errors import LabError
from archlab.stacks import ARCHITECTURES, CAPABILITIES
from loadtests import shapes

# What each persona needs an architecture to serve (capabilities of archlab.stacks).
PERSONA_NEEDS = {
    "BrowserUser": {"browse"},
    "CheckoutUser": {"checkout"},
    "BuyerUser": {"checkout", "invoice"},
    "AccountHolderUser": {"checkout", "invoice"},
}


def persona_buys(name: str) -> bool:
    """Whether a persona checks out; an unknown one (a newer locustfile's) is taken to."""
    return "checkout" in PERSONA_NEEDS.get(name, {"checkout"})

DEFAULT_EXPERIMENT = Path("experiments") / "baseline.yaml"
# An open loop's slots: arrivals in flight at once (loadtests.openloop).
DEFAULT_MAX_IN_FLIGHT = 64

# How each web process of the system under test is sized from its share of the cores:
# the policies of archlab/sizing.py.
SIZINGS = sizing_plans.POLICIES
# Where equal-total's CPU shares come from: a probe run (the default) or the stated split.
SHARE_SOURCES = ("probe", "default")
# The probe's measured seconds per architecture (after a 2 s warm-up).
DEFAULT_PROBE_S = 10


@dataclass(frozen=True)
class Experiment:
    """A validated experiment; `wait_s` is (min, max) think time, (0, 0) = closed loop."""

    name: str
    path: Path
    personas: dict[str, int]
    # The closed loop's users (None: an open loop only).
    users: int | None
    spawn_rate: float | None
    warmup_s: int
    duration_s: int
    repeats: int
    architectures: tuple[str, ...]
    wait_s: tuple[float, float] = (0.5, 1.5)
    shape: str | None = None
    description: str = ""
    # Stack settings (config.STACK_SETTINGS) both architectures run with, beyond defaults.
    settings: dict[str, str] = dataclasses.field(default_factory=dict)
    # How the stacks' web processes are sized from the cores (SIZINGS), and equal-total's
    # threads per core when the file gives them (else archlab/sizing.py's default).
    sizing: str = "per-process"
    threads_per_core: int | None = None
    # equal-total's CPU shares: "probe" (measured by a short run of each architecture
    # with more than one web process, archlab/bench/probe.py) or "default" (the stated
    # split, sizing.DEFAULT_SHARES); and the probe's measured seconds.
    shares: str | None = None
    probe_s: int | None = None
    # The shares the probe measured, by architecture (filled in by the bench, never by a
    # file): what `up` splits the threads by.
    measured_shares: dict[str, dict[str, float]] | None = None
    # The open loop: its steps [(rps, seconds)], or a share of the slower architecture's
    # goodput measured by this run's closed loop (then decided once that has run).
    arrival_steps: tuple[tuple[float, float], ...] | None = None
    capacity_share: float | None = None
    max_in_flight: int = DEFAULT_MAX_IN_FLIGHT

    @property
    def phases(self) -> tuple[str, ...]:
        """The loops this experiment runs, in order: "closed" (users) then "open"."""
        opened = self.arrival_steps is not None or self.capacity_share is not None
        return (("closed",) if self.users is not None else ()) + (("open",) if opened else ())

    def arrival_rate(self):
        """`arrival_rate` as a file gives it (None: no open loop)."""
        if self.capacity_share is not None:
            return {"share_of_capacity": self.capacity_share}
        if self.arrival_steps is None:
            return None
        if len(self.arrival_steps) == 1:
            return self.arrival_steps[0][0]
        return [{"rps": rps, "for_s": seconds} for rps, seconds in self.arrival_steps]

    def open_loop(self, steps: tuple[tuple[float, float], ...]) -> "Experiment":
        """The open phase as an experiment of its own, at the decided `steps`."""
        return dataclasses.replace(self, users=None, spawn_rate=None, shape=None,
                                   arrival_steps=steps, capacity_share=None)

    def sizing_choice(self) -> dict:
        """The sizing policy and its parameters, as the platform's `up` takes them."""
        choice = {"policy": self.sizing}
        if self.threads_per_core is not None:
            choice["threads_per_core"] = self.threads_per_core
        if self.measured_shares:
            choice["shares"] = self.measured_shares
            choice["shares_source"] = "probe"
        return choice

    def sizing_config(self) -> str | dict:
        """`sizing` as a file gives it: a policy's name, or its mapping."""
        if self.sizing != "equal-total":
            return self.sizing
        config = {"policy": self.sizing, "shares": self.shares, "probe_s": self.probe_s}
        if self.threads_per_core is not None:
            config["threads_per_core"] = self.threads_per_core
        if self.shares != "probe":
            del config["probe_s"]
        return config

    def to_config(self) -> dict:
        """The resolved experiment as plain JSON data (for manifest.json), in the file's
        keys (so it parses back)."""
        config = dataclasses.asdict(self)
        config["path"] = str(self.path)
        config["architectures"] = list(self.architectures)
        config["wait_s"] = list(self.wait_s)
        for key in ("arrival_steps", "capacity_share", "threads_per_core", "shares",
                    "probe_s", "measured_shares"):
            del config[key]
        config["sizing"] = self.sizing_config()
        if self.users is None:
            for key in ("users", "spawn_rate", "wait_s", "shape"):
                del config[key]
        if "open" in self.phases:
            config["arrival_rate"] = self.arrival_rate()
        else:
            del config["max_in_flight"]
        return config

    def with_overrides(self, *, repeats: int | None = None, duration_s: int | None = None,
                       warmup_s: int | None = None,
                       architectures: tuple[str, ...] | None = None) -> "Experiment":
        """A copy with the command line's overrides, validated like the file."""
        data = {"repeats": repeats, "duration_s": duration_s, "warmup_s": warmup_s,
                "architectures": list(architectures) if architectures else None}
        raw = self.to_config() | {k: v for k, v in data.items() if v is not None}
        for key in ("name", "path"):
            raw.pop(key)
        return parse(raw, self.path, name=self.name, where="the command line")


REQUIRED = ("personas", "warmup_s", "duration_s", "repeats", "architectures")
# A closed loop needs users and spawn_rate, an open loop arrival_rate; a file may give both.
OPTIONAL = ("format", "users", "spawn_rate", "arrival_rate", "max_in_flight", "wait_s",
            "shape", "description", "settings", "sizing")
# Sections of features that are coming, refused by name until they are built (and then
# moved to OPTIONAL): the shapes they will take are in docs/experiments.md.
RESERVED = {
    "faults": "a fault schedule (faults) is not built yet; remove it (a fault given at "
              "start-up is a stack setting, e.g. settings: {INVOICE_PRINTER: offline})",
    "scaling": "replicas per service (scaling) are not built yet; remove it (every "
               "service runs one instance, sized by `sizing`)",
}


def load(path: str | Path) -> Experiment:
    """Read and validate an experiment file (relative paths are from the project folder
    when not found from the current one)."""
    path = Path(path)
    if not path.is_file() and not path.is_absolute() and (project_root() / path).is_file():
        path = project_root() / path
    try:
        # utf-8-sig: a byte-order mark some editors write is not part of the YAML.
        raw = yaml.safe_load(path.read_text(encoding="utf-8-sig"))
    except FileNotFoundError:
        raise LabError(f"experiment file {path} does not exist") from None
    except IsADirectoryError:
        raise LabError(f"experiment file {path} is a folder: give a YAML file in it, "
                       f"e.g. {DEFAULT_EXPERIMENT}") from None
    except PermissionError:
        raise LabError(f"experiment file {path} cannot be read: permission denied") from None
    except UnicodeDecodeError as exc:
        raise LabError(f"experiment file {path} is not UTF-8 text (byte {exc.start}: "
                       f"{exc.reason}): save it as UTF-8") from None
    except OSError as exc:
        raise LabError(f"experiment file {path} cannot be read: "
                       f"{exc.strerror or exc}") from None
    except yaml.YAMLError as exc:
        raise LabError(f"{path} is not valid YAML: {exc}") from None
    return parse(raw, path, name=path.stem)


def parse(raw, path: Path, *, name: str, where: str | None = None) -> Experiment:
    """Validate the data of an experiment file; LabError names the file and the field."""
    source = where or str(path)

    def fail(field: str, message: str):
        raise LabError(f"{source}: {field}: {message}")

    if not isinstance(raw, dict):
        fail("(top level)", "must be a mapping of fields, e.g. `users: 16`")
    # The format first: a newer file may use keys this archlab does not know.
    version = raw.get("format", formats.UNVERSIONED)
    if not _is_int(version) or version < 1:
        fail("format", f"must be a whole number, e.g. {formats.EXPERIMENT_FORMAT}, "
                       f"not {version!r}")
    if version > formats.EXPERIMENT_FORMAT:
        fail("format", f"written for a newer archlab (format {version}; this one reads up "
                       f"to {formats.EXPERIMENT_FORMAT}): update archlab to run it")
    for section, why in RESERVED.items():
        if section in raw:
            fail(section, why)
    unknown = sorted(str(key) for key in set(raw) - set(REQUIRED) - set(OPTIONAL))
    if unknown:
        fail(unknown[0], f"unknown field; the fields are: {', '.join(REQUIRED + OPTIONAL)}")
    for field in REQUIRED:
        if field not in raw:
            fail(field, "missing")

    personas = raw["personas"]
    if not isinstance(personas, dict) or not personas:
        fail("personas", "must map persona names to weights, e.g. {BrowserUser: 1}")
    for persona, weight in personas.items():
        if persona not in PERSONA_NEEDS:
            fail("personas", f"unknown persona {persona!r}; choose from "
                             f"{', '.join(PERSONA_NEEDS)}")
        if not _is_int(weight) or weight < 1:
            fail(f"personas.{persona}", f"weight must be a whole number >= 1, not {weight!r}")

    if "users" not in raw and "arrival_rate" not in raw:
        fail("users", "missing: give users (a closed loop), arrival_rate (an open loop) "
                      "or both")
    users = spawn_rate = None
    if "users" in raw:
        users = _number(raw["users"], "users", fail, whole=True, minimum=1)
        if "spawn_rate" not in raw:
            fail("spawn_rate", "missing (how many users start per second)")
        spawn_rate = _number(raw["spawn_rate"], "spawn_rate", fail, positive=True)
    else:
        for key in ("spawn_rate", "wait_s", "shape"):
            if key in raw:
                fail(key, "belongs to a closed loop (users), and this file has none: an "
                          "open loop has no users to start or to pause")
    # Whole seconds: Locust's --run-time takes no fractions.
    warmup_s = _number(raw["warmup_s"], "warmup_s", fail, whole=True, minimum=0)
    duration_s = _number(raw["duration_s"], "duration_s", fail, whole=True, minimum=1)
    repeats = _number(raw["repeats"], "repeats", fail, whole=True, minimum=1)

    architectures = raw["architectures"]
    if not isinstance(architectures, list) or not architectures:
        fail("architectures", f"must be a list, e.g. [{', '.join(ARCHITECTURES)}]")
    for arch in architectures:
        if arch not in ARCHITECTURES:
            fail("architectures", f"unknown architecture {arch!r}; choose from "
                                  f"{', '.join(ARCHITECTURES)}")
    if len(set(architectures)) != len(architectures):
        fail("architectures", "names an architecture twice")

    wait_s = _wait(raw.get("wait_s", [0.5, 1.5]), fail)
    shape = raw.get("shape")
    if shape is not None:
        if shape not in shapes.SHAPES:
            fail("shape", f"unknown shape {shape!r}; loadtests/shapes.py has "
                          f"{', '.join(shapes.SHAPES)}")
        total = shapes.total_seconds(shapes.SHAPES[shape])
        if not math.isclose(total, duration_s):
            fail("duration_s", f"must equal the length of shape {shape!r} ({total:g} s), "
                               f"not {duration_s:g}")
    description = raw.get("description", "")
    if not isinstance(description, str):
        fail("description", "must be text")
    settings = raw.get("settings") or {}
    if not isinstance(settings, dict):
        fail("settings", "must map stack settings to values, e.g. {INVOICE_DELIVERY: deferred}")
    try:
        config.stack_settings(settings)
    except LabError as exc:
        fail("settings", str(exc))
    sizing, threads_per_core, shares, probe_s = _sizing(raw.get("sizing", "per-process"),
                                                        fail)

    arrival_steps = capacity_share = None
    if "arrival_rate" in raw:
        arrival_steps, capacity_share = _arrival(raw["arrival_rate"], duration_s,
                                                 users is not None, fail)
    elif "max_in_flight" in raw:
        fail("max_in_flight", "belongs to an open loop: give arrival_rate too")
    max_in_flight = _number(raw.get("max_in_flight", DEFAULT_MAX_IN_FLIGHT), "max_in_flight",
                            fail, whole=True, minimum=1)

    experiment = Experiment(
        name=name, path=path, personas=dict(personas), users=users, spawn_rate=spawn_rate,
        warmup_s=warmup_s, duration_s=duration_s, repeats=repeats,
        architectures=tuple(architectures), wait_s=wait_s, shape=shape,
        description=description.strip(), settings={k: str(v) for k, v in settings.items()},
        sizing=sizing, threads_per_core=threads_per_core, shares=shares, probe_s=probe_s,
        arrival_steps=arrival_steps,
        capacity_share=capacity_share,
        max_in_flight=max_in_flight,
    )
    check_capabilities(experiment, source)
    return experiment


def _sizing(raw, fail) -> tuple[str, int | None, str | None, int | None]:
    """(policy, threads per core, shares, probe seconds) from `sizing`: a policy's name,
    or {policy: equal-total, threads_per_core: N, shares: probe|default, probe_s: S}."""
    known = ("policy", "threads_per_core", "shares", "probe_s")
    if isinstance(raw, dict):
        unknown = set(raw) - set(known)
        if unknown:
            fail("sizing", f"unknown key(s) {', '.join(sorted(unknown))}; "
                           f"known: {', '.join(known)}")
        policy = raw.get("policy", "per-process")
    else:
        policy, raw = raw, {}
    if policy not in SIZINGS:
        fail("sizing", f"unknown sizing {policy!r}; choose from {', '.join(SIZINGS)}")
    if policy != "equal-total":
        given = [key for key in known[1:] if raw.get(key) is not None]
        if given:
            verb = "belongs" if len(given) == 1 else "belong"
            fail("sizing", f"{', '.join(given)} {verb} to equal-total sizing")
        return policy, None, None, None
    threads = raw.get("threads_per_core")
    if threads is not None:
        threads = _number(threads, "sizing.threads_per_core", fail, whole=True, minimum=1)
    shares = raw.get("shares") or "probe"
    if shares not in SHARE_SOURCES:
        fail("sizing", f"shares must be one of {', '.join(SHARE_SOURCES)}, not {shares!r}")
    probe_s = raw.get("probe_s")
    if probe_s is not None and shares != "probe":
        fail("sizing", "probe_s belongs to shares: probe")
    if shares == "probe":
        probe_s = _number(DEFAULT_PROBE_S if probe_s is None else probe_s, "sizing.probe_s",
                          fail, whole=True, minimum=2)
    return policy, threads, shares, probe_s


def check_capabilities(experiment: Experiment, source: str) -> None:
    """Refuse a persona on an architecture that cannot serve what it needs yet."""
    for arch in experiment.architectures:
        for persona in experiment.personas:
            missing = PERSONA_NEEDS[persona] - CAPABILITIES[arch]
            if missing:
                raise LabError(
                    f"{source}: persona {persona} needs {', '.join(sorted(missing))}, which "
                    f"{arch} cannot serve yet; drop {arch} from architectures or {persona} "
                    "from personas"
                )


def _is_int(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _number(value, field: str, fail, *, whole: bool = False, minimum: float | None = None,
            positive: bool = False):
    """`value` checked as a number (a whole one with `whole`) within its bounds."""
    kind = "a whole number" if whole else "a number"
    if isinstance(value, bool) or not isinstance(value, int if whole else (int, float)):
        fail(field, f"must be {kind}, not {value!r}")
    if not math.isfinite(value):
        fail(field, f"must be {kind}, not {value!r}")
    if minimum is not None and value < minimum:
        fail(field, f"must be at least {minimum:g}, not {value!r}")
    if positive and value <= 0:
        fail(field, f"must be more than 0, not {value!r}")
    return value


def _wait(value, fail) -> tuple[float, float]:
    """Think time: one number (constant) or [min, max] seconds."""
    if isinstance(value, list) and len(value) == 2:
        low = _number(value[0], "wait_s", fail, minimum=0)
        high = _number(value[1], "wait_s", fail, minimum=0)
        if high < low:
            fail("wait_s", f"[min, max] with min <= max, not {value!r}")
        return float(low), float(high)
    if not isinstance(value, int | float) or isinstance(value, bool):
        fail("wait_s", f"must be seconds (e.g. 0) or [min, max] (e.g. [0.5, 1.5]), "
                       f"not {value!r}")
    seconds = float(_number(value, "wait_s", fail, minimum=0))
    return seconds, seconds


def _arrival(value, duration_s: int, closed: bool, fail):
    """arrival_rate: req/s (constant), [{rps, for_s}, ...] steps lasting duration_s, or
    {share_of_capacity: x} of the slower architecture's goodput in this run's closed
    loop. Returns (steps, share), one of them None."""
    field = "arrival_rate"
    if isinstance(value, dict):
        if set(value) != {"share_of_capacity"}:
            fail(field, "as a mapping takes share_of_capacity only, e.g. "
                        "{share_of_capacity: 0.5}")
        share = _number(value["share_of_capacity"], f"{field}.share_of_capacity", fail,
                        positive=True)
        if share > 1:
            fail(f"{field}.share_of_capacity", f"must be at most 1 (above the slower "
                                               f"architecture's capacity its queue only "
                                               f"grows), not {share!r}")
        if not closed:
            fail(field, "share_of_capacity needs a closed loop first (users) to measure "
                        "the capacity: add users and spawn_rate, or give req/s")
        return None, float(share)
    if isinstance(value, list):
        if not value:
            fail(field, "steps must not be empty, e.g. [{rps: 20, for_s: 10}]")
        steps = []
        for i, step in enumerate(value):
            where = f"{field}[{i}]"
            if not isinstance(step, dict) or set(step) != {"rps", "for_s"}:
                fail(where, "must be {rps: <req/s>, for_s: <seconds>}")
            steps.append((float(_number(step["rps"], f"{where}.rps", fail, positive=True)),
                          float(_number(step["for_s"], f"{where}.for_s", fail,
                                        positive=True))))
        total = sum(seconds for _, seconds in steps)
        if not math.isclose(total, duration_s):
            fail(field, f"the steps last {total:g} s; they must last duration_s "
                        f"({duration_s:g} s)")
        return tuple(steps), None
    rps = _number(value, field, fail, positive=True)
    return ((float(rps), float(duration_s)),), None
