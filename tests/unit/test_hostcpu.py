"""archlab.hostcpu's arithmetic on made-up CPU and process times: what counts as busy,
what the known processes explain (born, exited, reaped, reused pids), and the flag."""

import json
from collections import namedtuple

import pytest

from archlab import hostcpu
from archlab.hostcpu import ProcessTimes, Snapshot

CpuTimes = namedtuple("CpuTimes", "user nice system idle iowait irq softirq steal guest "
                                  "guest_nice")


def cpu(user=0.0, system=0.0, idle=0.0, *, nice=0.0, iowait=0.0, irq=0.0, softirq=0.0,
        steal=0.0, guest=0.0, guest_nice=0.0):
    return CpuTimes(user, nice, system, idle, iowait, irq, softirq, steal, guest, guest_nice)


def proc(pid, own, reaped=0.0, ppid=1, created=100.0):
    return ProcessTimes(pid=pid, ppid=ppid, created=created, own=own, reaped=reaped)


def snap(at, busy, processes=(), steal=None):
    """A snapshot at `at` with busy seconds per cpu (idle made up to match)."""
    return Snapshot(at=at, busy=dict(enumerate(busy)),
                    idle={i: 1000.0 - b for i, b in enumerate(busy)},
                    steal=dict(enumerate(steal or [0.0] * len(busy))),
                    processes={p.key: p for p in processes})


def test_busy_is_everything_but_idle_and_iowait_with_guest_not_counted_twice():
    t = cpu(user=10, nice=1, system=4, idle=50, iowait=3, irq=0.5, softirq=1.5, steal=2,
            guest=6, guest_nice=1)
    # guest (6) is inside user (10) and guest_nice inside nice: not added again.
    assert hostcpu.busy_seconds(t) == pytest.approx(10 + 1 + 4 + 0.5 + 1.5 + 2)
    assert hostcpu.idle_seconds(t) == pytest.approx(53)


def test_a_foreign_load_is_unexplained_and_flagged():
    before = snap(0.0, [100.0, 200.0], [proc(10, 5.0)])
    # 10 s: cpu0 busy 9 s, cpu1 busy 6 s; the known process used 8 s of it.
    after = snap(10.0, [109.0, 206.0], [proc(10, 13.0)])
    r = hostcpu.summarize(before, after, cpus=(0, 1), limit=20.0)
    assert r.seconds == 10.0
    assert r.busy_percent == {0: 90.0, 1: 60.0}
    assert r.busy_total_percent == 150.0
    assert r.known_percent == 80.0
    assert r.unexplained_percent == 70.0
    assert r.flagged


def test_only_the_windows_cpus_count():
    before = snap(0.0, [0.0, 0.0], [proc(10, 0.0)])
    after = snap(10.0, [5.0, 10.0], [proc(10, 5.0)])
    r = hostcpu.summarize(before, after, cpus=[0], limit=20.0)
    assert r.cpus == (0,) and r.busy_percent == {0: 50.0}
    assert r.unexplained_percent == 0.0 and not r.flagged


def test_a_process_born_in_the_window_counts_all_its_time():
    before = snap(0.0, [0.0], [proc(10, 5.0)])
    after = snap(4.0, [3.0], [proc(10, 6.0), proc(11, 2.0, created=102.0)])
    r = hostcpu.summarize(before, after, cpus=[0], limit=20.0)
    assert r.known_percent == 75.0 and r.unexplained_percent == 0.0
    assert r.known_processes == 2


def test_a_reused_pid_is_a_new_process():
    before = snap(0.0, [0.0], [proc(10, 50.0, created=100.0)])
    after = snap(10.0, [3.0], [proc(10, 3.0, created=105.0)])
    # Not 3 - 50: the old process 10 is gone (lost: pid 1 is no known reaper), the new
    # one counts whole.
    seconds, lost = hostcpu.known_seconds(before.processes, after.processes)
    assert seconds == 3.0 and lost == 1


def test_a_child_that_exits_is_counted_through_its_known_parents_reaped_time():
    # The lab (pid 1000) runs wrk (pid 1001, 0.5 s used before the window) which exits
    # in the window after 4.5 s of CPU in all: the lab's reaped time grows by 4.5 s,
    # 0.5 s of which were before the window.
    lab_before, lab_after = proc(1000, 1.0, reaped=7.0), proc(1000, 1.2, reaped=11.5)
    before = snap(0.0, [0.0, 0.0], [lab_before, proc(1001, 0.5, ppid=1000)])
    after = snap(5.0, [0.2, 4.0], [lab_after])
    seconds, lost = hostcpu.known_seconds(before.processes, after.processes)
    assert seconds == pytest.approx(0.2 + 4.0) and lost == 0
    r = hostcpu.summarize(before, after, cpus=(0, 1), limit=20.0)
    assert r.unexplained_percent == pytest.approx(0.0)


def test_a_run_started_and_reaped_inside_the_window_counts_through_the_reaped_time():
    before = snap(0.0, [0.0], [proc(1000, 1.0, reaped=0.0)])
    after = snap(2.0, [1.9], [proc(1000, 1.1, reaped=1.8)])
    assert hostcpu.summarize(before, after, cpus=[0]).unexplained_percent == 0.0


def test_a_process_gone_without_a_known_reaper_is_reported_lost():
    before = snap(0.0, [0.0], [proc(10, 1.0, ppid=1), proc(11, 1.0, ppid=10)])
    after = snap(2.0, [1.0], [])
    r = hostcpu.summarize(before, after, cpus=[0], limit=20.0)
    assert r.lost_processes == 2
    assert r.unexplained_percent == 50.0  # their time in the window cannot be told


def test_unexplained_is_not_clipped_and_a_quiet_window_is_not_flagged():
    # Known processes that ran on a cpu outside the window explain more than its busy.
    before = snap(0.0, [0.0], [proc(10, 0.0)])
    after = snap(10.0, [1.0], [proc(10, 3.0)])
    r = hostcpu.summarize(before, after, cpus=[0], limit=20.0)
    assert r.unexplained_percent == -20.0 and not r.flagged


def test_the_limit_is_a_strict_bound():
    before, after = snap(0.0, [0.0]), snap(10.0, [2.0])
    assert not hostcpu.summarize(before, after, cpus=[0], limit=20.0).flagged
    assert hostcpu.summarize(before, after, cpus=[0], limit=19.9).flagged


def test_steal_is_busy_and_reported_on_its_own():
    before = snap(0.0, [0.0], steal=[0.0])
    after = snap(10.0, [3.0], steal=[3.0])
    r = hostcpu.summarize(before, after, cpus=[0], limit=20.0)
    assert r.steal_percent == 30.0 and r.unexplained_percent == 30.0 and r.flagged


def test_to_dict_is_json_and_carries_the_flag():
    r = hostcpu.summarize(snap(0.0, [0.0, 0.0]), snap(1.0, [0.5, 0.0]), cpus=(1, 0),
                          limit=20.0)
    d = json.loads(json.dumps(r.to_dict()))
    assert d["cpus"] == [0, 1] and d["busy_percent"] == {"0": 50.0, "1": 0.0}
    assert d["flagged"] is True and d["unexplained_percent"] == 50.0
    assert d["limit_percent"] == 20.0


def test_the_window_reads_at_open_and_close_and_looks_up_roots_again(monkeypatch):
    readings = iter([
        ({0: 0.0, 1: 0.0}, {0: 0.0, 1: 0.0}, {0: 0.0, 1: 0.0}),
        ({0: 8.0, 1: 2.0}, {0: 2.0, 1: 8.0}, {0: 0.0, 1: 0.0}),
    ])
    clock = iter([0.0, 10.0])
    asked = []

    def read_processes(roots, extra):
        asked.append((list(roots), list(extra)))
        if len(asked) == 1:
            return {p.key: p for p in [proc(1, 0.0), proc(99, 0.0)]}
        return {p.key: p for p in [proc(1, 0.0), proc(2, 4.0, ppid=1), proc(99, 1.0)]}

    monkeypatch.setattr(hostcpu, "read_host", lambda: next(readings))
    monkeypatch.setattr(hostcpu, "read_processes", read_processes)
    monkeypatch.setattr(hostcpu.time, "monotonic", lambda: next(clock))
    roots = [1]
    window = hostcpu.Window(cpus=(0, 1), roots=lambda: roots, extra_pids=[99], limit=20.0)
    window.open()
    roots.append(5)
    r = window.close()
    assert asked == [([1], [99]), ([1, 5], [99])]
    assert r.busy_total_percent == 100.0 and r.known_percent == 50.0
    assert r.unexplained_percent == 50.0 and r.flagged and window.result is r


def test_a_window_refuses_unknown_cpus_and_close_before_open(monkeypatch):
    monkeypatch.setattr(hostcpu, "read_host", lambda: ({0: 0.0}, {0: 0.0}, {0: 0.0}))
    monkeypatch.setattr(hostcpu, "read_processes", lambda roots, extra: {})
    with pytest.raises(RuntimeError):
        hostcpu.Window(cpus=[0]).close()
    with pytest.raises(ValueError):
        hostcpu.Window(cpus=[3]).open()
    with pytest.raises(ValueError):
        hostcpu.Window(cpus=[])


def test_the_real_host_can_be_read():
    """A smoke test on this machine: a second-long window over every cpu reads sane
    figures (no timing asserted)."""
    import os
    import time

    cpus = sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else [0]
    window = hostcpu.Window(cpus=cpus, extra_pids=[os.getpid()]).open()
    time.sleep(0.2)
    r = window.close()
    assert r.seconds > 0.1 and r.known_processes == 1
    assert all(0.0 <= pct <= 150.0 for pct in r.busy_percent.values())


def test_a_subtree_that_shuts_down_is_counted_through_the_ancestor_that_reaped_it():
    # Supervisor 1 reaps gunicorn master 2, which reaped its worker 3 first. Before the
    # window: master 1.0 s, worker 4.0 s. Lifetimes: master 1.5 s, worker 6.0 s; so the
    # supervisor's reaped time grows by 7.5 s, of which 5.0 s were before the window.
    before = snap(0.0, [0.0], [proc(1, 0.0, ppid=0), proc(2, 1.0, ppid=1),
                               proc(3, 4.0, ppid=2)])
    after = snap(10.0, [2.5], [proc(1, 0.0, reaped=7.5, ppid=0)])
    seconds, lost = hostcpu.known_seconds(before.processes, after.processes)
    assert seconds == pytest.approx(2.5) and lost == 0


# -- the system under test's cores on their own ------------------------------------------

def pinned(pid, own, cpus, reaped=0.0, ppid=1, created=100.0):
    return ProcessTimes(pid=pid, ppid=ppid, created=created, own=own, reaped=reaped,
                        cpus=cpus)


def test_a_fifth_of_the_systems_only_core_is_flagged_on_that_core_alone():
    # 10 s. cpu 0 is the system's: the stack (pinned there) used 8 s, a foreign program
    # 1.9 s. cpu 1 is the generator's: Locust (pinned there) used 5 s of it.
    before = snap(0.0, [0.0, 0.0], [pinned(10, 0.0, (0,)), pinned(20, 0.0, (1,))])
    after = snap(10.0, [9.9, 5.0], [pinned(10, 8.0, (0,)), pinned(20, 5.0, (1,))])
    whole = hostcpu.summarize(before, after, cpus=(0, 1), limit=20.0)
    # Over the lab's cores, in percent of one core, 19% passes the 20% limit.
    assert whole.unexplained_percent == pytest.approx(19.0) and not whole.flagged
    assert whole.sut_unexplained_percent is None and not whole.sut_flagged
    r = hostcpu.summarize(before, after, cpus=(0, 1), limit=20.0, sut_cpus=[0],
                          sut_limit=10.0)
    assert r.sut_cpus == (0,)
    assert r.sut_busy_percent == pytest.approx(99.0)
    assert r.sut_known_percent == pytest.approx(80.0)  # the generator is not counted here
    assert r.sut_unexplained_percent == pytest.approx(19.0)
    assert not r.lab_flagged and r.sut_flagged and r.flagged


def test_the_systems_figure_is_a_share_of_its_cores_capacity():
    # Two system cores (0, 1) and the generator's (2); a foreign program used 1.9 s of
    # core 0 in 10 s: 19% of one core, 9.5% of the system's two.
    before = snap(0.0, [0.0, 0.0, 0.0], [pinned(10, 0.0, (0, 1))])
    after = snap(10.0, [5.9, 4.0, 0.0], [pinned(10, 8.0, (0, 1))])
    r = hostcpu.summarize(before, after, cpus=(0, 1, 2), limit=20.0, sut_cpus=(0, 1),
                          sut_limit=10.0)
    assert r.sut_unexplained_percent == pytest.approx(9.5) and not r.sut_flagged


def test_a_process_allowed_on_both_sides_counts_on_the_systems_cores():
    # The lab process may run on either core: its 3 s count on the system's side too,
    # where it may have run (erring toward no flag), as does one whose affinity is unknown.
    before = snap(0.0, [0.0, 0.0], [pinned(10, 0.0, (0, 1)), proc(11, 0.0)])
    after = snap(10.0, [2.9, 3.0], [pinned(10, 3.0, (0, 1)), proc(11, 1.0)])
    r = hostcpu.summarize(before, after, cpus=(0, 1), sut_cpus=[0], sut_limit=10.0)
    assert r.sut_known_percent == pytest.approx(40.0)
    assert r.sut_unexplained_percent == pytest.approx(-11.0) and not r.sut_flagged


def test_reaped_time_counts_where_the_reaper_may_run():
    # The generator's side (cpu 1) runs the lab, which reaps wrk: neither is the system's.
    # The system's supervisor (cpu 0) reaps a worker that exits: that counts there.
    before = snap(0.0, [0.0, 0.0], [pinned(1000, 0.0, (1,)), pinned(1001, 0.5, (1,), ppid=1000),
                                    pinned(10, 0.0, (0,)), pinned(11, 1.0, (0,), ppid=10)])
    after = snap(10.0, [3.0, 4.5], [pinned(1000, 0.0, (1,), reaped=4.5),
                                    pinned(10, 0.0, (0,), reaped=4.0)])
    r = hostcpu.summarize(before, after, cpus=(0, 1), sut_cpus=[0], sut_limit=10.0)
    assert r.sut_known_percent == pytest.approx(30.0)
    assert r.sut_unexplained_percent == pytest.approx(0.0)
    assert r.known_percent == pytest.approx(70.0) and r.unexplained_percent == 5.0


def test_to_dict_says_which_figure_flagged():
    before = snap(0.0, [0.0, 0.0])
    after = snap(10.0, [1.5, 0.0])
    d = hostcpu.summarize(before, after, cpus=(0, 1), limit=20.0, sut_cpus=[0],
                          sut_limit=10.0).to_dict()
    d = json.loads(json.dumps(d))
    assert d["sut_cpus"] == [0] and d["sut_unexplained_percent"] == 15.0
    assert d["sut_limit_percent"] == 10.0
    assert d["flagged"] and d["sut_flagged"] and not d["lab_flagged"]
    plain = hostcpu.summarize(before, after, cpus=(0, 1), limit=20.0).to_dict()
    assert plain["sut_cpus"] is None and not plain["flagged"] and not plain["sut_flagged"]


def test_a_window_judges_the_systems_cores_it_is_given(monkeypatch):
    readings = iter([({0: 0.0, 1: 0.0}, {0: 0.0, 1: 0.0}, {0: 0.0, 1: 0.0}),
                     ({0: 1.5, 1: 0.0}, {0: 8.5, 1: 10.0}, {0: 0.0, 1: 0.0})])
    clock = iter([0.0, 10.0])
    monkeypatch.setattr(hostcpu, "read_host", lambda: next(readings))
    monkeypatch.setattr(hostcpu, "read_processes", lambda roots, extra: {})
    monkeypatch.setattr(hostcpu.time, "monotonic", lambda: next(clock))
    window = hostcpu.Window(cpus=(0, 1), sut_cpus=[0], limit=20.0, sut_limit=10.0).open()
    r = window.close()
    assert r.sut_unexplained_percent == 15.0 and r.sut_flagged
    with pytest.raises(ValueError):
        hostcpu.Window(cpus=[1], sut_cpus=[0])


def test_the_real_host_reads_each_processs_affinity():
    import os

    if not hasattr(os, "sched_getaffinity"):
        pytest.skip("no CPU affinity on this OS")
    found = hostcpu.read_processes([], [os.getpid()])
    (me,) = found.values()
    assert set(me.cpus) == os.sched_getaffinity(0)
