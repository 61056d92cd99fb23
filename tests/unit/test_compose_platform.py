"""The compose platform's driver: the commands it issues and what it makes of the engine's
answers, with a fake command line (the real engine runs in tests/engine)."""

import json
import stat

import pytest

from archlab import limits
from archlab.errors import LabError, StackNotReady
from archlab.platforms import compose
from archlab.stacks import get_stack


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
    found += [container(p.name, health="healthy" if p.port else None) for p in stack.processes]
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
