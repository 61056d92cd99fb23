"""The measurement's own floor, end to end: a short open-loop bench on both architectures
sends its schedule once to the floor app's /readyz before the repeats, records it in
the manifest and the report states it. Runs at test_bench's port base (tests/ports.py;
the two modules run one after the other, each bench taking its stacks down). Counts, not
timings: how long a request took is never asserted.
"""

import json

import pytest

from archlab.commands import bench as bench_command
from archlab.platforms.local import LocalPlatform
from archlab.report import floor as floor_report
from tests import ports

PORT_BASE = ports.BENCH
ARCHITECTURES = ("monolith", "microservices")
RATE, SECONDS = 5, 3

EXPERIMENT = f"""\
description: a short open loop at a low rate, for the floor's test
personas: {{BrowserUser: 1}}
arrival_rate: {RATE}
max_in_flight: 8
warmup_s: 1
duration_s: {SECONDS}
repeats: 1
architectures: [monolith, microservices]
"""


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    LocalPlatform(PORT_BASE).down()  # whatever an interrupted run left at this base
    folder = tmp_path_factory.mktemp("floor")
    (folder / "open.yaml").write_text(EXPERIMENT)
    return bench_command.run(folder / "open.yaml", archs=ARCHITECTURES, port_base=PORT_BASE,
                             results_dir=folder / "results", echo=print)


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_the_floor_ran_the_same_schedule_and_every_arrival_was_answered(run_dir):
    loop = json.loads((run_dir / "floor" / "openloop.json").read_text())
    assert loop["complete"] and loop["steps"] == [[RATE, SECONDS]]
    assert loop["max_in_flight"] == 8
    assert loop["intended"] == RATE * SECONDS
    assert loop["completed"] == loop["intended"] and loop["unfinished"] == 0
    assert loop["corrected"]["count"] >= loop["intended"]
    assert (run_dir / "floor" / "warmup" / "openloop.json").is_file()
    stats = json.loads((run_dir / "floor" / "locust.json").read_text())
    assert [e["name"] for e in stats] == ["/readyz"]  # the null endpoint, nothing else
    assert sum(e["num_failures"] for e in stats) == 0
    assert not LocalPlatform(PORT_BASE).running()


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_the_manifest_records_the_floor_from_its_openloop_json(run_dir):
    record = json.loads((run_dir / "manifest.json").read_text())["floor"]
    loop = json.loads((run_dir / "floor" / "openloop.json").read_text())
    assert record["error"] is None
    assert record["app"] == "archlab.floors.apps.monolith:app"
    assert record["endpoint"] == "GET /readyz"
    assert record["steps"] == [[RATE, SECONDS]]
    assert record["corrected"] == {k: loop["corrected"][k]
                                   for k in ("p50_ms", "p95_ms", "p99_ms")}
    assert record["intended"] == record["completed"] == RATE * SECONDS
    assert all(record["corrected"][k] > 0 for k in ("p50_ms", "p95_ms", "p99_ms"))
    assert record["failures"] == 0
    # the repeats ran as before, each on its own stack
    for arch in ARCHITECTURES:
        assert (run_dir / arch / "1" / "run.json").is_file()


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_the_report_states_the_floor(run_dir):
    summary = json.loads((run_dir / "summary.json").read_text())
    text = floor_report.text(summary["floor"])
    assert text.startswith("The measurement's own floor: the same schedule against a null "
                           "endpoint")
    # the HTML escapes the apostrophes; the Markdown keeps the text as it is
    assert text in (run_dir / "report.md").read_text()
    assert "own floor" in (run_dir / "report.html").read_text()
