"""Reading a run folder's raw files (docs/results-format.md), read-only.

Every problem is a LabError that names the file: a report is only as good as the
files it is built from, and the user must know which one to look at.
"""

import csv
import json
from dataclasses import dataclass
from pathlib import Path

from archlab import formats
from archlab.errors import LabError
from loadtests import latency

HISTORY_COLUMNS = ("Timestamp", "Name", "Total Request Count", "50%", "95%", "99%")
FAILURE_COLUMNS = ("Method", "Name", "Error", "Occurrences")
METRICS_COLUMNS = ("elapsed_s", "component", "pid", "cpu_percent", "rss_bytes", "pss_bytes")
CONNECTION_COLUMNS = ("elapsed_s", "database", "open", "in_use")
SERIES_COLUMNS = ("t_epoch", "requests", "failures")


@dataclass(frozen=True)
class Repeat:
    """One architecture's repeat: its raw files, parsed."""

    arch: str
    repeat: int
    path: Path
    run: dict
    locust: list[dict]
    history: list[dict]
    failures: list[dict]
    exceptions: int
    metrics: list[dict]
    checkouts: int
    # run.json's format (archlab.formats); the reader has adapted an older one.
    format: int = formats.UNVERSIONED
    # Degraded answers (degraded.jsonl); None: not recorded (runs from before the file).
    degraded: int | None = None
    # The stack's database connections once a second (connections.csv); empty for runs
    # from before the file.
    connections: tuple[dict, ...] = ()
    # An open loop's openloop.json (loadtests.openloop); None for a closed loop.
    openloop: dict | None = None
    # Requests answered so far, on the wall clock (series.csv: (t_epoch, requests,
    # failures) rows); empty for runs from before the file.
    series: tuple[tuple[float, float, float], ...] = ()
    # The generator's event loop lag (looplag.json); None for runs from before it.
    looplag: dict | None = None


@dataclass(frozen=True)
class Missing:
    """A planned repeat that has no completed raw files, and why."""

    arch: str
    repeat: int
    reason: str


@dataclass(frozen=True)
class Run:
    """A run folder: its manifest, the completed repeats and the missing ones."""

    path: Path
    manifest: dict
    architectures: list[str]
    repeats: list[Repeat]
    missing: list[Missing]
    # manifest.json's format (archlab.formats); the reader has adapted an older one.
    format: int = formats.UNVERSIONED

    def of(self, arch: str) -> list[Repeat]:
        """The completed repeats of one architecture, in repeat order."""
        return [r for r in self.repeats if r.arch == arch]


def _broken(path: Path, what: str) -> LabError:
    return LabError(f"{path}: {what}. Raw files are never edited; re-run the benchmark "
                    "if this file is damaged.")


def read_json(path: Path, kind: type = dict):
    """A JSON file whose top level is `kind`."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise _broken(path, "missing") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise _broken(path, f"not readable JSON ({exc})") from None
    if not isinstance(data, kind):
        raise _broken(path, f"expected a JSON {kind.__name__} at the top level")
    return data


def read_csv(path: Path, columns: tuple[str, ...]) -> list[dict]:
    """The rows of a CSV file with a header holding at least `columns`."""
    try:
        with path.open(newline="", encoding="utf-8") as f:
            reader = csv.DictReader(f)
            missing = [c for c in columns if c not in (reader.fieldnames or [])]
            if missing:
                raise _broken(path, f"no column(s) {', '.join(missing)} in the header")
            return list(reader)
    except FileNotFoundError:
        raise _broken(path, "missing") from None
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise _broken(path, f"not readable CSV ({exc})") from None


def number(path: Path, line: int, value: str | None, *, optional: bool = False) -> float | None:
    """A CSV cell as a float; empty or N/A is None when `optional`."""
    if value is None or value.strip() in ("", "N/A"):
        if optional:
            return None
        raise _broken(path, f"line {line}: empty value where a number was expected")
    try:
        return float(value)
    except ValueError:
        raise _broken(path, f"line {line}: {value!r} is not a number") from None


def _locust(path: Path) -> list[dict]:
    entries = read_json(path, list)
    for i, e in enumerate(entries):
        if not isinstance(e, dict) or not {"name", "method", "num_requests", "num_failures",
                                           "response_times"} <= e.keys():
            raise _broken(path, f"entry {i} is not a Locust stats entry (name, method, "
                                "num_requests, num_failures, response_times)")
    # Locust's --json lists the endpoints only; drop an "Aggregated" total if a future
    # version adds one, so it is never counted twice.
    return [e for e in entries if e["name"] != "Aggregated"]


def _history(path: Path) -> list[dict]:
    rows = []
    for line, r in enumerate(read_csv(path, HISTORY_COLUMNS), start=2):
        if r["Name"] != "Aggregated":
            continue
        rows.append({"t": number(path, line, r["Timestamp"]),
                     "requests": number(path, line, r["Total Request Count"]),
                     # Users running then (None where the column is missing).
                     "users": number(path, line, r.get("User Count"), optional=True),
                     "p50_ms": number(path, line, r["50%"], optional=True),
                     "p95_ms": number(path, line, r["95%"], optional=True),
                     "p99_ms": number(path, line, r["99%"], optional=True)})
    return rows


def _failures(path: Path) -> list[dict]:
    return [{"method": r["Method"], "name": r["Name"], "error": r["Error"],
             "occurrences": int(number(path, line, r["Occurrences"]))}
            for line, r in enumerate(read_csv(path, FAILURE_COLUMNS), start=2)]


def _exceptions(path: Path) -> int:
    return sum(int(number(path, line, r["Count"]))
               for line, r in enumerate(read_csv(path, ("Count", "Message")), start=2))


def _metrics(path: Path) -> list[dict]:
    rows = []
    for line, r in enumerate(read_csv(path, METRICS_COLUMNS), start=2):
        rows.append({"t": number(path, line, r["elapsed_s"]),
                     # The wall clock and the cumulative CPU seconds (None in files
                     # written before the sampler recorded them).
                     "epoch": number(path, line, r.get("t_epoch"), optional=True),
                     "cpu_s": number(path, line, r.get("cpu_seconds"), optional=True),
                     "component": r["component"], "pid": r["pid"],
                     "cpu": number(path, line, r["cpu_percent"], optional=True),
                     "rss": number(path, line, r["rss_bytes"], optional=True),
                     "pss": number(path, line, r["pss_bytes"], optional=True)})
    return rows


def _series(path: Path) -> tuple[tuple[float, float, float], ...]:
    if not path.exists():
        return ()
    return tuple((number(path, line, r["t_epoch"]), number(path, line, r["requests"]),
                  number(path, line, r["failures"]))
                 for line, r in enumerate(read_csv(path, SERIES_COLUMNS), start=2))


def _looplag(path: Path) -> dict | None:
    if not path.exists():
        return None
    data = read_json(path)
    if not isinstance(data.get("lag"), dict):
        raise _broken(path, "no 'lag' record")
    return data


def _connections(path: Path) -> tuple[dict, ...]:
    if not path.exists():
        return ()
    return tuple({"t": number(path, line, r["elapsed_s"]), "database": r["database"],
                  "open": int(number(path, line, r["open"])),
                  "in_use": int(number(path, line, r["in_use"]))}
                 for line, r in enumerate(read_csv(path, CONNECTION_COLUMNS), start=2))


def _json_lines(path: Path) -> int:
    """How many JSON lines the file holds (blank lines aside)."""
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except FileNotFoundError:
        raise _broken(path, "missing") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise _broken(path, f"not readable ({exc})") from None
    for i, text in enumerate(lines, start=1):
        if text.strip():
            try:
                json.loads(text)
            except json.JSONDecodeError as exc:
                raise _broken(path, f"line {i} is not JSON ({exc})") from None
    return sum(1 for text in lines if text.strip())


def _degraded(path: Path) -> int | None:
    """Degraded answers the generator saw; None when the run did not record them (runs
    made before degraded.jsonl existed)."""
    return _json_lines(path) if path.exists() else None


def _openloop(path: Path) -> dict | None:
    """An open loop's histograms and counts; None when the repeat was a closed loop."""
    if not path.exists():
        return None
    data = read_json(path)
    # Format 1 (no "format": corrected/uncorrected mixed every answer) and 2 share the
    # keys checked here; a newer one is refused before they are read.
    formats.check(data, path, latency.FORMAT)
    for key in ("intended", "completed", "corrected", "uncorrected", "scheduler_lag"):
        if key not in data:
            raise _broken(path, f"no {key!r}")
    return data


def read_repeat(arch: str, repeat: int, path: Path) -> Repeat:
    """Parse one completed repeat folder."""
    run = read_json(path / "run.json")
    # Before reading any field: a newer run.json may have moved the ones read here.
    # Formats 1 (unversioned) and 2 (1 with `format`) have the same fields.
    version = formats.check(run, path / "run.json", formats.RUN_FORMAT)
    for key in ("duration_s", "generator"):
        if key not in run:
            raise _broken(path / "run.json", f"no {key!r}")
    if not run["duration_s"] or run["duration_s"] <= 0:
        raise _broken(path / "run.json", "duration_s must be positive")
    return Repeat(arch=arch, repeat=repeat, path=path, run=run,
                  locust=_locust(path / "locust.json"),
                  history=_history(path / "locust_stats_history.csv"),
                  failures=_failures(path / "locust_failures.csv"),
                  exceptions=_exceptions(path / "locust_exceptions.csv"),
                  metrics=_metrics(path / "metrics.csv"),
                  checkouts=_json_lines(path / "checkouts.jsonl"),
                  format=version, degraded=_degraded(path / "degraded.jsonl"),
                  connections=_connections(path / "connections.csv"),
                  openloop=_openloop(path / "openloop.json"),
                  series=_series(path / "series.csv"),
                  looplag=_looplag(path / "looplag.json"))


def _plan(manifest: dict, run_dir: Path) -> list[tuple[str, int]]:
    """The (arch, repeat) pairs the run meant to produce: the manifest's order, else
    every configured architecture times the configured repeats."""
    try:
        if manifest.get("order"):
            return [(str(arch), int(rep)) for arch, rep in manifest["order"]]
        config = manifest.get("config") or {}
        return [(str(arch), rep) for rep in range(1, int(config["repeats"]) + 1)
                for arch in config["architectures"]]
    except (KeyError, TypeError, ValueError):
        raise _broken(run_dir / "manifest.json",
                      "neither an 'order' of [architecture, repeat] pairs nor "
                      "config.architectures and config.repeats") from None


def _unfinished(folder: Path) -> str:
    """Why a repeat has no run.json: the runner's aborted.json says, when it got to write
    one."""
    if not (folder / "aborted.json").is_file():
        return "no run.json: the repeat did not finish"
    aborted = read_json(folder / "aborted.json")
    return f"{aborted.get('status', 'aborted')}: {aborted.get('error') or 'no reason given'}"


def read_run(run_dir: Path) -> Run:
    """The manifest and every completed repeat; a repeat folder without run.json (the
    run stopped before it finished) is listed as missing, not an error."""
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise LabError(f"{run_dir}: no such run folder")
    if not (run_dir / "manifest.json").exists() and not _repeat_folders(run_dir):
        raise _not_a_run_folder(run_dir)
    manifest = read_json(run_dir / "manifest.json")
    # Formats 1 (unversioned) and 2 (1 with `format`) have the same fields.
    version = formats.check(manifest, run_dir / "manifest.json", formats.MANIFEST_FORMAT)
    plan = _plan(manifest, run_dir)
    architectures = list(dict.fromkeys(arch for arch, _ in plan))
    repeats, missing = [], []
    for arch, rep in sorted(plan, key=lambda p: (architectures.index(p[0]), p[1])):
        folder = run_dir / arch / str(rep)
        if not folder.is_dir():
            missing.append(Missing(arch, rep, "no folder: the repeat did not run"))
        elif not (folder / "run.json").is_file():
            missing.append(Missing(arch, rep, _unfinished(folder)))
        else:
            repeats.append(read_repeat(arch, rep, folder))
    if not repeats:
        raise LabError(f"{run_dir}: no completed repeat (no <arch>/<repeat>/run.json); "
                       "nothing to report")
    return Run(run_dir, manifest, architectures, repeats, missing, format=version)


def _repeat_folders(folder: Path) -> list[Path]:
    """The <arch>/<repeat>/ folders in `folder` (a run folder has one per repeat run)."""
    try:
        return [rep for arch in folder.iterdir() if arch.is_dir()
                for rep in arch.iterdir() if rep.is_dir() and rep.name.isdigit()]
    except OSError:  # unreadable: let reading the manifest say what is wrong
        return [folder]


def _not_a_run_folder(folder: Path) -> LabError:
    """A folder with neither a manifest nor repeat folders: the user gave the wrong one
    (e.g. results/ itself), not a damaged run; name a run folder inside when there is."""
    try:
        runs = sorted(p for p in folder.iterdir() if (p / "manifest.json").is_file())
    except OSError:
        runs = []
    hint = f", e.g. {runs[-1]}" if runs else ""
    return LabError(f"{folder} is not a run folder (no manifest.json): give a folder made "
                    f"by `archlab bench`{hint}")
