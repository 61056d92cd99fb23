"""The database goes away under a running stack, on both architectures: every session
ended (pg_terminate_backend), or PostgreSQL restarted. The stack's pools hold idle
connections that are dead from then on; none of them may cost a user a failed request.
Each pool finds a dead connection before lending it and opens a new one (plumbing.db),
so the first requests after the fault - browsing, a checkout, the order list, the audit -
all succeed at the first try, and the audit finds nothing wrong.
"""

import threading
import time
import uuid
from collections import Counter

import pytest
import requests

from archlab.platforms.local import LocalPlatform

pytestmark = [pytest.mark.capability("checkout"), pytest.mark.slow, pytest.mark.timeout(180)]

ITEMS = [{"product_id": 40, "quantity": 1}]
# Each on a connection of its own, so the kernel spreads them over every web worker and
# each worker's pool keeps idle connections to the database.
WARM_UP_ROUNDS = 10


def local_platform(arch) -> LocalPlatform:
    """The stack's platform, which must be able to cause the fault."""
    if not isinstance(arch.platform, LocalPlatform):
        pytest.skip("database faults are caused on the local platform only")
    return arch.platform


def warm_up(arch, buyer) -> None:
    """Successful requests through every part of the stack that holds a pool."""
    for _ in range(WARM_UP_ROUNDS):
        for path in ("/api/products", "/api/products/40"):
            assert requests.get(arch.base_url + path, timeout=30).status_code == 200
        assert buyer.get("/api/orders").status_code == 200
    assert buyer.checkout(ITEMS).status_code == 201
    arch.settle()


def first_tries(arch, buyer) -> dict[str, requests.Response]:
    """One request of each kind, each sent once."""
    return {
        "product list": buyer.get("/api/products"),
        "product page": buyer.get("/api/products/40"),
        "checkout": buyer.checkout(ITEMS),
        "order list": buyer.get("/api/orders"),
        "audit": arch.admin("GET", "/api/admin/audit"),
    }


def assert_all_succeed(answers: dict[str, requests.Response]) -> None:
    failed = {name: f"{resp.status_code} {resp.text[:300]}" for name, resp in answers.items()
              if not 200 <= resp.status_code < 300}
    assert failed == {}


def test_ended_sessions_cost_no_request(arch):
    platform = local_platform(arch)
    buyer = arch.customer(2)
    warm_up(arch, buyer)

    assert platform.terminate_db_connections() > 0
    time.sleep(1)

    assert_all_succeed(first_tries(arch, buyer))
    assert arch.violations() == []


def test_a_database_restart_costs_no_request(arch):
    platform = local_platform(arch)
    buyer = arch.customer(4)
    warm_up(arch, buyer)

    platform.restart_database()
    time.sleep(1)

    assert_all_succeed(first_tries(arch, buyer))
    assert arch.violations() == []


def test_the_processors_sessions_ended_under_checkouts_leave_nothing_undecided(arch):
    """The reproduction of a bug: while checkouts run, every session of the card
    processor's database role is ended, twice. For a moment the processor answers 503
    without recording the charge; a charge whose outcome was unknown must still end
    decided - captured and PAID, or cancelled with a tombstone and undone - within the
    bound the audit states, and every client's replay gets a final answer."""
    platform = local_platform(arch)
    buyers = [arch.customer(60 + n) for n in range(4)]
    answers: list[tuple[object, str, int, int]] = []
    stop = threading.Event()

    def buy(buyer, product_id: int) -> None:
        while not stop.is_set():
            key = uuid.uuid4().hex
            try:
                status = buyer.checkout([{"product_id": product_id, "quantity": 1}],
                                        key=key).status_code
            except requests.ConnectionError:
                status = 0
            answers.append((buyer, key, product_id, status))

    threads = [threading.Thread(target=buy, args=(b, 120 + n)) for n, b in enumerate(buyers)]
    for t in threads:
        t.start()
    for _ in range(2):
        time.sleep(1.0)
        platform.terminate_db_connections("cardprocessor")
    time.sleep(1.0)
    stop.set()
    for t in threads:
        t.join()

    bound = arch.audit()["undecided"]["bound_seconds"]
    figures = arch.settle(timeout=bound + 5)
    assert figures["undecided"]["count"] == 0 and figures["orders"]["PENDING"] == 0
    assert figures["reservations"]["held"] == 0
    assert arch.violations(figures) == []
    # Every key whose answer was not final has one now.
    for buyer, key, product_id, status in answers:
        if status in (0, 409):
            replay = buyer.checkout([{"product_id": product_id, "quantity": 1}], key=key)
            assert replay.status_code in (201, 402, 503), replay.text
    print(f"\n{arch.name}: {len(answers)} checkouts, answers by status "
          f"{sorted(Counter(a[3] for a in answers).items())}")
