"""The local platform end to end: up, status, crash restarts, reseed, down, and the CLI.

Stacks here run at a port base of their own (tests/ports.py), clear of a developer's
stack (8000) and of the test session's stacks.
"""

import os
import signal
import subprocess
import sys
import time

import psutil
import pytest
import requests

from archlab.commands import down as down_command
from archlab.config import STACK_SETTINGS
from archlab.errors import LabError, StackAlreadyRunning, StackNotReady
from archlab.platforms.local import LocalPlatform, stacks_of_checkout
from archlab.platforms.statefiles import read_json
from archlab.stacks import DatabaseSpec, ProcessSpec, Stack
from tests import ports

PORT_BASE = ports.PLATFORM


def processes_of_base(base: int) -> list[str]:
    """Live processes whose run id says they belong to the stack at `base`."""
    found = []
    for process in psutil.process_iter():
        try:
            run_id = process.environ().get("ARCHLAB_RUN_ID", "")
            if run_id.startswith(f"{base}-") and process.status() != psutil.STATUS_ZOMBIE:
                found.append(f"{process.pid} {' '.join(process.cmdline())}")
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            pass
    return found


def wait_for(condition, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = condition()
        if result:
            return result
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


@pytest.fixture(scope="module")
def platform():
    platform = LocalPlatform(PORT_BASE)
    platform.down()  # whatever an interrupted run left at this base
    yield platform
    platform.down()


@pytest.fixture(scope="module")
def started(platform):
    """`archlab up monolith` as a user runs it, at this module's port base."""
    return archlab("up", "monolith", timeout=180)


@pytest.fixture(scope="module")
def monolith(platform, started):
    assert started.returncode == 0, started.stderr
    return platform.info()


@pytest.fixture
def idle_platform(platform):
    """The platform with nothing running, before and after the test."""
    platform.down()
    yield platform
    platform.down()


@pytest.mark.timeout(90)
def test_up_serves_the_shop_and_status_is_healthy(platform, monolith):
    assert monolith.base_url == f"http://127.0.0.1:{PORT_BASE}"
    assert requests.get(monolith.base_url + "/readyz", timeout=5).status_code == 200
    assert requests.get(monolith.base_url + "/api/products", timeout=5).json()["total"] > 0

    status = platform.status()

    assert status.healthy
    assert [(p.name, p.port, p.health) for p in status.processes] == [
        ("card-processor", PORT_BASE + 108, "ok"), ("monolith", PORT_BASE, "ok"),
        ("monolith-worker", None, "-")]
    state = read_json(platform.state_file)
    assert state["sizing"]["web_threads"] == 8
    # Every stack setting is recorded, and every process got it.
    assert state["settings"] == STACK_SETTINGS and state["test_hooks"] is None
    spec = read_json(platform.state_dir / "supervisor.json")
    # Test hooks are off, explicitly: a value in the shell cannot switch them on.
    assert {p["env"]["ARCHLAB_TEST_HOOKS"] for p in spec["processes"]} == {""}
    assert all(p["env"]["INVOICE_PRINTER"] == "spool" for p in spec["processes"])
    assert state["database"]["mode"] == "embedded"
    assert state["pids"]["postgres"] and state["startup_seconds"] > 0


@pytest.mark.timeout(30)
def test_a_second_up_at_the_same_base_is_refused(platform, monolith):
    with pytest.raises(StackAlreadyRunning, match=f"already runs at port base {PORT_BASE}"):
        platform.up("monolith")
    assert platform.status().healthy


@pytest.mark.timeout(60)
def test_up_ends_with_the_commands_that_reach_this_stack(started):
    closing = started.stdout.strip().splitlines()[-1]
    assert closing == (f"See it with `ARCHLAB_PORT_BASE={PORT_BASE} archlab status`; "
                       f"stop it with `ARCHLAB_PORT_BASE={PORT_BASE} archlab down`.")


@pytest.mark.timeout(60)
def test_a_second_up_refuses_before_it_announces_anything(monolith):
    second = archlab("up", "monolith")
    assert second.returncode == 2
    assert second.stdout == ""  # no "starting monolith ..." first
    assert f"a monolith stack already runs at port base {PORT_BASE}" in second.stderr
    assert f"`ARCHLAB_PORT_BASE={PORT_BASE} archlab down` stops it" in second.stderr


@pytest.mark.timeout(30)
def test_the_supervisor_restarts_a_killed_worker(platform, monolith):
    worker = next(p for p in platform.status().processes if p.name == "monolith-worker")

    os.kill(worker.pid, signal.SIGKILL)

    def restarted():
        now = next(p for p in platform.status().processes if p.name == "monolith-worker")
        return now if now.alive and now.pid != worker.pid else None
    now = wait_for(restarted, 15, "the worker to be restarted")
    assert now.restarts == worker.restarts + 1
    assert platform.status().healthy


@pytest.mark.timeout(30)
def test_reseed_puts_the_data_back(platform, monolith):
    url = monolith.base_url + "/api/products/1"
    initial = requests.get(url, timeout=5).json()["stock"]["available"]
    answer = requests.put(monolith.base_url + "/api/admin/products/1/stock", timeout=5,
                          json={"available": initial + 7},
                          headers={"Authorization": f"Bearer {monolith.admin_token}"})
    assert answer.status_code == 200, answer.text

    platform.reseed()

    assert requests.get(url, timeout=5).json()["stock"]["available"] == initial


@pytest.mark.timeout(60)
def test_down_leaves_no_process_and_no_postmaster(platform, monolith):
    state = read_json(platform.state_file)
    postmaster = state["pids"]["postgres"]
    cluster = state["database"]["folder"]

    report = platform.down()

    assert report.was_running and report.run_id == state["run_id"]
    assert report.leftovers == []
    assert processes_of_base(PORT_BASE) == []
    assert not psutil.pid_exists(postmaster) or \
        psutil.Process(postmaster).status() == psutil.STATUS_ZOMBIE
    assert not os.path.exists(cluster)
    assert not platform.state_dir.exists()  # the state goes, the logs stay
    assert (platform.logs_dir / "monolith.log").exists()
    assert not platform.down().was_running


@pytest.mark.timeout(60)
def test_a_crash_looping_process_fails_up_and_names_its_log(idle_platform):
    crashing = ProcessSpec("crasher", [sys.executable, "-c", "print('boom'); exit(3)"])
    stack = Stack("crashing", databases=[], processes=[crashing], entrypoint="crasher")

    with pytest.raises(StackNotReady, match="crasher keeps crashing") as raised:
        idle_platform.up(stack)

    assert str(idle_platform.logs_dir / "crasher.log") in str(raised.value)
    assert (idle_platform.logs_dir / "crasher.log").read_text().count("boom") >= 3
    assert processes_of_base(PORT_BASE) == []
    assert not idle_platform.state_file.exists()


@pytest.mark.timeout(60)
def test_a_stack_that_never_gets_healthy_times_out_and_is_cleaned_up(idle_platform):
    port = PORT_BASE + 1
    silent = ProcessSpec("silent", [sys.executable, "-c", "import time; time.sleep(60)"],
                         port=port, health_url=f"http://127.0.0.1:{port}/readyz")
    stack = Stack("silent", databases=[], processes=[silent], entrypoint="silent")

    with pytest.raises(StackNotReady, match="silent was not ready within 2 s") as raised:
        idle_platform.up(stack, ready_timeout=2)

    assert str(idle_platform.logs_dir / "silent.log") in str(raised.value)
    assert processes_of_base(PORT_BASE) == []
    assert not idle_platform.state_file.exists()


@pytest.mark.timeout(90)
def test_a_failing_seed_command_fails_up_and_names_its_database(idle_platform):
    sleeper = ProcessSpec("sleeper", [sys.executable, "-c", "import time; time.sleep(60)"])
    stack = Stack("unseedable", processes=[sleeper], entrypoint="sleeper", databases=[
        DatabaseSpec("catalog", "catalog", seed="microservices.catalog.seed"),
        DatabaseSpec("ghost", "ghost", seed="microservices.ghost.seed")])

    with pytest.raises(LabError) as raised:
        idle_platform.up(stack)

    # Only the ghost's: the catalog's command ran beside it, and succeeded.
    message = str(raised.value)
    assert message.startswith("the ghost database's seed command: "
                              "`python -m microservices.ghost.seed --schema` exited with 1: ")
    assert message.endswith("No module named 'microservices.ghost')")
    assert processes_of_base(PORT_BASE) == []
    assert not idle_platform.state_file.exists()


@pytest.mark.timeout(60)
def test_processes_that_outlive_their_supervisor_are_found_and_killed(idle_platform):
    sleeper = ProcessSpec("sleeper", [sys.executable, "-c", "import time; time.sleep(300)"])
    stack = Stack("sleepy", databases=[], processes=[sleeper], entrypoint="sleeper")
    idle_platform.up(stack)
    first = idle_platform.status()
    os.kill(first.supervisor_pid, signal.SIGKILL)
    wait_for(lambda: not idle_platform.running(), 5, "the supervisor to die")

    idle_platform.up(stack)  # clears what the dead stack left, then starts afresh

    orphan = first.processes[0].pid
    assert not psutil.pid_exists(orphan) or \
        psutil.Process(orphan).status() == psutil.STATUS_ZOMBIE
    second = idle_platform.status()
    os.kill(second.supervisor_pid, signal.SIGKILL)
    report = idle_platform.down()
    assert len(report.leftovers) == 1
    assert f"(pid {second.processes[0].pid})" in report.leftovers[0]
    assert processes_of_base(PORT_BASE) == []


@pytest.mark.timeout(10)
def test_down_with_nothing_running_says_so(idle_platform):
    said = []
    report = down_command.run(port_base=PORT_BASE, echo=said.append)
    assert not report.was_running
    assert said[0] == f"nothing is running at port base {PORT_BASE}"


def archlab(*args: str, timeout: float = 30) -> subprocess.CompletedProcess:
    env = {**os.environ, "ARCHLAB_PORT_BASE": str(PORT_BASE)}
    return subprocess.run([sys.executable, "-m", "archlab", *args], env=env,
                          capture_output=True, text=True, timeout=timeout)


SLEEPY = Stack("sleepy", databases=[], entrypoint="sleeper", processes=[
    ProcessSpec("sleeper", [sys.executable, "-c", "import time; time.sleep(300)"])])


@pytest.fixture
def own_state_root(idle_platform, tmp_path, monkeypatch):
    """A state root of this test's own (ARCHLAB_STATE_DIR, which the CLI inherits), so
    the stacks it lists are only the ones the test starts."""
    monkeypatch.setenv("ARCHLAB_STATE_DIR", str(tmp_path / "state"))
    yield tmp_path / "state"
    for platform, _, _ in stacks_of_checkout():
        platform.down()


@pytest.mark.timeout(120)
def test_status_and_down_name_the_stacks_at_other_bases_and_down_all_stops_them(
        own_state_root):
    other = LocalPlatform(PORT_BASE + 10)
    other.up(SLEEPY)
    reach = f"`ARCHLAB_PORT_BASE={PORT_BASE + 10} archlab down`"

    status = archlab("status")
    assert status.returncode == 3
    assert f"no stack is running at port base {PORT_BASE}" in status.stdout
    assert f"{PORT_BASE + 10}  sleepy" in status.stdout and reach in status.stdout

    down = archlab("down")
    assert down.returncode == 0
    assert down.stdout.startswith(f"nothing is running at port base {PORT_BASE}\n")
    assert reach in down.stdout and "`archlab down --all`" in down.stdout
    assert other.running()

    everything = archlab("down", "--all")
    assert everything.returncode == 0, everything.stderr
    assert f"sleepy at port base {PORT_BASE + 10} is down" in everything.stdout
    assert not other.running() and not other.state_dir.exists()
    assert (other.logs_dir / "sleeper.log").exists()
    assert processes_of_base(PORT_BASE + 10) == []
    assert archlab("down", "--all").stdout == "no stack of this checkout is running\n"


@pytest.mark.timeout(120)
def test_down_clears_the_state_of_a_stack_that_died(own_state_root):
    dead = LocalPlatform(PORT_BASE + 20)
    dead.up(SLEEPY)
    os.kill(dead.status().supervisor_pid, signal.SIGKILL)
    wait_for(lambda: not dead.running(), 5, "the supervisor to die")

    down = archlab("down")

    assert down.returncode == 0
    assert (f"cleared the state of the sleepy stack at port base {PORT_BASE + 20}, which "
            "no longer ran") in down.stdout
    assert not dead.state_dir.exists() and (dead.logs_dir / "sleeper.log").exists()
    assert processes_of_base(PORT_BASE + 20) == []  # its orphaned sleeper too


@pytest.mark.timeout(60)
def test_the_cli_explains_instead_of_tracing_back(idle_platform):
    unknown = archlab("up", "mainframe")
    assert unknown.returncode == 2
    assert "'mainframe'" in unknown.stderr and "monolith" in unknown.stderr

    reseed = archlab("seed", "--reset")
    assert reseed.returncode == 2
    assert f"no stack is running at port base {PORT_BASE}" in reseed.stderr
    assert "Traceback" not in reseed.stderr

    assert archlab("status").returncode == 3

    unconfirmed = archlab("seed")
    assert unconfirmed.returncode == 2
    assert "Missing option" not in unconfirmed.stderr
    assert "every table is emptied" in unconfirmed.stderr
    assert f"`ARCHLAB_PORT_BASE={PORT_BASE} archlab seed --reset`" in unconfirmed.stderr
