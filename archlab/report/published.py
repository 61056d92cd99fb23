"""Published figures beside the run's own: what other studies measured between a
monolith and its microservices, quoted from data/published.yaml with their sources,
next to the figure of this run each claim speaks to and what differs between them.

The file holds only what its sources say; the report adds this run's figure and never
turns a source's setting it does not state into a guess.
"""

from importlib import resources

import yaml

from archlab.errors import LabError
from archlab.report.words import NOT_DISTINGUISHABLE, distinguishable, invert

FORMAT = 1
# The settings every source row states, in the order the report shows them.
SETTINGS = (("system", "system"), ("language", "language"), ("hardware", "hardware"),
            ("workload", "workload"), ("load_model", "load model"))
COMPARES = ("goodput_lower", "cpu_per_request", "single_machine", None)


def load() -> list[dict]:
    """The sources of data/published.yaml, checked: each names its citation, where its
    claims are quoted from, its settings and its claims."""
    text = resources.files("archlab.report").joinpath("data/published.yaml").read_text(
        encoding="utf-8")
    return check(yaml.safe_load(text))


def check(data) -> list[dict]:
    """The sources of a published-figures document; LabError names what is wrong."""
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise LabError(f"published figures: expected format {FORMAT} with sources")
    sources = data.get("sources")
    if not isinstance(sources, list) or not sources:
        raise LabError("published figures: no sources")
    for source in sources:
        missing = [key for key in ("id", "citation", "url", "where", "claims",
                                   *(k for k, _ in SETTINGS)) if not source.get(key)]
        if missing:
            raise LabError(f"published figures: source {source.get('id', '?')} lacks "
                           f"{', '.join(missing)}")
        for claim in source["claims"]:
            if not claim.get("quote") or claim.get("compare") not in COMPARES:
                raise LabError(f"published figures: source {source['id']} has a claim "
                               f"without a quote or with an unknown compare "
                               f"{claim.get('compare')!r}")
    return sources


def _monolith_over_microservices(ratios: dict, name: str) -> dict | None:
    """A ratio as monolith / microservices, whichever way the summary has it."""
    r = ratios.get(name)
    if not r or r.get("value") is None:
        return None
    if (ratios["numerator"], ratios["denominator"]) == ("monolith", "microservices"):
        return r
    if (ratios["numerator"], ratios["denominator"]) == ("microservices", "monolith"):
        return invert(r)
    return None


def this_run(compare: str | None, ratios: dict | None) -> str:
    """This run's figure that a claim speaks to, in words, with its interval; one whose
    interval includes 1 is said to be not distinguishable."""
    if compare is None:
        return "not measured by this run (it runs on one machine)"
    if not ratios:
        return "not measured: this run has no two architectures to compare"
    good = _monolith_over_microservices(ratios, "goodput") or \
        _monolith_over_microservices(ratios, "throughput")
    if compare in ("goodput_lower", "single_machine"):
        if not good:
            return "not measured: the run has no goodput ratio"
        value, lo, hi = good["value"], good.get("lo"), good.get("hi")
        if compare == "goodput_lower":
            said = f"the microservices' goodput was {100 * (1 - 1 / value):.1f}% lower"
            if lo is not None and hi is not None:
                said += (f" (95% CI {100 * (1 - 1 / lo):.1f}% to "
                         f"{100 * (1 - 1 / hi):.1f}%)")
        else:
            said = f"the monolith served {value:.2f}x the microservices' goodput"
            if lo is not None and hi is not None:
                said += f" (95% CI {lo:.2f}–{hi:.2f}x)"
        return said if distinguishable(good) else f"{NOT_DISTINGUISHABLE}: {said}"
    cpu = _monolith_over_microservices(ratios, "cpu_per_request")
    if not cpu:
        return "not measured: the run has no CPU per request"
    ms = invert(cpu)
    said = f"the microservices spent {ms['value']:.2f}x the monolith's CPU time per request"
    if ms.get("lo") is not None and ms.get("hi") is not None:
        said += f" (95% CI {ms['lo']:.2f}–{ms['hi']:.2f}x; all of it, not one library's)"
    return said if distinguishable(cpu) else f"{NOT_DISTINGUISHABLE}: {said}"


def rows(summary: dict) -> list[list[str]]:
    """One row per claim: source, its quote, its settings, this run's figure."""
    out = []
    for source in load():
        setting = "; ".join(f"{label}: {source[key]}" for key, label in SETTINGS)
        for claim in source["claims"]:
            out.append([f"{source['citation']} ({source['where']}; {source['url']})",
                        f"“{claim['quote']}”", setting,
                        this_run(claim["compare"], summary.get("ratios"))])
    return out


def differs(summary: dict) -> str:
    """What this run's setting is, to set against each source's."""
    load_ = summary.get("workload") or {}
    loop = ("an open loop" if load_.get("users") is None
            else f"a closed loop of {load_.get('users')} users")
    cores = summary.get("sut_cores")
    machine = summary.get("machine") or {}
    return (f"This run: Python (Flask under gunicorn) and PostgreSQL, on "
            f"{machine.get('cpu_model') or 'this machine'} with {cores} core(s) for the "
            f"system under test, both architectures as processes on one host (no "
            f"containers), the personas {', '.join(load_.get('personas') or {}) or '?'} "
            f"in {loop}. The sources differ in language, hardware, workload and load "
            f"model as each row says: their figures are context, not a target, and agree "
            f"or disagree with this run only in direction.")
