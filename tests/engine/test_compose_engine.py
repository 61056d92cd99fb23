"""The stacks as containers on a real Docker engine (make test-engine): the microservices
come up healthy with only the gateway published, logins queued at accounts' small CPU
quota are answered, a container whose main process is killed from the host is restarted
and the shop recovers, a held service is down for its hold and then back, a background
worker is healthy by its heartbeat, unhealthy when stopped or paused, and scales to two
containers with a heartbeat each, and the monolith comes up and goes down leaving nothing.
The contract tests run on the same microservices stack in the same session
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


def container_of(platform: ComposePlatform, service: str) -> dict:
    """`docker inspect` of the service's first container, as it is now."""
    return next(c for c in platform.containers("microservices")
                if c["Config"]["Labels"]["com.docker.compose.service"] == service
                and c["Config"]["Labels"]["com.docker.compose.container-number"] == "1")


def health_of(container_id: str) -> str:
    return docker("inspect", "--format", "{{.State.Health.Status}}", container_id).strip()


def wait_until(predicate, timeout: float, what: str, since: float) -> float:
    """Seconds from `since` (time.monotonic()) until `predicate()` holds."""
    while not predicate():
        assert time.monotonic() - since < timeout, f"{what} within {timeout:.0f} s"
        time.sleep(0.25)
    return round(time.monotonic() - since, 1)


# Long enough for a call to the held service to fail while it is down: its name resolves
# to nothing then, and on this engine the lookup fails only after ~10 s (compose/README.md).
HOLD_SECONDS = 25


def test_a_held_service_is_down_for_its_hold_then_back(microservices):
    platform = microservices.platform
    catalog = container_of(platform, "catalog")
    restarts = next(p.restarts for p in platform.status().processes if p.name == "catalog")
    held = time.monotonic()
    assert platform.hold("catalog", HOLD_SECONDS) == ["catalog"]
    record("catalog hold: stopped after s", round(time.monotonic() - held, 1))

    def engine_state() -> str:
        return docker("inspect", "--format", "{{.State.Status}}", catalog["Id"]).strip()

    # Stopped, not restarted by its policy (`docker stop` is a manual stop), and the
    # gateway's calls to it fail: the product list answers 503.
    assert engine_state() == "exited"
    assert next(p for p in platform.status().processes if p.name == "catalog").state == "held"
    asked = time.monotonic()
    answer = requests.get(microservices.base_url + "/api/products", timeout=30)
    record("product list during the hold: status, s",
           (answer.status_code, round(time.monotonic() - asked, 1)))
    assert answer.status_code == 503
    assert engine_state() == "exited", "the hold ended before the checks did"

    back = wait_until(lambda: engine_state() == "running", HOLD_SECONDS + 60,
                      "catalog running again", held)
    record(f"catalog held {HOLD_SECONDS} s: running again after s", back)
    assert back >= HOLD_SECONDS - 0.5
    listed = wait_until(lambda: requests.get(microservices.base_url + "/api/products",
                                             timeout=30).status_code == 200,
                        HOLD_SECONDS + 60, "the product list again", held)
    record(f"catalog held {HOLD_SECONDS} s: product list 200 again after s", listed)
    healthy = wait_until(lambda: health_of(catalog["Id"]) == "healthy", HOLD_SECONDS + 120,
                         "catalog healthy again", held)
    record(f"catalog held {HOLD_SECONDS} s: healthy again after s", healthy)
    after = container_of(platform, "catalog")
    # The same container, started again (not recreated). `docker start` sets the engine's
    # restart count back to 0; status keeps what it had counted, and adds nothing.
    assert after["Id"] == catalog["Id"]
    record("catalog engine RestartCount before / after the hold",
           (catalog["RestartCount"], after["RestartCount"]))
    now = next(p for p in platform.status().processes if p.name == "catalog")
    assert (now.state, now.restarts) == ("running", restarts)


def test_a_workers_heartbeat_keeps_it_healthy_and_a_stop_or_pause_makes_it_unhealthy(
        microservices):
    platform = microservices.platform
    worker = container_of(platform, "orders-worker")
    wid = worker["Id"]
    assert health_of(wid) == "healthy"
    # Healthy by its heartbeat check (the last checks passed, exit 0).
    log = json.loads(docker("inspect", "--format", "{{json .State.Health.Log}}", wid))
    assert log and {entry["ExitCode"] for entry in log[-2:]} == {0}, log
    # Its main process stopped from the host: the container still runs the check, which
    # finds the heartbeat stale after 4 s; unhealthy after 3 failed checks in a row.
    os.kill(worker["State"]["Pid"], signal.SIGSTOP)
    stopped = time.monotonic()
    try:
        unhealthy = wait_until(lambda: health_of(wid) == "unhealthy", 60,
                               "orders-worker unhealthy while stopped", stopped)
    finally:
        os.kill(worker["State"]["Pid"], signal.SIGCONT)
    record("orders-worker SIGSTOP: unhealthy after s", unhealthy)
    log = json.loads(docker("inspect", "--format", "{{json .State.Health.Log}}", wid))
    assert log[-1]["ExitCode"] == 1, log[-1]
    resumed = time.monotonic()
    record("orders-worker SIGCONT: healthy again after s",
           wait_until(lambda: health_of(wid) == "healthy", 60,
                      "orders-worker healthy again", resumed))
    # Paused (the cgroup freezer, as `docker pause`): no check can run in it.
    docker("pause", wid)
    paused = time.monotonic()
    try:
        unhealthy = wait_until(lambda: health_of(wid) == "unhealthy", 60,
                               "orders-worker unhealthy while paused", paused)
    finally:
        docker("unpause", wid)
    record("orders-worker docker pause: unhealthy after s", unhealthy)
    # Marked, not restarted: the same process runs on, and is healthy again.
    unpaused = time.monotonic()
    record("orders-worker docker unpause: healthy again after s",
           wait_until(lambda: health_of(wid) == "healthy", 60,
                      "orders-worker healthy again", unpaused))
    now = container_of(platform, "orders-worker")
    assert (now["State"]["Pid"], now["RestartCount"]) == (worker["State"]["Pid"],
                                                          worker["RestartCount"])


def test_a_background_worker_scales_each_replica_with_its_own_heartbeat(microservices):
    platform = microservices.platform
    report = platform.scale("orders-worker", 2)  # returns once both are healthy
    record("orders-worker 1 -> 2 containers s", report.seconds)
    workers = {p.name: p.health for p in platform.status().processes
               if p.name.startswith("orders-worker")}
    assert workers == {"orders-worker": "ok", "orders-worker.2": "ok"}
    assert platform.scale("orders-worker", 1).after == 1
    assert [p.name for p in platform.status().processes
            if p.name.startswith("orders-worker")] == ["orders-worker"]


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
