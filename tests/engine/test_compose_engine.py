"""The stacks as containers on a real Docker engine (make test-engine): the microservices
come up healthy with only the gateway published, logins queued at accounts' small CPU
quota are answered, a container whose main process is killed from the host is restarted
and the shop recovers, and the monolith comes up and goes down leaving nothing. The
contract tests run on the same microservices stack in the same session
(ARCHLAB_TEST_PLATFORM=compose). Each figure is printed for the record."""

import json
import os
import signal
import subprocess
import time
from concurrent.futures import ThreadPoolExecutor

import psutil
import pytest
import requests

from archlab.platforms.compose import ComposePlatform
from tests import ports
from tests.conftest import PLATFORM

pytestmark = [pytest.mark.engine, pytest.mark.timeout(1800),
              pytest.mark.skipif(PLATFORM != "compose",
                                 reason="needs a Docker engine: run `make test-engine`")]

DOCKER = os.environ.get("ARCHLAB_DOCKER", "docker")
RESTART_TIMEOUT_SECONDS = 120


def docker(*args: str) -> str:
    return subprocess.run([DOCKER, *args], check=True, capture_output=True, text=True).stdout


def record(name: str, value) -> None:
    """A figure of this run, on the terminal (make test-engine runs with -s)."""
    print(f"\nengine figure: {name} = {value}")


@pytest.fixture(scope="module")
def microservices(stacks):
    return stacks.get("microservices")


def test_the_microservices_come_up_healthy_with_only_the_gateway_published(microservices):
    platform = microservices.platform
    status = platform.status()
    assert status.healthy, [(p.name, p.health) for p in status.processes]
    assert {p.name for p in status.processes} >= {"gateway", "catalog", "orders-worker",
                                                 "postgres", "card-processor"}
    record("microservices time to healthy s (build included)",
           platform._require_state()["startup_seconds"])
    published = {}
    for container in platform.containers("microservices"):
        service = container["Config"]["Labels"]["com.docker.compose.service"]
        bindings = container["HostConfig"].get("PortBindings") or {}
        if bindings:
            published[service] = bindings
        limits = container["HostConfig"]
        # Every container runs within its CPU and memory limit.
        assert limits["NanoCpus"] > 0 and limits["Memory"] > 0, service
    assert list(published) == ["gateway"]
    products = requests.get(microservices.base_url + "/api/products", timeout=30)
    assert products.status_code == 200 and products.json()["items"]
    size = int(docker("image", "inspect", "--format", "{{.Size}}",
                      os.environ.get("ARCHLAB_IMAGE", "archlab:latest")))
    record("image size MB", round(size / 1e6))


def test_the_engine_processes_serving_the_stack_are_found_for_the_noise_window(microservices):
    platform = microservices.platform
    platform.record_pids()
    found = platform.engine_pids()
    names = {pid: psutil.Process(pid).name() for pid in found}
    assert "dockerd" in names.values()
    gateway = next(p for p in platform.status().processes if p.name == "gateway")
    shim = psutil.Process(gateway.pid).ppid()
    assert shim in found and names[shim].startswith("containerd-shim")


def test_logins_arriving_together_at_the_smallest_quota_are_answered_not_503(microservices):
    # Before any other login of the session: a worker's first unknown-e-mail login once
    # paid a second scrypt. Each login costs ~0.12 s of CPU, and accounts runs at a few
    # hundredths of a CPU, so four at once take seconds; none may time out at the gateway.
    accounts = next(c for c in microservices.platform.containers("microservices")
                    if c["Config"]["Labels"]["com.docker.compose.service"] == "accounts")
    cpus = accounts["HostConfig"]["NanoCpus"] / 1e9
    # As many logins as accounts has request threads: all of them share its quota.
    env = dict(item.split("=", 1) for item in accounts["Config"]["Env"])
    threads = int(env["WEB_WORKERS"]) * int(env["WEB_THREADS"])

    def login(n: int) -> tuple[int, float]:
        started = time.monotonic()
        answer = requests.post(microservices.base_url + "/api/auth/login", timeout=60,
                               json={"email": f"nobody{n}@rackshop.test", "password": "x"})
        return answer.status_code, time.monotonic() - started

    with ThreadPoolExecutor(threads) as pool:
        answers = list(pool.map(login, range(threads)))
    record(f"{threads} unknown-e-mail logins at once, accounts at {cpus:g} CPU: slowest s",
           round(max(seconds for _, seconds in answers), 1))
    assert [status for status, _ in answers] == [401] * threads


def test_a_killed_main_process_is_restarted_and_the_shop_recovers(microservices):
    platform = microservices.platform
    catalog = next(p for p in platform.status().processes if p.name == "catalog")
    # From the host, as a crash would: not `docker kill`, which counts as a manual stop.
    os.kill(catalog.pid, signal.SIGKILL)
    killed = time.monotonic()
    while True:
        now = next(p for p in platform.status().processes if p.name == "catalog")
        if now.restarts > catalog.restarts and now.alive and now.health == "ok":
            break
        assert time.monotonic() - killed < RESTART_TIMEOUT_SECONDS, now
        time.sleep(0.5)
    record("catalog restarted and healthy after SIGKILL s", round(time.monotonic() - killed, 1))
    while True:
        answer = requests.get(microservices.base_url + "/api/products", timeout=30)
        if answer.status_code == 200:
            break
        assert time.monotonic() - killed < RESTART_TIMEOUT_SECONDS, answer.text
        time.sleep(0.5)
    record("shop listing products again after SIGKILL s", round(time.monotonic() - killed, 1))
    customer = microservices.customer()
    product = answer.json()["items"][0]["id"]
    order = customer.checkout([{"product_id": product, "quantity": 1}])
    assert order.status_code == 201, order.text


def test_a_service_scales_up_and_down_behind_its_name(microservices):
    platform = microservices.platform
    report = platform.scale("catalog", 2)
    assert (report.before, report.after) == (1, 2)
    names = [p.name for p in platform.status().processes if p.name.startswith("catalog")]
    assert sorted(names) == ["catalog", "catalog.2"]
    for _ in range(20):  # the gateway's calls reach both containers through the name
        assert requests.get(microservices.base_url + "/api/products",
                            timeout=30).status_code == 200
    record("catalog 1 -> 2 containers s", report.seconds)
    report = platform.scale("catalog", 1)
    assert (report.before, report.after) == (2, 1)
    assert [p.name for p in platform.status().processes if p.name.startswith("catalog")] \
        == ["catalog"]
    # A connection the gateway kept to the removed container fails once at most; the
    # shop answers again at once (its client retries or reconnects).
    answers = [requests.get(microservices.base_url + "/api/products", timeout=30).status_code
               for _ in range(10)]
    record("answers after catalog 2 -> 1", answers)
    assert answers[-5:] == [200] * 5


def test_the_monolith_comes_up_and_down_leaving_nothing():
    platform = ComposePlatform(ports.stack_base("monolith"))
    info = platform.up("monolith")
    try:
        record("monolith time to healthy s (build cached)", info.startup_seconds)
        assert platform.status().healthy
        assert requests.get(info.base_url + "/api/products", timeout=30).status_code == 200
    finally:
        platform.down()
    left = docker("ps", "--all", "--quiet", "--filter",
                  f"label=com.docker.compose.project={platform.project('monolith')}")
    assert left.strip() == ""
    networks = json.loads(docker("network", "ls", "--format", "{{json .Name}}").replace(
        "\n", ",").rstrip(",").join("[]"))
    assert not [n for n in networks if n.startswith(platform.project("monolith"))]
