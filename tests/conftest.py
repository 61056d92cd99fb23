"""The architecture fixture: one running stack per architecture per test
session, reached only through its public API, so every contract and browser test runs
unchanged on both architectures.

`arch` offers `base_url`, `admin_token`, `reset()`, `set_stock(product, n)`, a logged-in
`customer()`, capability flags, and for the saga tests the stack's test hooks (`arm`)
and the audit's verdicts once the stack has settled (`settle`). A test marked
`@pytest.mark.capability("checkout")` is skipped for an architecture that cannot check
out yet.

The test stacks run with test hooks on and a short saga deadline, so a test that leaves
an order to recovery waits seconds, not half a minute.
"""

import os
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import requests

from archlab import audit
from archlab.platforms.base import Platform
from archlab.platforms.compose import ComposePlatform
from archlab.platforms.local import TEST_HOOKS_FILE
from archlab.stacks import CAPABILITIES
from plumbing import testhooks
from plumbing.observability import flush_access_log
from shop.seed import LOADTEST_PASSWORD
from tests import ports

ARCHITECTURES = [a for a in os.environ.get("ARCHLAB_TEST_ARCHS", ",".join(CAPABILITIES))
                 .split(",") if a]

# Recovery takes over an unfinished order after this long in the test stacks: longer
# than any checkout takes under the suite's own load, short enough to wait for. The
# processor's late answer (4 s) outlasts the shop's wait for it (2 s).
TEST_SETTINGS = {"ORDERS_SAGA_DEADLINE_SECONDS": "8", "CARD_PROCESSOR_LATE_SECONDS": "4",
                 "CARD_PROCESSOR_TIMEOUT_SECONDS": "2"}
SETTLE_TIMEOUT_SECONDS = 60
# Where the session's stacks run: "local" (processes, the default) or "compose"
# (containers on the engine DOCKER_HOST names; make test-engine).
PLATFORM = os.environ.get("ARCHLAB_TEST_PLATFORM", "local")
# Stacks started with other settings, for the tests of what a setting changes (a fault
# given at start-up), on port blocks of their own (tests/ports.py).
VARIANTS = {"": {}, "printer-offline": {"INVOICE_PRINTER": "offline"}}

APPROVED_CARD = {"number": "4242424242424242", "exp_month": 12, "exp_year": 2035,
                 "cvc": "123", "holder": "Ada Lovelace"}
DECLINED_CARD = APPROVED_CARD | {"number": "4000000000000002"}


@dataclass
class Customer:
    """A logged-in seeded customer: a requests session carrying its bearer token."""

    base_url: str
    email: str
    token: str
    session: requests.Session = field(default_factory=requests.Session)

    def __post_init__(self):
        self.session.headers["Authorization"] = f"Bearer {self.token}"

    def get(self, path: str, **kw) -> requests.Response:
        return self.session.get(self.base_url + path, timeout=30, **kw)

    def post(self, path: str, **kw) -> requests.Response:
        return self.session.post(self.base_url + path, timeout=30, **kw)

    def checkout(self, items, card=APPROVED_CARD, key: str | None = None,
                 request_id: str | None = None) -> requests.Response:
        """POST /api/orders with an Idempotency-Key (a fresh one unless given) and, when
        given, the X-Request-ID every hop passes on (what a fault can be armed for)."""
        headers = {"Idempotency-Key": key or uuid.uuid4().hex}
        if request_id is not None:
            headers["X-Request-ID"] = request_id
        return self.post("/api/orders", json={"items": items, "card": card},
                         headers=headers)


@dataclass
class Architecture:
    """One running architecture, as the tests see it: its public API and nothing else."""

    name: str
    base_url: str
    admin_token: str
    capabilities: frozenset
    platform: Platform

    def reset(self) -> None:
        """Reseed the data (the platform's job: truncate + bulk load; services stay up)."""
        self.platform.reseed()

    def admin(self, method: str, path: str, **kw) -> requests.Response:
        return requests.request(method, self.base_url + path, timeout=30,
                                headers={"Authorization": f"Bearer {self.admin_token}"}, **kw)

    def set_stock(self, product_id: int, available: int) -> dict:
        """Set a product's available stock through the admin API."""
        resp = self.admin("PUT", f"/api/admin/products/{product_id}/stock",
                          json={"available": available})
        assert resp.status_code == 200, resp.text
        return resp.json()

    def audit(self) -> dict:
        resp = self.admin("GET", "/api/admin/audit")
        assert resp.status_code == 200, resp.text
        return resp.json()

    def stock(self, product_id: int) -> dict:
        return next(s for s in self.audit()["stock"] if s["product_id"] == product_id)

    @property
    def hooks(self) -> Path:
        """The stack's test-hooks file (plumbing.testhooks)."""
        return self.platform.state_dir / TEST_HOOKS_FILE

    def arm(self, *, crash=(), faults=(), broken=()) -> None:
        """Arm crash points and faults (testhooks.fault) / switch broken variants on in
        every process of the stack."""
        testhooks.arm(self.hooks, crash=crash, faults=faults, broken=broken)

    def armed(self) -> dict:
        """What is still armed in the stack's hooks file (what fired is gone)."""
        return testhooks.armed(self.hooks)

    def settle(self, timeout: float = SETTLE_TIMEOUT_SECONDS) -> dict:
        """The audit figures once recovery has finished: no order PENDING, no checkout
        undecided, no stock held, no capture at the processor left unmatched, no invoice
        left to deliver; fails if that does not happen within `timeout`."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                resp = self.admin("GET", "/api/admin/audit")
            except requests.ConnectionError:  # the entry point itself is restarting
                assert time.monotonic() < deadline, "the stack did not come back"
                time.sleep(0.25)
                continue
            if resp.status_code == 503:  # a service the audit asks is still coming back
                assert time.monotonic() < deadline, resp.text
                time.sleep(0.25)
                continue
            assert resp.status_code == 200, resp.text
            figures = resp.json()
            processor = figures["processor"]
            invoices = figures["invoices"]
            if (figures["orders"]["PENDING"] == 0 and figures["undecided"]["count"] == 0
                    and figures["reservations"]["held"] == 0
                    and processor["captures_without_payment"] == 0
                    and processor["payments_without_capture"] == 0
                    and invoices["pending"] == 0
                    and invoices["paid_orders_without_invoice"] == 0):
                return figures
            assert time.monotonic() < deadline, f"not settled: {figures['orders']}"
            time.sleep(0.25)

    def violations(self, figures: dict | None = None) -> list:
        """The invariants (archlab/audit.py) the settled stack breaks; invoices are judged where
        the architecture delivers them."""
        return audit.violations(figures or self.settle(),
                                invoices="invoice" in self.capabilities)

    def customer(self, n: int = 1) -> Customer:
        """Log in seeded customer N."""
        email = f"customer{n}@rackshop.test"
        resp = requests.post(self.base_url + "/api/auth/login", timeout=30,
                             json={"email": email, "password": LOADTEST_PASSWORD})
        assert resp.status_code == 200, resp.text
        return Customer(self.base_url, email, resp.json()["token"])


class _Stacks:
    """Starts each architecture once per session, on first use, and stops them all."""

    def __init__(self):
        self.running: dict[tuple[str, str], Architecture] = {}

    def get(self, name: str, variant: str = "") -> Architecture:
        """The stack of architecture `name`, or of one of its VARIANTS (started with other
        stack settings, on a port block of its own)."""
        if (name, variant) not in self.running:
            base = ports.stack_base(name, bool(variant))
            if PLATFORM == "compose":
                # The contract on containers (make test-engine): no test hooks there.
                platform = ComposePlatform(base)
                info = platform.up(name, settings=TEST_SETTINGS | VARIANTS[variant])
            else:
                platform = ports.free_platform(base)
                info = platform.up(name, settings=TEST_SETTINGS | VARIANTS[variant],
                                   test_hooks=True)
            self.running[(name, variant)] = Architecture(name, info.base_url, info.admin_token,
                                                         CAPABILITIES[name], platform)
        return self.running[(name, variant)]

    def stop_all(self) -> None:
        for arch in self.running.values():
            arch.platform.down()


@pytest.fixture(autouse=True)
def _access_log_lines_stay_with_their_test():
    """An app run inside the test process writes its access log from a background
    thread: flush it before the test ends, so its lines land in that test's captured
    output instead of on the terminal later."""
    yield
    flush_access_log()


@pytest.fixture(scope="session")
def stacks():
    s = _Stacks()
    yield s
    s.stop_all()


def pytest_generate_tests(metafunc):
    """Every test taking `arch` runs on each architecture, or, marked
    `@pytest.mark.only("microservices")`, on the one whose own design it tests."""
    if "arch" in metafunc.fixturenames:
        only = metafunc.definition.get_closest_marker("only")
        archs = [a for a in ARCHITECTURES if only is None or a in only.args]
        metafunc.parametrize("arch", archs, indirect=True)


@pytest.fixture
def arch(request, stacks) -> Architecture:
    """The architecture under test, freshly reseeded; skips missing capabilities. A test
    marked `@pytest.mark.variant("printer-offline")` gets that variant's stack."""
    marker = request.node.get_closest_marker("variant")
    a = stacks.get(request.param, marker.args[0] if marker else "")
    for marker in request.node.iter_markers("capability"):
        missing = set(marker.args) - a.capabilities
        if missing:
            pytest.skip(f"{a.name} cannot serve {', '.join(sorted(missing))} yet")
    testhooks.clear(a.hooks)
    a.reset()
    yield a
    testhooks.clear(a.hooks)
