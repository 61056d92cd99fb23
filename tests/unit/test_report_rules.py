"""The report's rules on fixture runs made by editing a copy of tests/fixtures/run: a
ratio whose interval includes 1 is never a finding; a drifting repeat and a sold-out
repeat are flagged; rows and charts that cannot apply are left out; the why paragraph
computes its figures from the run; demo, bench and report print one summary."""

import csv
import io
import json
import re
import shutil
from pathlib import Path

import pytest

from archlab import bench, report
from archlab.commands import demo
from archlab.commands import report as report_command
from archlab.report import console, drift, why

FIXTURE = Path(__file__).parents[1] / "fixtures" / "run"
ARCHS = ("monolith", "microservices")


def copy_run(tmp_path: Path, name: str = "20261125T184000Z_fixture") -> Path:
    run_dir = tmp_path / name
    shutil.copytree(FIXTURE, run_dir)
    return run_dir


def edit_json(path: Path, change) -> None:
    data = json.loads(path.read_text())
    change(data)
    path.write_text(json.dumps(data, indent=2))


def scale_requests(folder: Path, factor: float) -> None:
    """Multiply every endpoint's requests (and histogram counts) of a repeat."""
    def change(entries):
        for e in entries:
            e["num_requests"] = round(e["num_requests"] * factor)
            e["response_times"] = {k: round(v * factor) for k, v in e["response_times"].items()}
    edit_json(folder / "locust.json", change)


def scale_latency(folder: Path, factor: float) -> None:
    """Multiply every response time of a repeat's histograms."""
    def change(entries):
        for e in entries:
            e["response_times"] = {str(round(int(k) * factor)): v
                                   for k, v in e["response_times"].items()}
    edit_json(folder / "locust.json", change)


def rewrite_history(folder: Path, rates: list[float]) -> None:
    """Give the Aggregated history rows cumulative counts growing at `rates` per second
    (one rate per row after the first)."""
    path = folder / "locust_stats_history.csv"
    rows = list(csv.DictReader(io.StringIO(path.read_text())))
    aggregated = [r for r in rows if r["Name"] == "Aggregated"]
    assert len(aggregated) == len(rates) + 1
    total = float(aggregated[0]["Total Request Count"])
    for row, rate in zip(aggregated[1:], rates, strict=True):
        total += rate
        row["Total Request Count"] = str(int(total))
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=list(rows[0]))
    writer.writeheader()
    writer.writerows(rows)
    path.write_text(out.getvalue())


def every_repeat(run_dir: Path):
    for arch in ARCHS:
        for rep in (1, 2):
            yield run_dir / arch / str(rep)


def with_settings(run_dir: Path) -> Path:
    """The stack settings today's bench records, for the budget's invoice rows."""
    settings = {"INVOICE_DELIVERY": "inline", "INVOICE_PRINTER": "spool"}
    for folder in every_repeat(run_dir):
        edit_json(folder / "run.json", lambda r: r["stack"].update(settings=settings))
    return run_dir


def browse_only(run_dir: Path) -> None:
    """The fixture as a browsing run: one BrowserUser persona, no orders, logins or 409s."""
    edit_json(run_dir / "manifest.json",
              lambda m: m["config"].update(personas={"BrowserUser": 1}))
    for folder in every_repeat(run_dir):
        edit_json(folder / "run.json", lambda r: r.update(personas={"BrowserUser": 1}))
        edit_json(folder / "locust.json", lambda entries: entries.__setitem__(
            slice(None), [e for e in entries if e["method"] == "GET"]))
        (folder / "checkouts.jsonl").write_text("")
        (folder / "locust_failures.csv").write_text(
            "Method,Name,Error,Occurrences,First Seen,Last Seen\n")


def build(run_dir: Path) -> tuple[dict, str, str]:
    report.build(run_dir)
    return (json.loads((run_dir / "summary.json").read_text()),
            (run_dir / "report.html").read_text(), (run_dir / "report.md").read_text())


def headline_of(md: str) -> str:
    return md.split("## Headline", 1)[1].split("## Summary", 1)[0]


def row(md: str, label: str) -> str:
    return next(line for line in md.splitlines() if line.startswith(f"| {label} |"))


# -- a ratio whose interval includes 1 -------------------------------------------------


@pytest.fixture(scope="module")
def undecided(tmp_path_factory):
    """Microservices repeat 2 served 4x the requests and answered 4x as fast: the
    throughput and p95 ratios' intervals both include 1."""
    run_dir = copy_run(tmp_path_factory.mktemp("undecided"))
    scale_requests(run_dir / "microservices" / "2", 4)
    scale_latency(run_dir / "microservices" / "2", 0.25)
    summary, _, md = build(run_dir)
    return run_dir, summary, md


def test_throughput_and_p95_intervals_across_one(undecided):
    _, summary, _ = undecided
    for name in ("throughput", "goodput", "p95"):
        r = summary["ratios"][name]
        assert r["lo"] < 1 < r["hi"], name


def test_an_interval_across_one_is_not_a_finding_in_the_headline(undecided):
    _, _, md = undecided
    lead = headline_of(md).split("**Workload.**")[0]
    assert "Goodput: not distinguishable in this run between the monolith and the " \
           "microservices" in lead
    assert "p95 response time: not distinguishable in this run (" in lead
    assert "served" not in lead


def test_an_interval_across_one_is_not_a_finding_in_the_tables(undecided, buying):
    _, _, md = undecided
    for label in ("throughput (req/s)", "p95 (ms)"):
        assert re.search(r"\| \d\.\d\dx: not distinguishable in this run \|", row(md, label))
    # where the interval excludes 1 the ratio stands as a finding
    assert "| 2.00x | 1.88–2.12x |" in row(buying[2], "throughput (req/s)")


def test_an_interval_across_one_is_not_a_finding_in_the_captions(undecided):
    _, _, md = undecided
    caption = next(x for x in md.splitlines() if x.startswith("*Throughput.*"))
    assert "throughput not distinguishable in this run (" in caption
    caption = next(x for x in md.splitlines() if x.startswith("*Response time percentiles.*"))
    assert "p95 not distinguishable in this run (" in caption


def test_an_interval_across_one_is_not_a_finding_on_the_console(undecided):
    run_dir, _, _ = undecided
    lines = console.run_lines(run_dir)
    said = {line.split()[0]: line for line in lines if line.startswith("  ")}
    assert said["throughput"].endswith(", not distinguishable in this run")
    assert said["p95"].endswith(", not distinguishable in this run")


def test_the_why_paragraph_does_not_explain_a_difference_not_found(undecided):
    _, _, md = undecided
    why = headline_of(md).split("**Why.**")[1].split("\n")[0]
    assert why.startswith(" Throughput was not distinguishable in this run (")
    assert "no difference to explain" in why
    assert "bounds how many" not in why and "account for" not in why


# -- drift ------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def drifting(tmp_path_factory):
    """Monolith repeat 2 falls from 100 to 50 req/s half-way; repeat 1 stays steady."""
    run_dir = copy_run(tmp_path_factory.mktemp("drifting"))
    rewrite_history(run_dir / "monolith" / "2", [100] * 4 + [50] * 5)
    return (run_dir, *build(run_dir))


def test_the_drift_rule_flags_a_drop_and_not_a_steady_repeat(drifting):
    _, summary, _, _ = drifting
    mono = summary["arch"]["monolith"]
    steady, dropped = (r["drift"] for r in mono["repeats"])
    # four parts of 2.25 s over t = 1..10 s: the drop starts in the third
    assert dropped["rates"] == pytest.approx([100, (1.75 * 100 + 0.5 * 50) / 2.25, 50, 50])
    assert dropped["lowest_share"] == pytest.approx(0.5, abs=0.01) and dropped["flagged"]
    assert steady["lowest_share"] == pytest.approx(98.44 / 100.89, abs=0.01)
    assert not steady["flagged"]
    assert mono["drifting_repeats"] == [2]
    assert summary["arch"]["microservices"]["drifting_repeats"] == []
    assert summary["drift_rule"] == {"windows": 4, "min_share": 0.7, "min_window_s": 2.0}


def test_a_drifting_repeat_is_flagged_in_the_report(drifting):
    _, _, html, md = drifting
    assert "monolith repeat 2: throughput drifted within its measured window: its " \
           "slowest 2.2-s part ran at 50.0 req/s, 50% of its fastest (100 req/s)" in md
    # the rule's verdict stands beside both repeats
    assert re.search(r"\| monolith \| 1 \|.*\| 98% ok \|", md)
    assert re.search(r"\| monolith \| 2 \|.*\| 50% DRIFTING \|", md)
    assert "Drifting: monolith repeat 2." in md
    assert "below 70% of its fastest part" in html


def test_a_drifting_repeat_is_flagged_on_the_console(drifting):
    lines = console.run_lines(drifting[0])
    flags = [line for line in lines if "drifted" in line]
    assert flags == ["  ! repeat 2: throughput drifted within its measured window (slowest "
                     "part 50% of the fastest; report: How to read this, Drift)"]
    rows = [i for i, line in enumerate(lines) if line.split(" ", 1)[0] in ARCHS]
    assert rows[0] < lines.index(flags[0]) < rows[1]


def _history(counts: list[float], users: list[int] | None = None) -> list[dict]:
    users = users or [16] * len(counts)
    return [{"t": float(t), "requests": c, "users": u}
            for t, (c, u) in enumerate(zip(counts, users, strict=True))]


def per_second(rates: list[float]) -> list[dict]:
    """History rows of every user running, one a second, serving `rates` req/s."""
    rows, total = [], 0.0
    for t, rate in enumerate([0.0, *rates]):
        total += rate
        rows.append({"t": float(t), "requests": total, "users": 16})
    return rows


def test_the_jitter_of_a_steady_repeat_is_not_a_drift_and_a_drop_half_way_is():
    # What a quiet demo's steady repeat looked like: 3-s parts at 104, 122, 116, 97 req/s.
    jitter = drift.judge(per_second([104] * 3 + [122] * 3 + [116] * 3 + [97] * 3))
    assert jitter["lowest_share"] == pytest.approx(97 / 122) and not jitter["flagged"]
    # A repeat falling from about 560 to about 370 req/s half-way.
    dropped = drift.judge(per_second([560] * 6 + [370] * 6))
    assert dropped["lowest_share"] == pytest.approx(370 / 560) and dropped["flagged"]


def test_the_drift_rule_leaves_out_the_spawn_and_judges_only_what_it_can():
    # users still spawning for two rows: their slow seconds are not a drift
    counts = [0, 10, 40] + [40 + 100 * k for k in range(1, 11)]
    verdict = drift.judge(_history(counts, [4, 8] + [16] * 11))
    assert not verdict["flagged"] and verdict["lowest_share"] == pytest.approx(1.0)
    assert drift.judge(_history(counts))["flagged"]  # counted from the start it would be
    # a history without its User Count column is judged from its first row
    no_users = [row | {"users": None} for row in _history(counts)]
    assert drift.judge(no_users)["flagged"]
    too_short = drift.judge(_history([0, 100, 200, 300]))
    assert not too_short["flagged"] and too_short["note"].startswith("not judged: 3 s")
    assert drift.judge(_history(counts), "step")["note"].startswith("not judged: the load "
                                                                   "shape 'step'")


# -- rows and charts that cannot apply ---------------------------------------------------


@pytest.fixture(scope="module")
def browsing(tmp_path_factory):
    run_dir = with_settings(copy_run(tmp_path_factory.mktemp("browsing")))
    browse_only(run_dir)
    return build(run_dir)


@pytest.fixture(scope="module")
def buying(tmp_path_factory):
    return build(with_settings(copy_run(tmp_path_factory.mktemp("buying"))))


def test_a_browsing_run_has_no_checkout_409_or_stock_rows(browsing):
    summary, _, md = browsing
    assert summary["workload"]["buys"] is False
    for label in ("of which 409", "201 checkouts seen"):
        assert f"| {label} |" not in md
    assert "lowest stock" not in md and "invoices delivered" not in md
    assert "| stack settings (both) |" in md
    assert "| errors, all repeats |" in md
    assert "Browsing only: BrowserUser (" in md and "No persona buys" in md


def test_a_buying_run_has_them(buying):
    summary, _, md = buying
    assert summary["workload"]["buys"] is True
    assert row(md, "of which 409").split("|")[2].strip() == "5"
    assert "| 201 checkouts seen |" in md and "lowest stock" in md
    assert "invoices delivered" in md
    assert "Browsing and buying, weighted 3 : 1: BrowserUser (" in md


def test_the_workload_stands_next_to_the_headline(buying):
    _, _, md = buying
    headline = headline_of(md)
    workload = headline.split("**Workload.**")[1].split("\n")[0]
    assert "Closed loop with think time: 20 users, each waiting for its answer and then " \
           "0.5–1.5 s before its next step" in workload
    assert "Measured: 2 repeats per architecture of 10 s each after 5 s of warm-up " \
           "(Locust's windows 10.0 s" in workload
    assert "run in the order monolith#1, microservices#1, monolith#2, microservices#2;" \
           in workload
    assert "the system under test on 1 core" in workload


def test_a_one_core_run_has_no_per_core_chart(buying):
    summary, _, md = buying
    assert summary["sut_cores"] == 1
    assert "charts/rps_per_core.png" not in md and "req/s per core" not in md
    assert "charts/rps_per_gib.png" in md


def test_a_two_core_run_has_it(tmp_path):
    run_dir = copy_run(tmp_path)
    edit_json(run_dir / "manifest.json",
              lambda m: m["budget"].update(cpus_total=3, sut_cpus=[0, 1], generator_cpus=[2]))
    summary, _, md = build(run_dir)
    assert summary["sut_cores"] == 2
    assert (run_dir / "charts" / "rps_per_core.png").is_file()
    assert "charts/rps_per_core.png" in md and "| req/s per core |" in md


def test_a_chart_an_earlier_build_drew_does_not_linger(tmp_path):
    run_dir = copy_run(tmp_path)
    (run_dir / "charts").mkdir()
    (run_dir / "charts" / "efficiency.png").write_bytes(b"an older build's chart")
    build(run_dir)
    assert not (run_dir / "charts" / "efficiency.png").exists()
    assert (run_dir / "charts" / "throughput.png").is_file()


# -- stock ---------------------------------------------------------------------------------


def test_a_sold_out_repeat_is_flagged(tmp_path):
    run_dir = copy_run(tmp_path)
    edit_json(run_dir / "microservices" / "2" / "run.json",
              lambda r: r.update(stock_min_available=0, restocked_to=300))
    summary, _, md = build(run_dir)
    micro = summary["arch"]["microservices"]
    assert micro["sold_out_repeats"] == [2]
    assert summary["arch"]["monolith"]["sold_out_repeats"] == []
    assert [r["restocked_to"] for r in micro["repeats"]] == [None, 300]
    assert "SOLD OUT: in microservices repeat 2 a product's available stock reached 0" in (
        headline_of(md))
    assert re.search(r"\| microservices \| 2 \|.*\| 0 SOLD OUT \| 300 \|", md)
    assert re.search(r"\| monolith \| 1 \|.*\| 3 \| - \|", md)
    assert "Before each repeat every product was restocked to 300 units." in md
    assert any(line.startswith("  ! SOLD OUT in repeat(s) [2]")
               for line in console.run_lines(run_dir))


def test_old_runs_without_stock_or_restock_are_read(tmp_path):
    run_dir = copy_run(tmp_path)
    for folder in every_repeat(run_dir):
        edit_json(folder / "run.json", lambda r: r.pop("stock_min_available"))
    summary, _, md = build(run_dir)
    first = summary["arch"]["monolith"]["repeats"][0]
    assert first["stock_min_available"] is None and first["restocked_to"] is None
    assert not first["sold_out"] and "not recorded" in row(md, "monolith")
    assert "restocked to" not in md


# -- why ------------------------------------------------------------------------------------


def test_the_why_paragraph_computes_its_figures_from_the_run(buying):
    summary, _, md = buying
    # monolith: 60% + 30% of a core at 100 and 102 req/s; microservices: 100% at 50 and 51
    mono = [90 / 100 / rps * 1000 for rps in (100, 102)]
    micro = [100 / 100 / rps * 1000 for rps in (50, 51)]
    assert [r["cpu_ms_per_request"] for r in summary["arch"]["monolith"]["repeats"]] == (
        pytest.approx(mono))
    assert summary["arch"]["microservices"]["stats"]["cpu_ms_per_request"]["mean"] == (
        pytest.approx(sum(micro) / 2))
    assert summary["arch"]["monolith"]["cpu_ms_by_component"] == pytest.approx(
        {"monolith": sum(60 / rps * 10 for rps in (100, 102)) / 2,
         "postgres": sum(30 / rps * 10 for rps in (100, 102)) / 2})
    why = headline_of(md).split("**Why.**")[1].split("\n")[0]
    assert why.startswith(
        " Per request, the microservices spent 19.8 ms of CPU (PostgreSQL 6.93, gateway "
        "5.94, catalog 3.96, inventory 1.98, accounts 0.99 ms) and the monolith 8.91 ms "
        "(monolith 5.94, PostgreSQL 2.97 ms): 2.22x as much (95% CI ")
    assert "HTTP hops per request: not recorded" in why
    assert "Time per hop is not measured" in why
    # 90% and 100% of the one core: saturated, so CPU per request bounds the throughput
    assert "Both kept the system's 1 core busy (90% in the monolith, 100% in the " \
           "microservices)" in why
    assert why.endswith("the microservices spent 2.22x the CPU per request, and the "
                        "monolith served 2.00x the requests per second.")


@pytest.mark.parametrize(("halved", "verdict"), [
    (ARCHS, "The microservices used 50% of the system's 1 core (the monolith 45%), so CPU "
            "per request alone does not account for the 2.00x: part of their requests' time "
            "went to waiting"),
    (("monolith",), "The microservices kept the system's 1 core 100% busy, so the CPU their "
                    "requests cost bounds their throughput (at most about 50 req/s on 1 "
                    "core); the monolith used 45%, so CPU did not set its pace alone."),
])
def test_the_why_paragraph_counts_hops_and_says_when_the_cores_were_not_saturated(
        tmp_path, halved, verdict):
    run_dir = copy_run(tmp_path)
    lines = {"monolith": {"monolith": 1000}, "microservices": {
        "gateway": 500, "catalog": 500, "inventory": 350}}
    for folder in every_repeat(run_dir):
        arch = folder.parent.name
        edit_json(folder / "run.json", lambda r, arch=arch: r.update(census={
            "entrypoint": "monolith" if arch == "monolith" else "gateway",
            "processes": [{"pid": 1, "component": arch, "role": "web worker", "threads": 9}],
            "access_log_lines": lines[arch]}))
        if arch in halved:  # half the CPU in every sample: the core is not saturated
            metrics = folder / "metrics.csv"
            head, *rows = metrics.read_text().splitlines()
            cells = [r.split(",") for r in rows]
            metrics.write_text("\n".join([head] + [",".join(c[:3] + [str(float(c[3]) / 2)]
                                                           + c[4:]) for c in cells]) + "\n")
    _, _, md = build(run_dir)
    why = headline_of(md).split("**Why.**")[1].split("\n")[0]
    assert "Each request crossed 1.00 HTTP hops in the monolith against 2.70 in the " \
           "microservices" in why
    assert verdict in why


# -- one summary on the console ----------------------------------------------------------


def test_demo_bench_and_report_print_the_same_summary(tmp_path, monkeypatch):
    made = copy_run(tmp_path / "bench")

    def fake_bench(experiment, *, echo, **_):
        bench.build_report(made, echo)
        return made

    monkeypatch.setattr(bench, "run", fake_bench)
    said_by_demo = []
    demo.run(echo=said_by_demo.append)
    said_by_report = []
    report_command.run(made, echo=said_by_report.append)
    summary = console.run_lines(made)
    assert said_by_demo[-len(summary):] == summary == said_by_report[-len(summary):]
    assert sum(line.startswith("report: ") for line in said_by_demo) == 1
    assert summary[-1] == f"report: {made / 'report.html'}"
    assert any(line.startswith("req/s: each repeat's requests over its measured window")
               for line in summary)
    assert summary[0].startswith("workload: browsing and buying (BrowserUser, BuyerUser), "
                                 "closed loop, 20 users, think time 0.5-1.5 s")


def test_the_why_paragraph_sums_the_idle_components_into_one_figure():
    assert why._parts({"gateway": 4.37, "catalog": 3.0, "orders": 0.01, "accounts": 0.0,
                       "payments": 0.01}) == "gateway 4.37, catalog 3.00, 3 others 0.02 ms"
    # a single small one keeps its name
    assert why._parts({"monolith": 2.89, "postgres": 1.33, "monolith-worker": 0.0}) == \
        "monolith 2.89, PostgreSQL 1.33, monolith-worker 0.00 ms"
