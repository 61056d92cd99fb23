"""The architecture fixture (DESIGN §6): one running stack per architecture per test
session, reached only through its public API, so every contract and browser test runs
unchanged on both architectures.

`arch` offers `base_url`, `admin_token`, `reset()`, `set_stock(product, n)`, a logged-in
`customer()` and capability flags. A test marked `@pytest.mark.capability("checkout")`
is skipped for an architecture that cannot check out yet.
"""

import os
import uuid
from dataclasses import dataclass, field

import pytest
import requests

from archlab.platforms.local import LocalPlatform
from archlab.stacks import CAPABILITIES
from shop.seed import LOADTEST_PASSWORD

ARCHITECTURES = [a for a in os.environ.get("ARCHLAB_TEST_ARCHS", ",".join(CAPABILITIES))
                 .split(",") if a]
# Tests run their stacks on their own port block, so a stack a developer has up at the
# default base 8000 is never touched.
TEST_PORT_BASE = int(os.environ.get("ARCHLAB_TEST_PORT_BASE", "18000"))

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

    def checkout(self, items, card=APPROVED_CARD, key: str | None = None) -> requests.Response:
        """POST /api/orders with an Idempotency-Key (a fresh one unless given)."""
        return self.post("/api/orders", json={"items": items, "card": card},
                         headers={"Idempotency-Key": key or uuid.uuid4().hex})


@dataclass
class Architecture:
    """One running architecture, as the tests see it: its public API and nothing else."""

    name: str
    base_url: str
    admin_token: str
    capabilities: frozenset
    platform: LocalPlatform

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
        self.running: dict[str, Architecture] = {}

    def get(self, name: str) -> Architecture:
        if name not in self.running:
            platform = self._free_platform(TEST_PORT_BASE + 1000 * list(CAPABILITIES).index(name))
            info = platform.up(name)
            self.running[name] = Architecture(name, info.base_url, info.admin_token,
                                              CAPABILITIES[name], platform)
        return self.running[name]

    @staticmethod
    def _free_platform(base: int) -> LocalPlatform:
        """A platform on the first port block no live stack holds: another test session
        may be running on this machine, and its stacks are not ours to stop. (A stack left
        by an interrupted session has a dead supervisor; `up` clears it.)"""
        for block in range(5):
            platform = LocalPlatform(base + 2000 * block)
            if not platform.running():
                return platform
        raise RuntimeError(f"no free port block from {base}: stop the stacks there")

    def stop_all(self) -> None:
        for arch in self.running.values():
            arch.platform.down()


@pytest.fixture(scope="session")
def stacks():
    s = _Stacks()
    yield s
    s.stop_all()


def pytest_generate_tests(metafunc):
    if "arch" in metafunc.fixturenames:
        metafunc.parametrize("arch", ARCHITECTURES, indirect=True)


@pytest.fixture
def arch(request, stacks) -> Architecture:
    """The architecture under test, freshly reseeded; skips missing capabilities."""
    a = stacks.get(request.param)
    for marker in request.node.iter_markers("capability"):
        missing = set(marker.args) - a.capabilities
        if missing:
            pytest.skip(f"{a.name} cannot serve {', '.join(sorted(missing))} yet")
    a.reset()
    return a
