"""Supervision on a live stack, both architectures: a paused process of every kind (the
entry point, a service, a background worker, the card processor) is noticed by its
liveness check and restarted, as Kubernetes would; a saturated one is not; a process
held down refuses connections for the hold and comes back; and every process runs under
its memory limit. The time from each pause to a healthy replacement is printed (-s).
"""

import io
import os
import signal
import socket
import threading
import time
import uuid
from pathlib import Path

import pytest
import requests
from rich.console import Console

from archlab.commands import status as status_command
from archlab.errors import LabError
from archlab.platforms.local import LocalPlatform
from archlab.platforms.statefiles import read_json
from archlab.platforms.supervisor import STATUS_FILE
from plumbing.testhooks import fault

pytestmark = [pytest.mark.slow, pytest.mark.timeout(180)]

KINDS = {
    "monolith": ["monolith", "monolith-worker", "card-processor"],
    "microservices": ["gateway", "catalog", "orders-worker", "invoices-worker"],
}


def local_platform(arch) -> LocalPlatform:
    if not isinstance(arch.platform, LocalPlatform):
        pytest.skip("the local platform's supervisor is tested here")
    return arch.platform


def processes_json(platform: LocalPlatform) -> dict:
    return read_json(platform.state_dir / STATUS_FILE)["processes"]


def wait_for(condition, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.1)


ENTRY = {"monolith": "monolith", "microservices": "gateway"}


@pytest.mark.parametrize("name", [n for names in KINDS.values() for n in names])
def test_a_paused_process_is_restarted_by_its_liveness_check(arch, name):
    if name not in KINDS[arch.name]:
        pytest.skip(f"{arch.name} has no {name}")
    platform = local_platform(arch)
    wait_for(lambda: processes_json(platform)[name]["last_probe"] == "ok", 30,
             f"{name} to pass a liveness check")
    before = processes_json(platform)[name]
    os.killpg(before["pid"], signal.SIGSTOP)  # the whole process group: master and workers
    paused = time.monotonic()
    wait_for(lambda: processes_json(platform)[name]["liveness_restarts"]
             == before["liveness_restarts"] + 1, 60, f"{name} to be restarted")
    platform.wait_ready(timeout=60, names=[name])
    seconds = time.monotonic() - paused
    print(f"\n{arch.name}: {name} paused -> healthy replacement in {seconds:.1f} s")
    after = processes_json(platform)[name]
    assert after["pid"] != before["pid"] and after["state"] == "running"
    assert requests.get(arch.base_url + "/api/products", timeout=30).status_code == 200
    console = Console(file=io.StringIO(), width=200)
    status_command.run(port_base=platform.ports.base, console=console)
    row = next(line for line in console.file.getvalue().splitlines() if f" {name} " in line)
    assert "by liveness" in console.file.getvalue() and row.split("│")[-2].strip() == str(
        after["liveness_restarts"])


def test_a_saturated_process_is_not_restarted(arch):
    """More clients than the entry point has request threads, for longer than liveness
    takes to restart a process that does not answer: its probes wait in the queue with
    the load's requests, and are answered."""
    platform = local_platform(arch)
    state = read_json(platform.state_dir / "state.json")
    env = state["environment"]["processes"][ENTRY[arch.name]]
    threads = int(env["WEB_WORKERS"]) * int(env["WEB_THREADS"])
    clients = threads * 3
    before = {n: p["liveness_restarts"] for n, p in processes_json(platform).items()}
    settings = state["settings"]
    window = (float(settings["LIVENESS_PERIOD_SECONDS"]) * int(settings["LIVENESS_FAILURES"])
              + float(settings["LIVENESS_TIMEOUT_SECONDS"]))
    stop = threading.Event()
    answered = []

    def load() -> None:
        with requests.Session() as session:
            while not stop.is_set():
                answered.append(session.get(arch.base_url + "/api/products?q=rack",
                                            timeout=30).status_code)

    loaders = [threading.Thread(target=load) for _ in range(clients)]
    for t in loaders:
        t.start()
    # Longer than liveness takes to kill a process that answers nothing.
    time.sleep(window + 2)
    stop.set()
    for t in loaders:
        t.join()
    after = {n: p["liveness_restarts"] for n, p in processes_json(platform).items()}
    print(f"\n{arch.name}: {clients} clients on {threads} request threads for "
          f"{window + 2:.0f} s, {len(answered)} answers")
    assert set(answered) == {200}
    assert after == before


def test_a_held_process_refuses_connections_then_comes_back(arch):
    platform = local_platform(arch)
    name = "monolith" if arch.name == "monolith" else "catalog"
    port = next(r["port"] for r in read_json(platform.state_dir / "state.json")["processes"]
                if r["name"] == name)
    restarts = processes_json(platform)[name]["restarts"]
    held = time.monotonic()
    assert platform.hold(name, 3) == [name]
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", port), timeout=2).close()
    assert processes_json(platform)[name]["state"] == "held"
    wait_for(lambda: processes_json(platform)[name]["state"] == "running", 30,
             f"{name} to come back")
    platform.wait_ready(timeout=30, names=[name])
    print(f"\n{arch.name}: {name} held for 3 s, healthy again after "
          f"{time.monotonic() - held:.1f} s")
    assert processes_json(platform)[name]["restarts"] == restarts  # a hold is no crash
    assert requests.get(arch.base_url + "/api/products", timeout=30).status_code == 200


def test_a_hold_outside_its_range_or_of_no_such_process_is_refused(arch):
    platform = local_platform(arch)
    for seconds in (0, 601):
        with pytest.raises(LabError, match="at most 600 s"):
            platform.hold("catalog", seconds)
    with pytest.raises(LabError, match="is not a process of this stack"):
        platform.hold("nonesuch", 1)


def test_every_process_runs_under_its_memory_limit(arch):
    platform = local_platform(arch)
    live = read_json(platform.state_dir / STATUS_FILE)
    limit = int(read_json(platform.state_dir / "state.json")["settings"]["MEMORY_LIMIT_MIB"])
    for name, process in live["processes"].items():
        assert process["memory_limit_mib"] == limit
        pid = process["pid"]
        if live["memory_limits"] == "rlimit":
            limits = Path(f"/proc/{pid}/limits").read_text()
            line = next(ln for ln in limits.splitlines() if ln.startswith("Max address space"))
            assert str((limit + 2048) * 1024 * 1024) in line, line
        else:
            cgroups = Path(f"/proc/{pid}/cgroup").read_text()
            assert f"/{name}" in cgroups and "archlab-" in cgroups, (name, cgroups)


def paused_worker(platform: LocalPlatform, point: str) -> str:
    """The orders worker replica that stopped at the hang armed at `point` (its log says
    so), paused there (SIGSTOP) in the middle of its round."""
    def stuck() -> str | None:
        for name in ("orders-worker", "orders-worker.2"):
            log = platform.logs_dir / f"{name}.log"
            if log.exists() and f"fault hang armed at {point}" in log.read_text():
                return name
        return None
    wait_for(lambda: stuck() is not None, 60, f"a worker to reach {point}")
    name = stuck()
    os.killpg(processes_json(platform)[name]["pid"], signal.SIGSTOP)
    return name


@pytest.mark.only("microservices")
@pytest.mark.capability("checkout")
def test_with_one_of_two_orders_workers_paused_mid_round_every_event_and_order_is_done(arch):
    """Two orders workers. One stops in the middle of a relay batch (a send hangs, then
    the process is paused): the events it leased are delivered, by the other or by its
    replacement, once the lease runs out. One stops in the middle of a recovery round:
    the order it took is decided by the other."""
    platform = local_platform(arch)
    platform.scale("orders-worker", 2)
    try:
        send = "call invoices POST /internal/invoices:before"
        arch.arm(faults=[fault(send, "hang", seconds=120)])
        buyers = [arch.customer(70 + n) for n in range(3)]
        for n, buyer in enumerate(buyers):
            assert buyer.checkout([{"product_id": 150 + n, "quantity": 1}]).status_code == 201
        relay_paused = paused_worker(platform, send)
        figures = arch.settle(timeout=60)  # every invoice delivered, nothing pending
        assert figures["invoices"]["pending"] == 0
        assert arch.violations(figures) == []

        lookup = "call payments GET /internal/payments/{order_id}:before"
        key = uuid.uuid4().hex
        arch.arm(faults=[fault("cardprocessor.charge:before", "error", request_id=key),
                         fault(lookup, "hang", seconds=120)])
        first = arch.customer(74).checkout([{"product_id": 160, "quantity": 1}], key=key,
                                           request_id=key)
        assert first.status_code == 409  # left to recovery
        recovery_paused = paused_worker(platform, lookup)
        bound = arch.audit()["undecided"]["bound_seconds"]
        figures = arch.settle(timeout=bound)
        assert figures["orders"]["PENDING"] == 0 and arch.violations(figures) == []
        print(f"\nrelay paused in {relay_paused}, recovery paused in {recovery_paused}; "
              "all events delivered and the order decided")
    finally:
        platform.scale("orders-worker", 1)
