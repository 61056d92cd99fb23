"""The compose platform's driver: the commands it issues and what it makes of the engine's
answers, with a fake command line (the real engine runs in tests/engine)."""

import json
import os
import stat
import subprocess
import time

import psutil
import pytest

from archlab import limits
from archlab.errors import LabError, StackNotReady
from archlab.platforms import compose
from archlab.stacks import get_stack

# Above any pid_max (2**22): no process has it.
NO_SUCH_PID = 2**22 + 1


class FakeCli(compose.Cli):
    """Records every command; answers `ps` and `inspect` from `containers`."""

    def __init__(self, containers=()):
        super().__init__(compose=["docker-compose"], docker="docker")
        self.containers = list(containers)

    def run(self, argv, *, timeout=600, check=True):
        self.issued.append(list(argv))
        if "ps" in argv:
            return "\n".join(c["Id"] for c in self.containers)
        if argv[:2] == ["docker", "inspect"]:
            return json.dumps(self.containers)
        if argv[:2] == ["docker", "logs"]:
            return "seed: could not connect\n"
        return ""

    def run_together(self, commands, timeout):
        self.issued += [list(argv) for _, argv, _ in commands]
        return []

    def detach(self, argv, log):
        """A hold's restarter: recorded, not started."""
        self.issued.append(list(argv))
        return NO_SUCH_PID


def container(service, status="running", health="healthy", exit_code=0, number="1",
              restarts=0, pid=4242):
    state = {"Status": status, "ExitCode": exit_code, "Pid": pid}
    if health:
        state["Health"] = {"Status": health}
    return {"Id": f"{service}-{number}", "RestartCount": restarts, "State": state,
            "Config": {"Labels": {"com.docker.compose.service": service,
                                  "com.docker.compose.container-number": number}}}


def healthy(arch):
    stack = get_stack(arch, compose.config.Ports.from_base(8000))
    found = [container("postgres")]
    found += [container(f"seed-{d.name}", status="exited", health=None) for d in stack.databases]
    # Web processes and background workers alike have health checks.
    found += [container(p.name) for p in stack.processes]
    return found


@pytest.fixture
def platform(tmp_path, monkeypatch):
    monkeypatch.setenv("ARCHLAB_STATE_DIR", str(tmp_path))
    monkeypatch.delenv("ARCHLAB_PUBLISH_ADDRESS", raising=False)
    return compose.ComposePlatform(8000, FakeCli(healthy("microservices")))


def commands(cli, word):
    return [argv for argv in cli.issued if word in argv]


def test_up_builds_then_starts_the_project_with_its_env_file(platform):
    info = platform.up("microservices")
    build, up = commands(platform.cli, "build")[0], commands(platform.cli, "up")[0]
    for argv in (build, up):
        assert argv[:5] == ["docker-compose", "--project-name", "archlab8000-microservices",
                            "--file", str(compose.config.project_root() / "compose" /
                                          "microservices.yml")]
        assert argv[5:7] == ["--env-file", str(platform.state_dir / "compose.env")]
    assert up[-2:] == ["--detach", "--no-build"]
    assert platform.cli.issued.index(build) < platform.cli.issued.index(up)
    # Only the gateway is published, on the stack's entry port.
    assert info.base_url == "http://127.0.0.1:8100"


def test_the_env_file_holds_fresh_secrets_for_its_owner_only_and_the_limits(platform):
    platform.up("microservices")
    path = platform.state_dir / "compose.env"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    env = dict(line.split("=", 1) for line in path.read_text().splitlines())
    for name in ("ARCHLAB_ADMIN_TOKEN", "ARCHLAB_SECRET_KEY", "POSTGRES_PASSWORD",
                 "CATALOG_DB_PASSWORD", "CARDPROCESSOR_DB_PASSWORD"):
        assert len(env[name]) >= 20, name
    assert env["ARCHLAB_PORT"] == "8100" and env["GATEWAY_FANOUT_THREADS"]
    cpus = sum(float(v) for k, v in env.items() if k.endswith("_CPUS"))
    memory = sum(int(v.rstrip("M")) for k, v in env.items() if k.endswith("_MEMORY"))
    assert cpus == pytest.approx(limits.DEFAULT_CPUS)
    assert memory == limits.DEFAULT_MEMORY_MIB
    platform.down()
    platform.up("microservices")
    again = dict(line.split("=", 1) for line in path.read_text().splitlines())
    assert again["POSTGRES_PASSWORD"] != env["POSTGRES_PASSWORD"]


def test_a_failed_seed_container_stops_the_wait_with_its_last_words(platform):
    platform.cli.containers[1] = container("seed-accounts", status="exited", health=None,
                                           exit_code=1)
    with pytest.raises(StackNotReady, match="seed-accounts failed .exit 1.: seed: could not"):
        platform.up("microservices")
    # Its containers' output is kept for the person who reads why.
    assert (platform.logs_dir / "microservices.log").exists()


def test_an_unhealthy_container_is_named_when_the_wait_runs_out(platform):
    platform.up("microservices")
    platform.cli.containers[-1] = container("gateway", health="starting")
    with pytest.raises(StackNotReady, match="gateway was not healthy .starting."):
        platform.wait_ready(timeout=0)


def test_status_lists_the_long_running_containers_with_their_host_pids(platform):
    platform.up("microservices")
    platform.cli.containers.append(container("catalog", number="2", restarts=1, pid=77))
    status = platform.status()
    names = [p.name for p in status.processes]
    assert "catalog.2" in names and not [n for n in names if n.startswith("seed-")]
    second = next(p for p in status.processes if p.name == "catalog.2")
    assert (second.pid, second.restarts, second.health) == (77, 1, "ok")
    assert next(p for p in status.processes if p.name == "gateway").port == 8100
    assert status.healthy


def test_scale_changes_one_service_and_refuses_the_entry_point(platform):
    platform.up("microservices")
    report = platform.scale("catalog", 3)
    argv = commands(platform.cli, "--scale")[-1]
    assert argv[argv.index("--scale") + 1] == "catalog=3" and argv[-1] == "catalog"
    # Only that service: its dependencies and the running containers stay as they are.
    assert {"--no-deps", "--no-recreate", "--no-build"} <= set(argv)
    assert (report.before, report.after) == (1, 3)
    for service, words in [("gateway", "published entry point"),
                           ("card-processor", "cannot be scaled"),
                           ("postgres", "cannot be scaled")]:
        with pytest.raises(LabError, match=words):
            platform.scale(service, 2)


def test_reseed_runs_each_database_seed_command_in_its_owner(platform):
    platform.up("microservices")
    platform.reseed()
    execs = commands(platform.cli, "exec")
    # docker exec in the owner's running container (ids are "<service>-<number>" here).
    owners = {argv[2].rsplit("-", 1)[0]: argv[-1] for argv in execs}
    assert owners["catalog"] == "microservices.catalog.seed"
    assert owners["card-processor"] == "cardprocessor.seed"
    platform.restock(50)
    restocks = commands(platform.cli, "--restock")
    assert [argv[2] for argv in restocks] == ["inventory-1"]


def test_down_removes_containers_volumes_and_state_and_is_harmless_twice(platform):
    platform.up("microservices")
    report = platform.down()
    argv = commands(platform.cli, "down")[-1]
    assert {"--volumes", "--remove-orphans"} <= set(argv)
    assert report.was_running and not platform.state_dir.exists()
    assert platform.down().was_running is False


def test_a_second_up_at_the_same_base_is_refused(platform):
    platform.up("microservices")
    with pytest.raises(LabError, match="already up"):
        platform.up("monolith")


# -- the engine's processes, for the host-noise window ------------------------------------

TABLE = {
    1: (0, "systemd"),
    900: (1, "dockerd"),
    901: (900, "containerd"),
    950: (1, "containerd-shim-runc-v2"),   # the gateway's shim
    951: (950, "gunicorn"),                 # the gateway's main process
    952: (950, "python"),                   # a healthcheck the engine runs in it
    960: (1, "containerd-shim-runc-v2"),   # another stack's container
    961: (960, "gunicorn"),
    970: (1, "sshd"),
    971: (970, "gunicorn"),                 # a process that is not in a container
}


def test_the_engine_processes_are_the_daemon_and_the_stacks_own_shims():
    assert compose.engine_processes(TABLE, [951]) == [900, 950]


def test_a_parent_that_is_not_a_shim_is_not_counted_nor_a_missing_process():
    assert compose.engine_processes(TABLE, [971, 12345]) == [900]
    assert compose.engine_processes({1: (0, "systemd")}, [951]) == []


# -- CPU quota throttling, from the kernel's cpu.stat --------------------------------------


def fake_host(tmp_path, cgroup_lines: str, stat_path: str, stat: str):
    (tmp_path / "proc/77").mkdir(parents=True)
    (tmp_path / "proc/77/cgroup").write_text(cgroup_lines)
    where = tmp_path / "sys/fs/cgroup" / stat_path
    where.mkdir(parents=True)
    (where / "cpu.stat").write_text(stat)
    return tmp_path


@pytest.mark.parametrize("cgroup, where, stat, expected", [
    # cgroup v1: the cpu controller's hierarchy; throttled_time in nanoseconds.
    ("4:memory:/docker/abc\n1:cpu:/docker/abc\n0::/\n", "cpu/docker/abc",
     "nr_periods 200\nnr_throttled 50\nthrottled_time 2500000000\n", (200, 50, 2.5)),
    # cgroup v2: one hierarchy; throttled_usec in microseconds.
    ("0::/system.slice/docker-abc.scope\n", "system.slice/docker-abc.scope",
     "usage_usec 9\nnr_periods 10\nnr_throttled 4\nthrottled_usec 300000\n", (10, 4, 0.3)),
], ids=["v1", "v2"])
def test_cpu_stat_is_read_from_the_process_cgroup(tmp_path, cgroup, where, stat, expected):
    root = fake_host(tmp_path, cgroup, where, stat)
    periods, throttled, seconds = expected
    assert compose.read_cpu_stat(77, root) == {"periods": periods,
                                               "throttled_periods": throttled,
                                               "throttled_s": seconds}


def test_cpu_stat_of_a_process_not_here_is_none(tmp_path):
    assert compose.read_cpu_stat(77, tmp_path) is None


def test_throttling_sums_a_services_replicas_between_the_readings():
    before = {"s-catalog-1": {"periods": 100, "throttled_periods": 10, "throttled_s": 1.0},
              "s-catalog-2": {"periods": 0, "throttled_periods": 0, "throttled_s": 0.0},
              "s-gateway-1": None}
    after = {"s-catalog-1": {"periods": 200, "throttled_periods": 60, "throttled_s": 3.0},
             "s-catalog-2": {"periods": 100, "throttled_periods": 0, "throttled_s": 0.0},
             "s-gateway-1": {"periods": 100, "throttled_periods": 100, "throttled_s": 9.0}}
    services = {"s-catalog-1": "catalog", "s-catalog-2": "catalog", "s-gateway-1": "gateway"}
    assert compose.throttling(before, after, services) == {
        "catalog": {"throttled_s": 2.0, "throttled_periods_percent": 25.0}}


# -- holding a process down ------------------------------------------------------------


def test_hold_stops_every_container_of_a_process_then_starts_them_later(platform):
    platform.up("microservices")
    platform.cli.containers.append(container("catalog", number="2"))
    held = platform.hold("catalog", 5)
    assert held == ["catalog", "catalog.2"]
    # docker stop, which the restart policy takes as a manual stop (not kill, not compose).
    assert commands(platform.cli, "stop")[-1] == ["docker", "stop", "--time", "10",
                                                  "catalog-1", "catalog-2"]
    # Then, detached, a restarter that sleeps out the rest of the hold and starts them.
    restarter = platform.cli.issued[-1]
    assert restarter[:4] == ["sh", "-c", compose.HOLD_SCRIPT, compose.HOLD_MARK]
    assert 4 < float(restarter[4]) <= 5
    assert restarter[5:] == ["docker", "start", "catalog-1", "catalog-2"]
    assert platform.cli.issued.index(commands(platform.cli, "stop")[-1]) \
        < platform.cli.issued.index(restarter)
    # status says which stopped containers are held.
    for c in platform.cli.containers:
        if c["Config"]["Labels"]["com.docker.compose.service"] == "catalog":
            c["State"] |= {"Status": "exited", "Pid": 0}
    states = {p.name: p.state for p in platform.status().processes}
    assert states["catalog"] == states["catalog.2"] == "held"
    assert states["gateway"] == "running"


def test_a_hold_keeps_the_restarts_docker_start_sets_back_to_zero(platform):
    platform.up("microservices")
    catalog = next(c for c in platform.cli.containers if c["Id"] == "catalog-1")
    catalog["RestartCount"] = 2
    catalog["State"]["StartedAt"] = "t1"

    def restarts():
        return next(p.restarts for p in platform.status().processes if p.name == "catalog")
    platform.hold("catalog", 5)
    catalog["State"]["Status"] = "exited"
    platform.hold("catalog", 5)  # again while held: not started since, nothing to add
    catalog["State"] |= {"Status": "running", "StartedAt": "t2"}
    catalog["RestartCount"] = 0  # docker start
    assert restarts() == 2
    catalog["RestartCount"] = 1  # a crash since
    catalog["State"]["StartedAt"] = "t3"
    assert restarts() == 3
    platform.hold("catalog", 5)
    catalog["RestartCount"] = 0
    assert restarts() == 3


def test_a_hold_outside_its_range_or_of_no_such_process_is_refused(platform):
    platform.up("microservices")
    for seconds in (0, -1, 601):
        with pytest.raises(LabError, match="at most 600 s"):
            platform.hold("catalog", seconds)
    with pytest.raises(LabError, match="'postgres' is not a process of this stack: "
                                       "accounts, card-processor, catalog"):
        platform.hold("postgres", 1)
    assert not commands(platform.cli, "stop") and not commands(platform.cli, "start")
    assert len(platform.hold("orders-worker", 600)) == 1


def detached_restarter(tmp_path, seconds, *argv):
    cli = compose.Cli(compose=["docker-compose"])
    return cli.detach(["sh", "-c", compose.HOLD_SCRIPT, compose.HOLD_MARK, str(seconds),
                       *argv], tmp_path / "holds.log")


def wait_gone(pid):
    try:
        psutil.Process(pid).wait(timeout=10)
    except psutil.NoSuchProcess:
        pass


def test_the_restarter_runs_its_command_after_the_hold_in_a_session_of_its_own(tmp_path):
    started = time.monotonic()
    done = tmp_path / "started"
    pid = detached_restarter(tmp_path, 0.3, "touch", str(done))
    assert os.getsid(pid) == pid  # not in the lab's session: it outlives the lab
    wait_gone(pid)
    assert done.exists() and time.monotonic() - started >= 0.3


def test_a_restarter_ended_before_its_time_starts_nothing(tmp_path):
    done = tmp_path / "started"
    pid = detached_restarter(tmp_path, 30, "touch", str(done), "container-id")
    time.sleep(0.2)  # the shell is running its sleep
    compose.end_hold({"pid": pid, "ids": ["container-id"]})
    wait_gone(pid)
    assert not done.exists()


def test_ending_a_hold_leaves_a_process_that_is_not_its_restarter_alone(tmp_path):
    other = subprocess.Popen(["sleep", "30"], start_new_session=True)
    try:
        compose.end_hold({"pid": other.pid, "ids": ["container-id"]})
        compose.end_hold({"pid": NO_SUCH_PID, "ids": ["container-id"]})
        compose.end_hold(None)
        assert other.poll() is None
    finally:
        other.kill()
        other.wait()


def test_down_ends_a_pending_holds_restarter(platform, monkeypatch):
    platform.up("microservices")
    platform.hold("catalog", 60)
    ended = []
    monkeypatch.setattr(compose, "end_hold", ended.append)
    platform.down()
    assert [hold["ids"] for hold in ended] == [["catalog-1"]]


# -- replicas of a background worker ---------------------------------------------------


def test_a_background_worker_scales_side_by_side(platform):
    platform.up("microservices")
    report = platform.scale("orders-worker", 2)
    argv = commands(platform.cli, "--scale")[-1]
    assert argv[argv.index("--scale") + 1] == "orders-worker=2" and argv[-1] == "orders-worker"
    assert (report.before, report.after) == (1, 2)
    platform.scale("invoices-worker", 2)
    assert commands(platform.cli, "--scale")[-1][-1] == "invoices-worker"
