"""The open loop's recorder and driver without a server: the real Driver (gevent,
Locust's Environment and statistics) runs personas whose requests fire Locust's request
event with set outcomes (tests/unit/openloop_fakes.py, in a process of its own: Locust
monkey-patches the process it is imported in). Counts and recorded values, never how
long anything took on this machine."""

import json
import os
import subprocess
import sys

import pytest

from archlab.config import project_root
from archlab.report import stats
from loadtests import latency


def drive(steps, slots=4, *, task=(("/a", "ok"),), hang=False, drain_s=0.3):
    """Run the schedule `steps` through the Driver; openloop.json's content and Locust's
    totals ({"requests", "failures", "names"})."""
    args = {"steps": steps, "slots": slots, "task": task, "hang": hang, "drain_s": drain_s}
    done = subprocess.run([sys.executable, "-m", "tests.unit.openloop_fakes",
                           json.dumps(args)], cwd=project_root(), capture_output=True,
                          text=True, timeout=120,
                          env=dict(os.environ, PYTHONPATH=str(project_root())))
    assert done.returncode == 0, done.stderr
    out = json.loads(done.stdout)
    return out["loop"], out["locust"]


def test_arrivals_unfinished_at_the_drain_end_are_censored_and_failed():
    # Every task hangs: 4 arrivals hold the slots, the other 6 wait for one.
    loop, _ = drive([(20.0, 0.5)], slots=4, hang=True)
    assert loop["intended"] == 10 and loop["completed"] == 0
    assert loop["unfinished"] == 10 and loop["failed_arrivals"] == 10
    assert loop["unfinished_in_flight"] == 4 and loop["unfinished_waiting"] == 6
    assert loop["censored"]["count"] == 10
    # At least the drain: each censored value is drain end - due.
    assert latency.count_at_or_above(latency.decode(loop["censored"]["hdr"]), 300) == 10
    every = loop["all_arrivals"]
    assert every["count"] == 10 and every["censored"] == 10
    assert all(every["lower_bound"].values())


def test_a_percentile_below_the_censored_values_is_exact():
    answered, censored = latency.new_histogram(), latency.new_histogram()
    for _ in range(99):
        latency.record_ms(answered, 5.0)
    latency.record_ms(censored, 10_000.0)
    record = latency.describe_censored(answered, censored)
    assert record["count"] == 100 and record["censored"] == 1
    assert record["lower_bound"] == {"p50": False, "p95": False, "p99": False,
                                     "p999": True}


def test_failed_and_degraded_answers_are_kept_apart_from_successes():
    task = (("/a", "ok"), ("/b", "failed"), ("/c", "degraded"))
    loop, locust = drive([(20.0, 0.5)], task=task)
    assert loop["requests"] == {"ok": 10, "failed": 10, "degraded": 10}
    assert loop["corrected"]["count"] == loop["uncorrected"]["count"] == 10
    assert loop["failed"]["count"] == 10 and loop["degraded"]["count"] == 10
    assert set(loop["by_name"]) == {"/a"}
    # Each arrival had a failure: none is a successful arrival.
    assert loop["arrival"]["count"] == 0 and loop["arrival_failed"]["count"] == 10
    assert locust["failures"] == 10


def test_each_step_has_its_own_records_and_the_whole_has_all():
    loop, _ = drive([(10.0, 0.5), (30.0, 0.5)], slots=8)
    first, second = loop["by_step"]
    assert (first["intended"], second["intended"]) == (5, 15)
    assert (first["corrected"]["count"], second["corrected"]["count"]) == (5, 15)
    assert first["rate"] == 10.0 and second["arrivals_per_s"] == 30.0
    assert loop["intended"] == loop["corrected"]["count"] == 20


def test_the_schedule_assigns_each_arrival_to_its_step():
    schedule = list(latency.intended_schedule([(10, 2), (20, 1)]))
    assert [step for _, step in schedule] == [0] * 20 + [1] * 20


def test_a_task_of_several_requests_is_one_arrival_and_the_rates_say_so():
    task = (("/a", "ok"), ("/b", "ok"), ("/c", "ok"))
    loop, _ = drive([(20.0, 0.5)], task=task)
    assert loop["intended"] == 10 and loop["arrival"]["count"] == 10
    assert loop["corrected"]["count"] == 30
    assert loop["arrivals_per_s"] == pytest.approx(20.0)
    assert loop["answered_rps"] == pytest.approx(60.0)


def test_every_request_of_an_arrival_carries_the_tasks_shift():
    rec = latency.Recorder([(1.0, 1.0)])
    arrival = rec.due(10.0, 0)
    rec.started(arrival, 10.1)     # the generator began it 100 ms late
    rec.slotted(arrival, 10.3)     # then it waited 200 ms for a slot
    rec.request(arrival, "/a", 10.0)
    rec.request(arrival, "/b", 20.0)
    rec.finished(arrival, 10.33)
    loop = rec.to_dict(1, complete=True)
    corrected = latency.decode(loop["corrected"]["hdr"])
    # 310 and 320 ms: both requests carry lateness + slot wait, not only the first.
    assert latency.count_at_or_above(corrected, 309) == 2
    assert loop["parts"]["lateness"]["count"] == 2
    assert loop["parts"]["lateness"]["mean_ms"] == pytest.approx(100, rel=0.01)
    assert loop["parts"]["slot_wait"]["mean_ms"] == pytest.approx(200, rel=0.01)
    assert loop["parts"]["service"]["mean_ms"] == pytest.approx(15, rel=0.01)
    assert loop["arrival"]["p50_ms"] == pytest.approx(330, rel=0.01)


def behind(lag_ms: float, response_ms: float) -> bool:
    """behind_schedule of 100 arrivals each `lag_ms` late, answered in `response_ms`."""
    rec = latency.Recorder([(100.0, 1.0)])
    for i in range(100):
        arrival = rec.due(i / 100, 0)
        rec.started(arrival, i / 100 + lag_ms / 1000)
        rec.slotted(arrival, i / 100 + lag_ms / 1000)
        rec.request(arrival, "/", response_ms)
    loop = rec.to_dict(4, complete=True)
    assert loop["lag_p99_ms"] is not None and loop["corrected_p50_ms"] is not None
    return loop["behind_schedule"]


def test_the_generator_is_judged_against_the_measured_latency():
    # 3 ms late on 5 ms answers is most of what is reported: behind, though under 10 ms.
    assert behind(3.0, 5.0)
    # 3 ms late on 500 ms answers is not.
    assert not behind(3.0, 500.0)


def test_the_slots_are_warmed_and_the_warm_up_is_not_recorded():
    loop, locust = drive([(20.0, 0.5)], slots=6)
    assert loop["warm"] == {"slots": 6, "personas": 6, "requests": 6, "failures": 0}
    assert loop["corrected"]["count"] == 10
    # Locust's statistics hold the schedule's requests only.
    assert locust["requests"] == 10 and locust["names"] == ["/a"]


@pytest.mark.parametrize(("p", "needed"), [(50, 20), (95, 200), (99, 1000), (99.9, 10000)])
def test_a_percentile_needs_ten_samples_beyond_it(p, needed):
    assert stats.samples_needed(p) == needed
    assert stats.percentile_support(needed, p)["supported"]
    assert not stats.percentile_support(needed - 1, p)["supported"]
    assert not stats.percentile_support(None, p)["supported"]
