"""Every port a test binds, as an offset from ARCHLAB_TEST_PORT_BASE (default 18000).

A test session uses the ports from the base up to base + SPAN and no others, so two
sessions on one machine run side by side when their bases lie at least SPAN apart
(e.g. 18000 and 24000), and none touches a developer's stack at the default base
8000. The default block stays below Linux's ephemeral range (32768-60999), where
another program's outgoing connection could hold a port for a moment.

A stack needs its base to base + 399 (its processes, fault proxies, PostgreSQL at +300
and its replicas' private ports at +310 to +399) and, for `archlab calibrate`, base + 400
onwards for the floors, so stacks sit 500 apart.
Ports a test only connects to, never binds (port 1 or 9 as "nothing listens here"),
and ports the kernel hands out (servicekit.free_port) are not listed.
"""

import os

import pytest

from archlab.platforms.local import LocalPlatform

BASE = int(os.environ.get("ARCHLAB_TEST_PORT_BASE", "18000"))
SPAN = 6000

# The session's shared stacks (tests/conftest.py), one per architecture, and their
# variants started with other stack settings.
STACKS = {"monolith": BASE, "microservices": BASE + 500}
VARIANTS = {"monolith": BASE + 1000, "microservices": BASE + 1500}
# Stacks of single test modules.
PLATFORM = BASE + 2000          # test_platform
BENCH = BASE + 2500             # test_bench
PROVENANCE = (BASE + 3000, BASE + 3500)  # test_provenance: two stacks at once
CALIBRATE = BASE + 4000         # test_calibrate_noise (floors at +400)
REPLICAS = BASE + 4500          # test_replicas (replicas' private ports at +310..+399)
# Throwaway PostgreSQL clusters of the service integration tests: one port each.
CLUSTERS = {name: BASE + 5000 + i for i, name in enumerate((
    "monolith_data", "ms_services", "inventory", "payments", "cardprocessor",
    "notifications", "invoices", "nothing_listens", "pool"))}


def stack_base(architecture: str, variant: bool = False) -> int:
    """The port base of the session's stack of `architecture` (or of its variant)."""
    return (VARIANTS if variant else STACKS)[architecture]


def free_platform(base: int) -> LocalPlatform:
    """The platform at `base`, or a clear failure when a live stack of another test session
    holds it: that stack is not ours to stop, and moving to a block beside it would land
    on the other session's ports. (A stack left by an interrupted session has a dead
    supervisor; `up` clears it.)"""
    platform = LocalPlatform(base)
    if platform.running():
        pytest.fail(f"a stack of another test session runs at port base {base}; give this "
                    f"session its own port block: ARCHLAB_TEST_PORT_BASE="
                    f"{BASE + SPAN} (tests/ports.py)", pytrace=False)
    return platform
