"""`archlab compare RUN_A RUN_B`: is a difference between two runs real?

Two runs of one experiment (before and after a change, or on two machines) are compared
architecture by architecture: for every metric of METRICS, both runs' means with their
95% intervals and the ratio B/A of the two runs' repeats, with the 95% interval of the
report's ratio method (archlab.report.stats.ratio: Welch's t interval on the logarithms
of the repeats). A ratio is a finding ("higher in B", "lower in B") only when its
interval excludes 1; otherwise it is "not distinguishable in these runs", and without an
interval (a run with a single repeat) the value is given with the reason no interval can
be. Each run's own between-architecture ratios (summary.json "ratios") are set side by
side, with whether their intervals overlap.

Rules (docs/compare.md):

- Refused (LabError): runs whose experiments differ in anything that defines the load:
  every key of the manifest's resolved experiment `config` except NOT_LOAD (sizing
  among them, so two policies compare; a key
  present in one run and absent in the other counts as a difference). `repeats` may
  differ: more or fewer repeats change how wide the intervals are, not what they
  estimate, and the ratio method allows unequal sides. The architectures need not be
  the same: the ones both runs have are compared.
- Flagged (a warning; still compared): another machine, another PostgreSQL server
  version, another core budget, and repeats the report flags (generator overloaded,
  host noise, drift, sold out): the runs then differ by more than the change.
- Shown as information: both commits and whether their trees were dirty, software
  versions that differ, repeats that differ, repeats that are missing.

Everything but `load_run` is a pure function of two loaded runs (manifest + summary).
"""

import json
import re
from dataclasses import dataclass, field
from pathlib import Path

from archlab import formats
from archlab.errors import LabError
from archlab.report import stats
from archlab.report.raw import read_json, read_run
from archlab.report.summary import build_summary
from archlab.report.words import distinguishable, num, pct

NOT_DISTINGUISHABLE = "not distinguishable in these runs"


@dataclass(frozen=True)
class Metric:
    """One compared figure: `key` in each of an architecture's per-repeat records of the
    loop `phase` ("closed"; "open": a run's open loop, in its own summary under
    "open_loop" when a closed loop ran first)."""

    key: str
    label: str
    unit: str  # "%" shows a 0..1 rate in per cent
    higher_is_better: bool
    phase: str = "closed"

    @property
    def name(self) -> str:
        """The metric's name in the JSON: its key, prefixed by the open loop's phase (so
        two phases' figures never share a name)."""
        return self.key if self.phase == "closed" else f"open_loop.{self.key}"


def phase_summary(summary: dict, phase: str) -> dict:
    """The summary of one loop: the run's own, or its open loop's when it has one."""
    if phase == "open":
        return summary.get("open_loop") or summary
    return summary


# The compared figures, one line each. A new figure in summary.json is one more line.
METRICS = (
    Metric("goodput_rps", "goodput", "req/s", True),
    Metric("throughput_rps", "throughput", "req/s", True),
    Metric("p50_ms", "p50", "ms", False),
    Metric("p95_ms", "p95", "ms", False),
    Metric("p99_ms", "p99", "ms", False),
    Metric("cpu_ms_per_request", "CPU per request", "ms", False),
    Metric("error_rate", "error rate", "%", False),
    Metric("corrected_p50_ms", "open loop p50 (corrected)", "ms", False, "open"),
    Metric("corrected_p95_ms", "open loop p95 (corrected)", "ms", False, "open"),
    Metric("corrected_p99_ms", "open loop p99 (corrected)", "ms", False, "open"),
)

# Keys of the resolved experiment that do not define the load: what the experiment is
# called and where its file was, its words, how often it ran, and on what (the
# architectures both runs have are compared).
# `sizing` is how the stacks were sized, not the load: comparing two runs that differ
# only in it measures the policy (docs/sizing.md), and the notes say so.
NOT_LOAD = ("name", "path", "description", "repeats", "architectures", "sizing")
# The machine facts (archlab.manifest.machine_facts) that make another machine.
MACHINE_KEYS = (("hostname", "host"), ("cpu_model", "CPU"), ("cpu_count", "CPU count"),
                ("cpus_allowed", "CPUs allowed"), ("memory_gib", "memory GiB"))
# Versions that may be the change under study itself: shown, not flagged.
SOFTWARE_KEYS = ("os", "python", "packages")
# Repeats the report flags, per architecture in summary.json, and why.
REPORT_FLAGS = (("overloaded_repeats", "load generator overloaded"),
                ("noisy_repeats", "another program loaded the host"),
                ("drifting_repeats", "throughput drifted"),
                ("sold_out_repeats", "a product sold out"))
WHY_MACHINE = "figures from two machines differ by the machine as well as by the change"
WHY_POSTGRES = ("every request waits on the database, so figures from two server versions "
                "differ by the server as well as by the change")
WHY_BUDGET = ("the system under test and the load generator ran on other cores, so the "
              "figures differ by the budget as well as by the change")


@dataclass(frozen=True)
class LoadedRun:
    """A run folder's manifest and summary (summary.json, or built from the raw files)."""

    path: Path
    manifest: dict
    summary: dict = field(repr=False)


def load_run(path: Path) -> LoadedRun:
    """Read a run folder: its summary.json when one of the current format is there, else
    the summary `archlab report` would build from the raw files (nothing is written)."""
    path = Path(path)
    manifest_path, summary_path = path / "manifest.json", path / "summary.json"
    if manifest_path.is_file() and summary_path.is_file():
        manifest = read_json(manifest_path)
        formats.check(manifest, manifest_path, formats.MANIFEST_FORMAT)
        summary = read_json(summary_path)
        # An older summary lacks figures added since; the raw files rebuild it.
        if formats.check(summary, summary_path, formats.SUMMARY_FORMAT) == \
                formats.SUMMARY_FORMAT:
            return LoadedRun(path, manifest, summary)
    # read_run names what is wrong: not a run folder, no completed repeat, a damaged file.
    run = read_run(path)
    return LoadedRun(path, run.manifest, build_summary(run))


def _shown(value) -> str:
    """A config or machine value in an error or flag line; 'absent' when missing."""
    if value is None:
        return "absent"
    return value if isinstance(value, str) else json.dumps(value, sort_keys=True)


def load_differences(config_a: dict, config_b: dict) -> list[str]:
    """'users: 20 in A, 40 in B' for every load-defining key that differs (a key only one
    run has included)."""
    keys = sorted((config_a.keys() | config_b.keys()) - set(NOT_LOAD))
    return [f"{k}: {_shown(config_a.get(k))} in A, {_shown(config_b.get(k))} in B"
            for k in keys if k not in config_a or k not in config_b
            or config_a[k] != config_b[k]]


def check_same_experiment(a: LoadedRun, b: LoadedRun) -> None:
    """Refuse (LabError) two runs whose experiments define different loads."""
    diffs = load_differences(a.manifest.get("config") or {}, b.manifest.get("config") or {})
    if diffs:
        raise LabError(f"{a.path} and {b.path} ran different experiments, so a difference "
                       f"would not be the change: {'; '.join(diffs)}. Compare two runs of "
                       "the same load (repeats and architectures may differ)")


def common_architectures(a: LoadedRun, b: LoadedRun) -> list[str]:
    """The architectures both runs completed repeats of, in run A's order."""
    common = [x for x in a.summary["architectures"] if x in b.summary["architectures"]]
    if not common:
        raise LabError(f"{a.path} ran {', '.join(a.summary['architectures'])} and {b.path} "
                       f"ran {', '.join(b.summary['architectures'])}: no architecture to "
                       "compare")
    return common


def _differing(facts_a: dict, facts_b: dict, keys) -> list[str]:
    """'host x in A, y in B' for each (key, word) whose values differ."""
    return [f"{word} {_shown(facts_a.get(k))} in A, {_shown(facts_b.get(k))} in B"
            for k, word in keys if facts_a.get(k) != facts_b.get(k)]


def machine_flag(a: LoadedRun, b: LoadedRun) -> str | None:
    """A warning when the runs ran on different machines (manifest machine facts)."""
    diffs = _differing(a.manifest.get("machine") or {}, b.manifest.get("machine") or {},
                       MACHINE_KEYS)
    return f"different machines ({'; '.join(diffs)}): {WHY_MACHINE}" if diffs else None


def budget_flag(a: LoadedRun, b: LoadedRun) -> str | None:
    """A warning when the runs had different core budgets (manifest budget, every key)."""
    budget_a, budget_b = a.manifest.get("budget") or {}, b.manifest.get("budget") or {}
    keys = [(k, k) for k in sorted(budget_a.keys() | budget_b.keys())]
    diffs = _differing(budget_a, budget_b, keys)
    return f"different core budgets ({'; '.join(diffs)}): {WHY_BUDGET}" if diffs else None


def _version_number(text: str) -> str:
    """'15.20' from 'PostgreSQL 15.20 on x86_64...' or 'postgres (PostgreSQL) 15.20', so
    what a server answered and what its binary printed compare; the text itself when it
    holds no version."""
    found = re.search(r"PostgreSQL\)?\s+(\d+(?:\.\d+)*)", text)
    return found.group(1) if found else text


def postgres_versions(run: LoadedRun) -> list[str]:
    """The PostgreSQL versions a run used: what its servers answered (manifest
    postgres_servers, run.json stack.postgres), else the binaries the lab found
    (machine.postgres); empty when none was recorded."""
    answered = [(s.get("server_version") or {}).get("version")
                for s in run.manifest.get("postgres_servers") or []]
    answered += [((r.get("stack") or {}).get("postgres") or {}).get("version")
                 for arch in run.summary["arch"].values() for r in arch["repeats"]]
    found = {_version_number(v) for v in answered if v}
    if not found and (run.manifest.get("machine") or {}).get("postgres"):
        found = {_version_number(run.manifest["machine"]["postgres"])}
    return sorted(found)


def postgres_flag(a: LoadedRun, b: LoadedRun) -> str | None:
    """A warning when the runs used different PostgreSQL versions, or when one run did
    not record its version (then nobody can tell)."""
    va, vb = postgres_versions(a), postgres_versions(b)
    if va == vb:
        return None
    if not va or not vb:
        missing = "A" if not va else "B"
        return (f"PostgreSQL version not recorded in {missing} (A {', '.join(va) or '-'}, "
                f"B {', '.join(vb) or '-'}): cannot tell whether the servers were the same")
    return (f"different PostgreSQL versions ({', '.join(va)} in A, {', '.join(vb)} in B): "
            f"{WHY_POSTGRES}")


def report_flags(run: LoadedRun, letter: str, archs: list[str]) -> list[str]:
    """A warning per architecture and kind of repeat the run's report flags: such a
    repeat's figures may be off, and with them the comparison."""
    lines = []
    for arch in archs:
        summary = run.summary["arch"][arch]
        for key, why in REPORT_FLAGS:
            if summary.get(key):
                lines.append(f"{letter}: {arch} repeat(s) {summary[key]} flagged by the "
                             f"report ({why}): their figures may be off, and this "
                             "comparison with them")
    return lines


def flags(a: LoadedRun, b: LoadedRun, archs: list[str]) -> list[str]:
    """Every warning: the runs differ by more than the change, or may be off."""
    found = [machine_flag(a, b), postgres_flag(a, b), budget_flag(a, b)]
    found += report_flags(a, "A", archs) + report_flags(b, "B", archs)
    return [f for f in found if f]


def _commit(machine: dict) -> str:
    """'7e2e44700000 (clean tree)' or with '(uncommitted changes)'; 'unknown commit'."""
    commit = (machine.get("git_commit") or "unknown commit")[:12]
    dirty = machine.get("git_dirty")
    state = ("uncommitted changes" if dirty else "clean tree" if dirty is not None
             else "tree state unknown")
    return f"{commit} ({state})"


def notes(a: LoadedRun, b: LoadedRun) -> list[str]:
    """Information, not warnings: commits, software versions, repeats and missing ones."""
    machine_a, machine_b = a.manifest.get("machine") or {}, b.manifest.get("machine") or {}
    lines = [f"commits: A {_commit(machine_a)}, B {_commit(machine_b)}"]
    software = _differing(machine_a, machine_b, [(k, k) for k in SOFTWARE_KEYS])
    if software:
        lines.append(f"software differs: {'; '.join(software)}")
    repeats_a = (a.manifest.get("config") or {}).get("repeats")
    repeats_b = (b.manifest.get("config") or {}).get("repeats")
    if repeats_a != repeats_b:
        lines.append(f"repeats differ ({repeats_a} in A, {repeats_b} in B): allowed, as "
                     "they only change how wide the intervals are")
    sizing_a = (a.manifest.get("config") or {}).get("sizing", "per-process")
    sizing_b = (b.manifest.get("config") or {}).get("sizing", "per-process")
    if sizing_a != sizing_b:
        lines.append(f"sizing differs ({_shown(sizing_a)} in A, {_shown(sizing_b)} in B): "
                     "the ratios B/A measure the sizing policy")
    for letter, run in (("A", a), ("B", b)):
        lines += [f"{letter}: {m['arch']} repeat {m['repeat']} missing ({m['reason']})"
                  for m in run.summary.get("missing") or []]
    rates = [open_rate(run.summary) for run in (a, b)]
    if None not in rates and rates[0] != rates[1]:
        lines.append(f"the open loops ran at {rates[0]} in A and {rates[1]} in B (each a "
                     "share of its own run's capacity): their latencies compare at "
                     "different offered loads")
    return lines


def open_rate(summary: dict) -> str | None:
    """An open loop's offered rate in words ('51.6 req/s'); None without one."""
    loop = phase_summary(summary, "open")
    rate = (loop.get("workload") or {}).get("arrival_rate")
    if rate is None or (loop is summary and (loop.get("workload") or {}).get("users")):
        return None
    return f"{rate} req/s" if isinstance(rate, int | float) else json.dumps(rate)


def repeat_values(arch_summary: dict | None, metric: Metric) -> list[float]:
    """The metric's per-repeat figures in one architecture's summary (those recorded)."""
    return [r[metric.key] for r in (arch_summary or {}).get("repeats") or []
            if r.get(metric.key) is not None]


def figure(values: list[float]) -> dict:
    """A run's mean with its 95% interval (`ci95` None with one repeat) and `n`."""
    est = stats.estimate(values)
    return {"mean": est.mean, "ci95": None if est.half_width is None else [est.lo, est.hi],
            "n": est.n, "values": list(values)}


def _interval(r: dict) -> str:
    """'95% CI 1.05-1.20x'."""
    return f"95% CI {r['lo']:.2f}-{r['hi']:.2f}x"


def _no_interval_reason(n_a: int, n_b: int) -> str:
    """Why stats.ratio gave no interval: a single repeat, else a repeat at zero."""
    if min(n_a, n_b) < 2:
        return "a run has a single repeat"
    return "a repeat measured zero (a logarithm needs a positive figure)"


def verdict(r: dict, n_a: int, n_b: int) -> str:
    """The ratio B/A in words. Only an interval that excludes 1 is a finding ('higher in
    B: 1.12x (95% CI 1.05-1.20x)', 'lower in B: ...'); an interval that includes 1 reads
    'not distinguishable in these runs (...)'; without one, the value and why there is
    none."""
    if r.get("value") is None:
        return "no ratio: A measured zero"
    value = f"{r['value']:.2f}x"
    if r.get("lo") is None or r.get("hi") is None:
        return f"{value}; no interval can be given: {_no_interval_reason(n_a, n_b)}"
    if distinguishable(r):
        direction = "higher" if r["lo"] > 1 else "lower"
        return f"{direction} in B: {value} ({_interval(r)})"
    return f"{NOT_DISTINGUISHABLE} ({value}, {_interval(r)})"


def finding(r: dict) -> str | None:
    """'higher' or 'lower' when the ratio B/A is a finding, else None."""
    if not distinguishable(r):
        return None
    return "higher" if r["lo"] > 1 else "lower"


def _zero_in_both(values_a: list[float], values_b: list[float]) -> bool:
    return not any(values_a) and not any(values_b)


def metric_row(arch: str, metric: Metric, arch_a: dict, arch_b: dict) -> dict | None:
    """One architecture's metric in both runs with the ratio B/A and its verdict; None
    when neither run recorded it."""
    values_a, values_b = repeat_values(arch_a, metric), repeat_values(arch_b, metric)
    row = {"arch": arch, "metric": metric.name, "label": metric.label, "unit": metric.unit,
           "higher_is_better": metric.higher_is_better,
           "a": figure(values_a) if values_a else None,
           "b": figure(values_b) if values_b else None,
           "ratio": None, "verdict": None, "finding": None, "better": None}
    if not values_a and not values_b:
        return None
    if not values_a or not values_b:
        row["verdict"] = f"not recorded in {'A' if not values_a else 'B'}"
        return row
    if _zero_in_both(values_a, values_b):
        # A 0/0 ratio says nothing; that both runs measured none says it all.
        row["verdict"] = "zero in both runs"
        return row
    r = stats.ratio(values_b, values_a).to_dict()
    row["ratio"] = r
    row["verdict"] = verdict(r, len(values_a), len(values_b))
    row["finding"] = finding(r)
    if row["finding"]:
        row["better"] = (row["finding"] == "higher") == metric.higher_is_better
    return row


def metric_rows(a: LoadedRun, b: LoadedRun, archs: list[str]) -> list[dict]:
    """metric_row for every architecture both runs have and every metric of METRICS."""
    rows = []
    for arch in archs:
        for metric in METRICS:
            row = metric_row(arch, metric,
                             phase_summary(a.summary, metric.phase)["arch"].get(arch),
                             phase_summary(b.summary, metric.phase)["arch"].get(arch))
            if row:
                rows.append(row)
    return rows


def _ratio_names(ratios: dict) -> list[str]:
    """The named ratios in a summary's "ratios" (whatever figures it compares)."""
    return [k for k, v in ratios.items() if isinstance(v, dict) and "value" in v]


def overlap(ra: dict, rb: dict) -> bool | None:
    """Whether two ratios' 95% intervals overlap; None when either has none."""
    if None in (ra.get("lo"), ra.get("hi"), rb.get("lo"), rb.get("hi")):
        return None
    return ra["lo"] <= rb["hi"] and rb["lo"] <= ra["hi"]


def agreement(ra: dict, rb: dict) -> str:
    """Whether the two runs agree on a between-architecture ratio, in words."""
    agree = overlap(ra, rb)
    if agree is None:
        missing = "A" if ra.get("lo") is None or ra.get("hi") is None else "B"
        return f"cannot tell: no interval in {missing}"
    return "agree (intervals overlap)" if agree else "differ (intervals do not overlap)"


def between(a: LoadedRun, b: LoadedRun) -> dict:
    """Each run's own between-architecture ratios side by side, and whether they agree;
    `note` says why there are none to compare."""
    ra, rb = a.summary.get("ratios"), b.summary.get("ratios")
    out = {"numerator": None, "denominator": None, "rows": [], "note": None}
    if not ra or not rb:
        which = "either run" if not ra and not rb else "A" if not ra else "B"
        out["note"] = f"no between-architecture ratio in {which} (it needs two architectures)"
        return out
    pair_a, pair_b = (ra["numerator"], ra["denominator"]), (rb["numerator"], rb["denominator"])
    if pair_a != pair_b:
        out["note"] = (f"the runs compare different architectures ({' / '.join(pair_a)} in "
                       f"A, {' / '.join(pair_b)} in B)")
        return out
    out["numerator"], out["denominator"] = pair_a
    pairs = [("", ra, rb)]
    oa, ob = a.summary.get("open_loop"), b.summary.get("open_loop")
    if oa and ob and oa.get("ratios") and ob.get("ratios"):
        pairs.append(("open loop ", oa["ratios"], ob["ratios"]))
    for prefix, x_ratios, y_ratios in pairs:
        names_b = _ratio_names(y_ratios)
        for name in (n for n in _ratio_names(x_ratios) if n in names_b):
            if prefix and not name.startswith("corrected"):
                continue  # the open loop's own goodput ratio is ~1 by design
            x, y = x_ratios[name], y_ratios[name]
            if x.get("value") is None or y.get("value") is None:
                continue
            out["rows"].append({"name": prefix + name, "a": x, "b": y,
                                "agree": overlap(x, y), "text": agreement(x, y)})
    return out


def _run_facts(run: LoadedRun) -> dict:
    """Who a run is: its folder, experiment, commit and completed repeats."""
    machine = run.manifest.get("machine") or {}
    return {"path": str(run.path), "experiment": run.manifest.get("experiment"),
            "git_commit": machine.get("git_commit"), "git_dirty": machine.get("git_dirty"),
            "hostname": machine.get("hostname"),
            "repeats": {arch: s["n"] for arch, s in run.summary["arch"].items()}}


def check_distinct(path_a: Path, path_b: Path) -> None:
    """Refuse one folder given twice: it would compare a run with itself."""
    if Path(path_a).resolve() == Path(path_b).resolve():
        raise LabError(f"{path_a} was given twice: compare two different run folders")


def compare(a: LoadedRun, b: LoadedRun) -> dict:
    """The whole comparison of run B against run A as plain JSON data (docs/compare.md):
    refused (LabError) when the experiments differ."""
    check_same_experiment(a, b)
    archs = common_architectures(a, b)
    return {
        "a": _run_facts(a), "b": _run_facts(b),
        "architectures": archs,
        "only_in_a": [x for x in a.summary["architectures"] if x not in archs],
        "only_in_b": [x for x in b.summary["architectures"] if x not in archs],
        "flags": flags(a, b, archs),
        "notes": notes(a, b),
        "rule": f"a ratio B/A is a finding only when its 95% interval excludes 1; "
                f"otherwise it is {NOT_DISTINGUISHABLE}",
        "method": stats.RATIO_METHOD_NAME,
        "metrics": metric_rows(a, b, archs),
        "between": between(a, b),
    }


def compare_folders(path_a: Path, path_b: Path) -> dict:
    """Load two run folders and compare them (the command's whole job, without output)."""
    check_distinct(path_a, path_b)
    return compare(load_run(path_a), load_run(path_b))


def figure_text(fig: dict | None, unit: str) -> str:
    """'101 [86.7-115]' (the unit is the column's), '101 [no interval]' with one repeat,
    '-' without a figure. Every compared figure is >= 0, so a bound below 0 shows as 0."""
    if fig is None:
        return "-"
    show = pct if unit == "%" else num
    if fig["ci95"] is None:
        return f"{show(fig['mean'])} [no interval]"
    lo, hi = fig["ci95"]
    return f"{show(fig['mean'])} [{show(max(lo, 0))}-{show(hi)}]"


def ratio_cell(r: dict) -> str:
    """A between-architecture ratio: '2.00x [1.88-2.12]', or '[no interval]'."""
    if r.get("lo") is None or r.get("hi") is None:
        return f"{r['value']:.2f}x [no interval]"
    return f"{r['value']:.2f}x [{r['lo']:.2f}-{r['hi']:.2f}]"
