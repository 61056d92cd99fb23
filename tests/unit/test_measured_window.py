"""One steady-state window for requests and CPU: found on the request series (MSER and a
trend test), with CPU taken from cumulative CPU seconds at the window's two ends."""

import json
import os
import random
import subprocess
import sys
import time

import pytest

from archlab import windows
from archlab.metrics import SAMPLER_NICE, Sampler
from archlab.report import drift, measured, steady
from archlab.report.raw import Repeat

T0 = 1_800_000_000.0


def cumulative(rates: list[float], start: float = T0) -> list[tuple[float, float]]:
    """(time, cumulative count) once a second from per-second rates."""
    rows, total = [(start, 0.0)], 0.0
    for i, rate in enumerate(rates):
        total += rate
        rows.append((start + i + 1, total))
    return rows


def test_a_warm_up_transient_is_cut_and_said():
    found = steady.find(cumulative([40, 120] + [270] * 18), T0, T0 + 20)
    assert not found["flagged"]
    assert found["dropped_s"] == 2.0
    assert found["start_epoch"] == T0 + 2 and found["end_epoch"] == T0 + 20


def test_a_steady_noisy_series_keeps_most_of_its_window():
    rng = random.Random(7)
    found = steady.find(cumulative([270 + rng.gauss(0, 20) for _ in range(20)]), T0, T0 + 20)
    assert not found["flagged"]
    assert found["seconds"] >= 10


def test_a_25_percent_ramp_is_not_a_steady_state_though_the_drift_rule_passes_it():
    rates = [100 * (1 + 0.25 * i / 19) for i in range(20)]
    rows = cumulative(rates)
    # The drift rule alone (slowest quarter at 70% of the fastest) lets it through.
    assert not drift.judge([{"t": t, "requests": c, "users": 16} for t, c in rows])["flagged"]
    found = steady.find(rows, T0, T0 + 20)
    assert found["flagged"] and "trend" in found["reason"]


def test_a_jump_late_in_the_run_is_flagged():
    found = steady.find(cumulative([22] * 5 + [26] * 5 + [25] * 5 + [95] * 5), T0, T0 + 20)
    assert found["flagged"]


def test_a_series_shorter_than_the_minimum_is_flagged():
    found = steady.find(cumulative([100, 100, 100, 100]), T0, T0 + 4)
    assert found["flagged"] and "too short" in found["reason"]


def test_cpu_is_taken_between_the_window_edges_from_cumulative_readings():
    # A process busy 50% from T0+2 to T0+12, idle before and after: the sampler's rows
    # reach 3 s either side of the window.
    readings = []
    for k in range(0, 16):
        t = T0 + k
        busy = min(max(t - (T0 + 2), 0), 10) * 0.5
        readings.append(("monolith", "11", t + 0.3, busy))
    got = windows.cpu_seconds(readings, T0 + 2.3, T0 + 12.3)
    assert got["monolith"] == pytest.approx(5.0)
    # Averaging the per-second readings over a window that starts late and runs into
    # idle seconds (what the sampler did before) gives less.
    assert windows.cpu_seconds(readings, T0 + 4.3, T0 + 14.3)["monolith"] == \
        pytest.approx(4.0)


def test_a_process_born_in_the_window_counts_whole_and_one_gone_keeps_its_last_reading():
    readings = [("orders", "20", T0 + 5, 1.0), ("orders", "20", T0 + 6, 1.5),
                ("catalog", "30", T0 + 0, 10.0), ("catalog", "30", T0 + 3, 11.0)]
    got = windows.cpu_seconds(readings, T0 + 1, T0 + 10)
    assert got["orders"] == pytest.approx(1.5)
    assert got["catalog"] == pytest.approx(11.0 - (10.0 + 1 / 3))


def repeat(tmp_path, series, metrics, duration=20, looplag=None) -> Repeat:
    run = {"duration_s": duration, "generator": {}, "measured": {
        "started_at_epoch": T0, "sampled_from_epoch": metrics[0]["epoch"],
        "sampled_to_epoch": metrics[-1]["epoch"]}}
    return Repeat(arch="monolith", repeat=1, path=tmp_path, run=run, locust=[], history=[],
                  failures=[], exceptions=0, metrics=metrics, checkouts=0,
                  series=tuple(series), looplag=looplag)


def metric(t: float, cpu_s: float, component="monolith", pss=None) -> dict:
    return {"t": t - T0, "epoch": t, "cpu_s": cpu_s, "component": component, "pid": "11",
            "cpu": None, "rss": 100 * 2**20, "pss": pss}


def test_requests_and_cpu_come_from_the_same_window(tmp_path):
    # Locust starts at T0; users ramp for 2 s; 100 req/s for 18 s; the sampler runs from
    # T0 - 1 to T0 + 23 and the server uses 10 ms of CPU per request while serving.
    rates = [20, 60] + [100] * 18
    rows = cumulative(rates)
    series = [(t, c, 0.0) for t, c in rows]
    metrics = [metric(T0 - 1 + k, 0.01 * rows[min(max(k - 1, 0), 20)][1])
               for k in range(0, 25)]
    rep = repeat(tmp_path, series, metrics)
    found = measured.window(rep)
    assert found["dropped_s"] == 2.0 and not found["flagged"]
    assert found["cpu_window"] == {"start_offset_s": 0.0, "end_offset_s": 0.0}
    # The sampler covered the window on both sides.
    assert found["sampled"]["start_offset_s"] < 0 < found["sampled"]["end_offset_s"]
    counted = measured.counts(rep, found)
    use = measured.component_use(rep, "rss", found)
    rps = counted["requests"] / counted["seconds"]
    assert rps == pytest.approx(100)
    # 10 ms of CPU per request, exactly: neither idle seconds nor the ramp dilute it.
    assert use["monolith"]["cpu_percent"] / 100 / rps * 1000 == pytest.approx(10.0)


def test_memory_is_read_from_the_samples_that_have_pss(tmp_path):
    metrics = [metric(T0 + k, 0.0, pss=(50 * 2**20 if k % 5 == 0 else None))
               for k in range(0, 21)]
    rows = cumulative([100] * 20)
    rep = repeat(tmp_path, [(t, c, 0.0) for t, c in rows], metrics)
    use = measured.component_use(rep, "pss", measured.window(rep))
    assert use["monolith"]["memory_mib"] == pytest.approx(50.0)


def test_a_generator_whose_loop_lags_against_the_latency_it_measures_is_late(tmp_path):
    rows = cumulative([100] * 20)
    rep = repeat(tmp_path, [(t, c, 0.0) for t, c in rows], [metric(T0, 0), metric(T0 + 21, 1)],
                 looplag={"lag": {"p50_ms": 0.2, "p99_ms": 0.8, "max_ms": 3.0, "count": 400}})
    assert not measured.generator_lag(rep, 10.0)["late"]
    assert measured.generator_lag(rep, 5.0)["late"]


@pytest.fixture
def sleeper():
    process = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    yield process.pid
    process.kill()
    process.wait()


def test_the_sampler_reads_pss_every_few_seconds_and_rss_every_sample(tmp_path, sleeper):
    (tmp_path / "state.json").write_text(json.dumps({"pids": {}}))
    out = tmp_path / "metrics.csv"
    sampler = Sampler(tmp_path, sleeper, out, interval=0.1, pss_every=0.45).start()
    # Until it has taken 12 samples, however busy the machine (counts, not timings).
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and (
            not out.exists() or len(out.read_text().splitlines()) < 13):
        time.sleep(0.05)
    sampler.stop()
    lines = out.read_text().splitlines()
    header, rows = lines[0].split(","), [r.split(",") for r in lines[1:]]
    assert header[:2] == ["elapsed_s", "t_epoch"] and "cpu_seconds" in header
    pss = [r for r in rows if r[header.index("pss_bytes")]]
    assert len(rows) >= 12 and all(r[header.index("rss_bytes")] for r in rows)
    # PSS at the first and the last sample; in between, when pss_every has passed since
    # the last PSS reading (one process: one row per sample; a row's time is when its
    # process was read, a little after the sample's decision, hence the margin).
    assert rows[0][header.index("pss_bytes")] and rows[-1][header.index("pss_bytes")]
    last_pss = float(rows[0][header.index("t_epoch")])
    for row in rows[1:-1]:
        t = float(row[header.index("t_epoch")])
        if row[header.index("pss_bytes")]:
            assert t - last_pss >= 0.45 - 0.1
            last_pss = t
        else:
            assert t - last_pss < 0.45 + 0.1
    cost = sampler.cost.to_dict()
    assert cost["samples"] == len(rows) and cost["pss_samples"] == len(pss)
    assert cost["cpu_seconds"] >= 0 and cost["wall_seconds"] > 0


def test_the_sampler_switch_alternates_for_an_a_a_check_and_refuses_a_wrong_value(
        monkeypatch):
    from archlab.bench.runner import sampler_on
    from archlab.errors import LabError
    monkeypatch.delenv("ARCHLAB_SAMPLER", raising=False)
    assert sampler_on(1) and sampler_on(2)
    monkeypatch.setenv("ARCHLAB_SAMPLER", "alternate")
    assert [sampler_on(r) for r in (1, 2, 3, 4)] == [True, False, True, False]
    monkeypatch.setenv("ARCHLAB_SAMPLER", "off")
    assert not sampler_on(1)
    monkeypatch.setenv("ARCHLAB_SAMPLER", "sometimes")
    with pytest.raises(LabError, match="on, off or alternate"):
        sampler_on(1)


def test_a_sampler_switched_off_writes_only_the_headers(tmp_path, sleeper):
    (tmp_path / "state.json").write_text(json.dumps({"pids": {}}))
    sampler = Sampler(tmp_path, sleeper, tmp_path / "metrics.csv",
                      connections_out=tmp_path / "connections.csv").start(enabled=False)
    time.sleep(0.3)
    assert sampler.stop().samples == 0
    assert (tmp_path / "metrics.csv").read_text().splitlines() == [",".join(
        ("elapsed_s", "t_epoch", "component", "pid", "cpu_percent", "cpu_seconds",
         "rss_bytes", "pss_bytes"))]
    assert len((tmp_path / "connections.csv").read_text().splitlines()) == 1


def host_window(known_percent: float):
    from archlab.hostcpu import HostCpu
    return HostCpu(seconds=10.0, cpus=(0, 1), busy_percent={0: 60.0, 1: 30.0},
                   busy_total_percent=90.0, steal_percent=0.0, known_percent=known_percent,
                   known_processes=20, lost_processes=0, unexplained_percent=0.0,
                   limit_percent=20.0)


def test_the_sampler_check_flags_a_figure_that_disagrees_with_proc(tmp_path):
    from archlab.bench.runner import sampler_check
    # The stack used 5 CPU seconds in 10 s (50% of a core) by the sampler's readings;
    # the generator's own readings are left out of the check.
    (tmp_path / "metrics.csv").write_text(
        "elapsed_s,t_epoch,component,pid,cpu_percent,cpu_seconds,rss_bytes,pss_bytes\n"
        f"0,{T0},monolith,11,,1.0,100,\n"
        f"0,{T0},generator,12,,3.0,100,\n"
        f"10,{T0 + 10},monolith,11,50.0,6.0,100,\n"
        f"10,{T0 + 10},generator,12,90.0,12.0,100,\n")
    agreed = sampler_check(tmp_path / "metrics.csv", host_window(48.0))
    assert agreed["sampler_percent"] == pytest.approx(50.0)
    assert not agreed["flagged"] and agreed["difference_points"] == pytest.approx(2.0)
    # Over 5 points but within 10% of the /proc figure: the two reads' own spread.
    assert not sampler_check(tmp_path / "metrics.csv", host_window(55.5))["flagged"]
    # /proc saw far more: the sampler missed a process (a broken input for the checker).
    assert sampler_check(tmp_path / "metrics.csv", host_window(70.0))["flagged"]


def test_the_sampler_yields_its_core_to_the_generator(tmp_path, sleeper):
    (tmp_path / "state.json").write_text(json.dumps({"pids": {}}))
    sampler = Sampler(tmp_path, sleeper, tmp_path / "metrics.csv", interval=0.1).start()
    try:
        time.sleep(0.3)
        assert os.getpriority(os.PRIO_PROCESS, sampler._thread.native_id) == SAMPLER_NICE > 0
    finally:
        sampler.stop()
