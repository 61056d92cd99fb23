"""The sizing plan (archlab/sizing.py) for every core count from 1 to 256, both policies
and both architectures: threads, pools and the connection cap."""

import pytest

from archlab import sizing
from archlab.config import Ports
from archlab.errors import LabError
from archlab.stacks import ARCHITECTURES

SHAPES = {arch: sizing.shape_of(build(Ports.from_base(8000)))
          for arch, build in ARCHITECTURES.items()}
OTHERS = tuple(SHAPES.values())
CORES = range(1, 257)


def plans(policy: str, cores: int) -> dict[str, sizing.Plan]:
    return {arch: sizing.plan(shape, cores, policy, others=OTHERS)
            for arch, shape in SHAPES.items()}


@pytest.mark.parametrize("policy", sizing.POLICIES)
def test_every_plan_stays_within_the_connection_cap(policy):
    for cores in CORES:
        for arch, plan in plans(policy, cores).items():
            assert plan.connections <= sizing.CONNECTION_CAP, (arch, cores)
            assert plan.max_connections == sizing.CONNECTION_CAP + sizing.SPARE_CONNECTIONS
            for name, size in plan.processes.items():
                assert size.workers >= 1 and size.threads >= 1, (arch, cores, name)
                # A pool is sized to its threads, never beyond; a web process with a
                # database keeps at least one connection per worker.
                assert size.pool <= size.threads + size.fanout, (arch, cores, name)
                if size.kind == "web":
                    assert size.pool <= size.threads, (arch, cores, name)
                assert size.workers <= sizing.MAX_WORKERS


def test_per_process_gives_every_web_process_one_worker_per_core():
    for cores in CORES:
        for plan in plans("per-process", cores).values():
            for size in plan.web().values():
                assert size.workers == min(cores, sizing.MAX_WORKERS)
                assert size.threads == sizing.WEB_THREADS
    gateway = plans("per-process", 1)["microservices"].processes["gateway"]
    assert gateway.fanout == sizing.WEB_THREADS and gateway.pool == 0


def test_per_process_pools_shrink_to_the_cap_instead_of_raising_the_limit():
    plan = plans("per-process", 16)["microservices"]
    assert plan.web_connections < 16 * 7 * sizing.WEB_THREADS
    assert any("pools capped" in note for note in plan.notes)
    assert not plans("per-process", 1)["microservices"].notes


def test_equal_total_gives_both_architectures_the_same_threads_and_connections():
    for cores in CORES:
        mono, micro = plans("equal-total", cores).values()
        assert mono.web_threads == micro.web_threads, cores
        assert mono.web_connections == micro.web_connections, cores
        assert mono.web_threads == sizing.DEFAULT_THREADS_PER_CORE * min(cores,
                                                                         sizing.MAX_WORKERS)


def test_equal_total_splits_one_core_by_the_stated_shares():
    micro = plans("equal-total", 1)["microservices"]
    web = micro.web()
    assert micro.shares_source == "default"
    # Every service gets a thread; the gateway, with the largest share, the most.
    assert all(p.threads >= 1 for p in web.values())
    assert max(web, key=lambda n: web[n].total_threads) == "gateway"
    assert web["gateway"].fanout >= 1
    assert web["catalog"].total_threads > web["notifications"].total_threads


def test_given_shares_move_the_split():
    shares = {"microservices": dict.fromkeys(SHAPES["microservices"].web, 1.0)}
    even = sizing.plan(SHAPES["microservices"], 2, "equal-total", shares=shares,
                       others=OTHERS)
    assert even.shares_source == "given"
    assert {p.share for p in even.web().values()} == {0.125}


def test_a_skewed_measured_split_still_reaches_the_same_totals():
    # A probe of a browsing load: most CPU in three services, 1% in each of the others,
    # whose minimum thread lifts them above their share.
    web = SHAPES["microservices"].web
    skewed = dict.fromkeys(web, 0.01) | {"gateway": 0.52, "catalog": 0.29, "inventory": 0.14}
    shares = {"microservices": skewed}
    for cores in CORES:
        mono = sizing.plan(SHAPES["monolith"], cores, "equal-total", shares=shares,
                           others=OTHERS)
        micro = sizing.plan(SHAPES["microservices"], cores, "equal-total", shares=shares,
                            shares_source="probe", others=OTHERS)
        assert micro.shares_source == "probe"
        assert mono.web_threads == micro.web_threads, cores
        assert mono.web_connections == micro.web_connections, cores
        assert all(p.threads >= 1 for p in micro.web().values()), cores


def test_replicas_copy_a_process_under_per_process_and_split_it_under_equal_total():
    shape = SHAPES["microservices"]
    copied = sizing.plan(shape, 2, "per-process", replicas={"catalog": 3})
    assert copied.processes["catalog"].replicas == 3
    assert copied.processes["catalog"].workers == 2
    split = sizing.plan(shape, 2, "equal-total", replicas={"catalog": 3}, others=OTHERS)
    alone = sizing.plan(shape, 2, "equal-total", others=OTHERS)
    assert split.web_threads == alone.web_threads


def test_bad_choices_are_refused_with_a_reason():
    with pytest.raises(LabError, match="unknown sizing policy"):
        sizing.plan(SHAPES["monolith"], 1, "per-core")
    with pytest.raises(LabError, match="only the web processes"):
        sizing.plan(SHAPES["monolith"], 1, replicas={"monolith-worker": 2})
    with pytest.raises(LabError, match="raise threads_per_core"):
        sizing.plan(SHAPES["microservices"], 1, "equal-total", threads_per_core=4,
                    others=OTHERS)
    with pytest.raises(LabError, match="run fewer replicas"):
        sizing.plan(SHAPES["microservices"], 32, "per-process", replicas={"catalog": 20})


def test_a_plan_survives_its_record():
    plan = plans("equal-total", 3)["microservices"]
    assert sizing.from_dict(plan.to_dict()) == plan
