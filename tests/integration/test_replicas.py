"""Replicas on the local platform: several gunicorn masters of one web process on its one
port (SO_REUSEPORT), each also on a private port where its own health is asked;
`archlab up --replicas`, `archlab scale` on a running stack of either architecture, and
`status` per replica (docs/replicas.md).

The stacks run at a port base of this module's own (tests/ports.py). The monolith's tests
come first, then the microservices' (which take the monolith down): one stack at a time.
"""

import collections
import importlib
import os
import signal
import subprocess
import sys
import threading
import time

import psutil
import pytest
import requests

from archlab import config
from archlab.errors import LabError
from archlab.platforms.local import (
    REPLICA_VARIABLES,
    replica_counts,
    replica_env,
    replica_records,
)
from archlab.platforms.statefiles import read_json
from archlab.stacks import get_stack
from tests import ports
from tests.integration.test_platform import wait_for

PORT_BASE = ports.REPLICAS
# A base where nothing runs, for what must be refused before a stack starts.
IDLE_BASE = PORT_BASE + 10
PRIVATE = PORT_BASE + 310  # the first of the block's replica ports (config.Ports)
SEARCH_WORDS = ("rack", "server", "switch", "cable")


def archlab(*args: str, base: int = PORT_BASE, timeout: float = 60) -> subprocess.CompletedProcess:
    env = {**os.environ, "ARCHLAB_PORT_BASE": str(base)}
    return subprocess.run([sys.executable, "-m", "archlab", *args], env=env,
                          capture_output=True, text=True, timeout=timeout)


def rows(platform) -> dict:
    """The status rows by process name."""
    return {p.name: p for p in platform.status().processes}


def tree(pid: int) -> list[psutil.Process]:
    """A gunicorn master and its workers."""
    master = psutil.Process(pid)
    return [master, *master.children(recursive=True)]


def gone(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


def sockets(pid: int, status: str, port: int) -> int:
    """How many TCP sockets in `status` on local port `port` a master's tree holds."""
    return sum(1 for process in tree(pid) for c in process.net_connections(kind="tcp")
               if c.status == status and c.laddr.port == port)


class Load:
    """A few threads GETting a product and a search through the entry point, each with a
    requests.Session (keep-alive, as a pooled client does), counting the answers that are
    200, the ones that are not, and the requests that failed, by kind."""

    def __init__(self, base_url: str, threads: int = 4):
        self.base_url = base_url
        self.ok = 0
        self.failures = collections.Counter()
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._threads = [threading.Thread(target=self._run, args=(i,)) for i in range(threads)]

    def _run(self, index: int) -> None:
        session = requests.Session()
        n = index
        while not self._stop.is_set():
            n += 1
            path = ("/api/products/1" if n % 2
                    else f"/api/products?q={SEARCH_WORDS[n % len(SEARCH_WORDS)]}")
            try:
                status = session.get(self.base_url + path, timeout=15).status_code
                kind = None if status == 200 else f"HTTP {status}"
            except requests.RequestException as exc:
                kind = f"{type(exc).__name__}: {str(exc)[-80:]}"
            with self._lock:
                if kind is None:
                    self.ok += 1
                else:
                    self.failures[kind] += 1

    @property
    def failed(self) -> int:
        return sum(self.failures.values())

    def summary(self, what: str) -> str:
        return (f"{what}: {self.ok + self.failed} requests, {self.failed} failed"
                + (f" {dict(self.failures)}" if self.failures else ""))

    def __enter__(self) -> "Load":
        for thread in self._threads:
            thread.start()
        time.sleep(1.5)  # under way before anything changes
        return self

    def __exit__(self, *exc) -> None:
        time.sleep(1.5)  # and on for a while after
        self._stop.set()
        for thread in self._threads:
            thread.join(30)


def all_answer(url: str, times: int = 20) -> bool:
    """Whether `times` GETs of `url`, each on a fresh connection, all answer 200."""
    return all(requests.get(url, timeout=10).status_code == 200 for _ in range(times))


@pytest.fixture(scope="module")
def platform():
    platform = ports.free_platform(PORT_BASE)
    platform.down()  # whatever an interrupted run left at this base
    yield platform
    platform.down()


@pytest.fixture(scope="module")
def monolith(platform):
    """The monolith with two replicas of its web process."""
    platform.down()
    return platform.up("monolith", replicas={"monolith": 2})


@pytest.fixture(scope="module")
def microservices(platform):
    """The microservices, unreplicated (taking the monolith down first)."""
    platform.down()
    return platform.up("microservices")


# -- without a stack ---------------------------------------------------------------


def test_only_replicated_processes_get_replica_ports_and_variables():
    stack = get_stack("microservices", config.Ports.from_base(PORT_BASE))

    records = replica_records(stack, config.Ports.from_base(PORT_BASE),
                              {"catalog": 2, "gateway": 1})

    by_name = {r["name"]: r for r in records}
    assert [r["name"] for r in records if r["service"] == "catalog"] == ["catalog", "catalog.2"]
    assert by_name["catalog"]["replica_port"] == PRIVATE
    assert by_name["catalog.2"] | {"database": None} == {
        "name": "catalog.2", "service": "catalog", "replica": 2, "port": PORT_BASE + 102,
        "replica_port": PRIVATE + 1, "health_url": f"http://127.0.0.1:{PRIVATE + 1}/readyz",
        "database": None}
    assert by_name["gateway"]["replica_port"] is None
    assert by_name["gateway"]["health_url"] == f"http://127.0.0.1:{PORT_BASE + 100}/readyz"
    env = {"ARCHLAB_PROCESS_NAME": "catalog", "PORT": str(PORT_BASE + 102)}
    assert replica_env(env, by_name["gateway"]) == env
    assert replica_env(env, by_name["catalog.2"]) == env | {
        "ARCHLAB_REPLICA": "2", "REPLICA_PORT": str(PRIVATE + 1)}
    assert set(REPLICA_VARIABLES) == {"ARCHLAB_REPLICA", "REPLICA_PORT"}


def test_replica_counts_refuse_what_cannot_be_scaled():
    block = config.Ports.from_base(PORT_BASE)
    stack = get_stack("microservices", block)
    assert replica_counts(stack, block, {"catalog": 3})["catalog"] == 3
    assert replica_counts(stack, block, None)["gateway"] == 1
    with pytest.raises(LabError, match="external card processor"):
        replica_counts(stack, block, {"card-processor": 2})
    # A background worker has no port: its replicas take no private ports.
    assert replica_counts(stack, block, {"orders-worker": 95})["orders-worker"] == 95
    with pytest.raises(LabError, match="'nope' cannot be scaled: it is not a process"):
        replica_counts(stack, block, {"nope": 2})
    with pytest.raises(LabError, match="catalog needs at least 1 replica, not 0"):
        replica_counts(stack, block, {"catalog": 0})
    with pytest.raises(LabError, match="91 replicas need a private port each.*has 90"):
        replica_counts(stack, block, {"catalog": 91})


def test_gunicorn_binds_the_private_port_only_for_a_replica(monkeypatch):
    import plumbing.gunicorn_conf as conf
    monkeypatch.setenv("PORT", "8102")
    try:
        monkeypatch.delenv("REPLICA_PORT", raising=False)
        assert importlib.reload(conf).bind == ["127.0.0.1:8102"]
        monkeypatch.setenv("REPLICA_PORT", "8311")
        assert importlib.reload(conf).bind == ["127.0.0.1:8102", "127.0.0.1:8311"]
    finally:
        monkeypatch.undo()
        importlib.reload(conf)


@pytest.mark.timeout(60)
def test_up_refuses_bad_replicas_before_anything_starts():
    for option, message in (("card-processor=2", "external card processor"),
                            ("nope=2", "'nope' cannot be scaled"),
                            ("monolith=0", "at least 1 replica"),
                            ("monolith=91", "need a private port each")):
        refused = archlab("up", "monolith", "--replicas", option, base=IDLE_BASE)
        assert refused.returncode == 2, refused.stderr
        assert message in refused.stderr and "Traceback" not in refused.stderr
        assert refused.stdout == ""  # nothing announced, nothing started
    malformed = archlab("up", "monolith", "--replicas", "monolith", base=IDLE_BASE)
    assert malformed.returncode == 2 and "is not SERVICE=N" in malformed.stderr
    assert not config.state_dir(IDLE_BASE).exists()


@pytest.mark.timeout(30)
def test_scale_without_a_stack_says_so():
    refused = archlab("scale", "catalog", "2", base=IDLE_BASE)
    assert refused.returncode == 2
    assert f"no stack is running at port base {IDLE_BASE}" in refused.stderr
    assert "Traceback" not in refused.stderr


# -- the monolith, with two replicas -----------------------------------------------


@pytest.mark.timeout(120)
def test_replicas_share_one_port_and_each_answers_on_its_own(platform, monolith):
    status = rows(platform)
    first, second = status["monolith"], status["monolith.2"]

    assert first.port == second.port == PORT_BASE
    assert first.pid != second.pid and first.alive and second.alive
    assert (first.replica_port, second.replica_port) == (PRIVATE, PRIVATE + 1)
    assert first.health == second.health == "ok"
    for replica in (first, second):
        # Both masters listen on the shared port, each on its private one too.
        assert sockets(replica.pid, psutil.CONN_LISTEN, PORT_BASE) >= 1
        assert sockets(replica.pid, psutil.CONN_LISTEN, replica.replica_port) >= 1
        assert requests.get(f"http://127.0.0.1:{replica.replica_port}/readyz",
                            timeout=5).status_code == 200
    assert status["card-processor"].replica_port is None


@pytest.mark.timeout(60)
def test_fresh_connections_to_the_shared_port_reach_both_replicas(platform, monolith):
    status = rows(platform)
    sessions = [requests.Session() for _ in range(40)]
    try:
        for session in sessions:  # each holds its kept-alive connection open
            assert session.get(monolith.base_url + "/readyz", timeout=5).status_code == 200
        held = {name: sockets(status[name].pid, psutil.CONN_ESTABLISHED, PORT_BASE)
                for name in ("monolith", "monolith.2")}
    finally:
        for session in sessions:
            session.close()
    # The kernel spreads connections at random: all 40 on one replica is a 2^-39 chance.
    assert held["monolith"] >= 1 and held["monolith.2"] >= 1, held
    assert sum(held.values()) == 40


@pytest.mark.timeout(60)
def test_each_replica_runs_with_replica_1s_environment_and_its_own_log(platform, monolith):
    state = read_json(platform.state_file)
    spec = {e["name"]: e for e in read_json(platform.state_dir / "supervisor.json")["processes"]}

    assert state["replicas"]["monolith"] == 2
    records = [r for r in state["processes"] if r["service"] == "monolith"]
    assert [(r["name"], r["replica"], r["port"], r["replica_port"]) for r in records] == [
        ("monolith", 1, PORT_BASE, PRIVATE), ("monolith.2", 2, PORT_BASE, PRIVATE + 1)]
    first, second = spec["monolith"]["env"], spec["monolith.2"]["env"]
    assert second["ARCHLAB_PROCESS_NAME"] == "monolith"  # one service to the metrics
    assert (second["ARCHLAB_REPLICA"], second["REPLICA_PORT"]) == ("2", str(PRIVATE + 1))
    assert {k: v for k, v in first.items() if k not in REPLICA_VARIABLES} == \
        {k: v for k, v in second.items() if k not in REPLICA_VARIABLES}
    assert spec["monolith.2"]["argv"] == spec["monolith"]["argv"]
    assert spec["monolith.2"]["log"].endswith("monolith.2.log")
    assert (platform.logs_dir / "monolith.2.log").exists()
    assert "monolith.2" in state["environment"]["processes"]
    # Not replicated: its environment has no replica variables.
    assert not set(REPLICA_VARIABLES) & set(spec["monolith-worker"]["env"])


@pytest.mark.timeout(60)
def test_a_killed_replica_leaves_the_others_serving(platform, monolith):
    before = rows(platform)["monolith.2"]
    killed = [p.pid for p in tree(before.pid)]

    os.killpg(before.pid, signal.SIGKILL)
    wait_for(lambda: all(gone(pid) for pid in killed), 10, "the replica to die")

    # Every request on a fresh connection to the shared port is answered, by the other
    # replica, until the supervisor has the killed one back.
    answers = []

    def back():
        answers.append(requests.get(monolith.base_url + "/api/products/1",
                                    timeout=10).status_code)
        now = rows(platform)["monolith.2"]
        return now if now.pid != before.pid and now.alive and now.health == "ok" else None
    now = wait_for(back, 30, "the supervisor to restart the replica")

    assert set(answers) == {200}
    assert now.restarts == before.restarts + 1
    assert platform.status().healthy


@pytest.mark.timeout(60)
def test_scale_up_and_down_under_load_on_the_monolith(platform, monolith):
    with Load(monolith.base_url) as load:
        up = platform.scale("monolith", 3)
        time.sleep(1.5)
        drained = [rows(platform)[name].pid for name in ("monolith.2", "monolith.3")]
        down = platform.scale("monolith", 1)
    print(load.summary("monolith 2 -> 3 -> 1 replicas"), f"(drain {down.drain_seconds} s)")

    assert (up.before, up.after, up.started) == (2, 3, ["monolith.3"])
    assert up.restarted == []  # replica 1 had its private port already
    assert (down.after, down.drained) == (1, ["monolith.3", "monolith.2"])
    assert down.killed == [] and down.drain_seconds is not None
    status = rows(platform)
    assert [n for n in status if n.startswith("monolith") and n != "monolith-worker"] == \
        ["monolith"]
    assert status["monolith"].replica_port == PRIVATE  # replica 1 keeps its private port
    assert all(gone(pid) for pid in drained)
    assert read_json(platform.state_file)["replicas"]["monolith"] == 1
    assert all_answer(monolith.base_url + "/api/products/1")
    # A drain is clean as far as gunicorn allows (docs/replicas.md), yet a connection the
    # kernel queued on a replica in the instant before it shut its port is reset, and a
    # kept-alive request can cross the close of an idle connection: a few failures may
    # happen, so they are counted and shown, and only a share above 5% fails the test.
    assert load.ok > 0
    assert load.failed <= 0.05 * (load.ok + load.failed), load.summary("monolith")


# -- the microservices -----------------------------------------------------------------


@pytest.mark.timeout(120)
def test_scale_a_service_up_and_down_under_load_through_the_gateway(platform, microservices):
    first = rows(platform)["catalog"]
    assert first.replica_port is None  # not replicated: today's argv and environment

    with Load(microservices.base_url) as load:
        up = platform.scale("catalog", 2)
        time.sleep(1.5)
        second = rows(platform)["catalog.2"]
        down = platform.scale("catalog", 1)
    print(load.summary("catalog 1 -> 2 -> 1 replicas"), f"(drain {down.drain_seconds} s)")

    assert (up.started, up.restarted) == (["catalog.2"], ["catalog"])
    assert down.drained == ["catalog.2"] and down.killed == []
    status = rows(platform)
    assert [n for n in status if n.startswith("catalog")] == ["catalog"]
    # Replica 1 was restarted with a private port, which it keeps.
    assert status["catalog"].pid != first.pid and status["catalog"].replica_port == PRIVATE
    assert status["catalog"].health == "ok"
    assert gone(first.pid) and gone(second.pid)
    assert all_answer(microservices.base_url + "/api/products/1")
    # As on the monolith: failures are counted and shown; above 5% fails the test.
    assert load.ok > 0
    assert load.failed <= 0.05 * (load.ok + load.failed), load.summary("catalog")


@pytest.mark.timeout(120)
def test_the_scale_command_says_what_it_did(platform, microservices):
    up = archlab("scale", "catalog", "2")
    assert up.returncode == 0, up.stderr
    assert up.stdout.startswith("catalog: 1 replica -> 2 replicas in ")
    assert "started catalog.2" in up.stdout

    again = archlab("scale", "catalog", "2")
    assert again.stdout.splitlines()[0] == "catalog already runs 2 replicas; nothing to do"

    status = archlab("status")
    assert status.returncode == 0, status.stdout
    assert "private port" in status.stdout and "catalog.2" in status.stdout

    down = archlab("scale", "catalog", "1")
    assert down.returncode == 0, down.stderr
    assert down.stdout.startswith("catalog: 2 replicas -> 1 replica in ")
    assert "drained catalog.2 in " in down.stdout
    assert [n for n in rows(platform) if n.startswith("catalog")] == ["catalog"]


@pytest.mark.timeout(60)
def test_the_scale_command_explains_what_it_refuses(platform, microservices):
    for args, message in ((("card-processor", "2"), "external card processor"),
                          (("nope", "2"), "'nope' cannot be scaled"),
                          (("catalog", "0"), "catalog needs at least 1 replica, not 0"),
                          (("catalog", "500"), "PostgreSQL connections")):
        refused = archlab("scale", *args)
        assert refused.returncode == 2, (args, refused.stderr)
        assert message in refused.stderr and "Traceback" not in refused.stderr
    assert [n for n in rows(platform) if n.startswith("catalog")] == ["catalog"]


@pytest.mark.timeout(60)
def test_down_stops_every_replica(platform, microservices):
    platform.scale("gateway", 2)
    replicas = [rows(platform)[name].pid for name in ("gateway", "gateway.2")]

    report = platform.down()

    assert report.leftovers == []  # the supervisor stopped them all itself
    assert all(gone(pid) for pid in replicas)
