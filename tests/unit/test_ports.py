"""Every port the tests bind derives from ARCHLAB_TEST_PORT_BASE (tests/ports.py), so two
test sessions on one machine, given bases SPAN apart, never collide."""

import importlib
import re
from pathlib import Path

from tests import ports

TESTS = Path(__file__).resolve().parents[1]
# A literal port handed to something that binds it, or a module's own fixed base.
FIXED_PORT = re.compile(
    r"(throwaway_cluster|start_database|LocalPlatform|EmbeddedPostgres\.create)\(\s*\d{3,5}\b"
    r"|PORT_BASE\s*=\s*\d")


def layout(module) -> list[tuple[int, int]]:
    """Every (first, last) port range of the layout: 500 per stack, one per cluster."""
    stacks = [*module.STACKS.values(), *module.VARIANTS.values(), module.PLATFORM,
              module.BENCH, *module.PROVENANCE, module.CALIBRATE, module.REPLICAS]
    return ([(base, base + 499) for base in stacks]
            + [(port, port) for port in module.CLUSTERS.values()])


def test_no_test_file_binds_a_fixed_port():
    found = [f"{path.relative_to(TESTS)}:{n}: {line.strip()}"
             for path in TESTS.rglob("*.py") if path.name != "test_ports.py"
             for n, line in enumerate(path.read_text().splitlines(), 1)
             if FIXED_PORT.search(line)]
    assert found == []


def test_the_checker_finds_a_fixed_port():
    assert FIXED_PORT.search("    yield from throwaway_cluster(22300, 'archlab_test_ms')")
    assert FIXED_PORT.search("PORT_BASE = 29000")
    assert not FIXED_PORT.search("PORT_BASE = ports.BENCH")


def test_the_blocks_lie_within_the_span_and_do_not_overlap():
    ranges = sorted(layout(ports))
    assert ranges[0][0] == ports.BASE
    assert ranges[-1][1] < ports.BASE + ports.SPAN
    for (_, last), (first, _) in zip(ranges, ranges[1:], strict=False):
        assert last < first


def test_the_default_block_stays_below_the_ephemeral_range():
    assert ports.BASE + ports.SPAN <= 32768 or ports.BASE != 18000


def test_every_port_moves_with_the_base(monkeypatch):
    before = layout(ports)
    monkeypatch.setenv("ARCHLAB_TEST_PORT_BASE", str(ports.BASE + ports.SPAN))
    try:
        moved = layout(importlib.reload(ports))
    finally:
        monkeypatch.undo()
        importlib.reload(ports)
    assert [(a + ports.SPAN, b + ports.SPAN) for a, b in before] == moved


def test_a_stacks_own_ports_end_below_the_calibration_floors():
    from archlab.config import Ports
    from archlab.floors.calibration import FLOOR_PORT_OFFSET
    block = Ports.from_base(ports.BASE)
    highest = max(block.postgres, block.proxies.stop - 1, block.replicas.stop - 1)
    assert highest < ports.BASE + FLOOR_PORT_OFFSET
    assert block.postgres not in block.replicas and not set(block.proxies) & set(block.replicas)
