"""The fault matrix: every step of both checkouts, ended every way a call can end, on a
live stack - and every order reaches a final state within the bound the audit states.

A step is a call with a caller and an owner: the microservices' reserve, charge and
commit (orders -> inventory, orders -> payments) and the charge at the card processor
(payments -> processor), and the monolith's charge attempt (monolith -> processor). The
ways it can end are driven by the test hooks' fault points (plumbing.testhooks), armed
for one checkout's request id: refused (nothing sent), a timeout after the owner did the
work, a 5xx with the work recorded, a 5xx with nothing recorded, and the caller crashing
just before sending or just after the answer. The monolith has one such step: its stock,
order and payment are one transaction, so reserve and commit do not exist there.

Each cell buys its own product as its own customer. The cells that crash nothing run at
at once; once they are answered, the crashing ones go one after another, each once the
process the last one crashed is back (a crash takes every request the process is serving
with it), while the earlier cells are still being recovered. Every cell's
client then replays its key until the answer is final, and the stack must settle with
the audit clean. The matrix with each cell's final state and time to decide is printed
(`-s`) as a table.
"""

import io
import threading
import time
import uuid
from dataclasses import dataclass, field

import pytest
import requests
from rich.console import Console

from archlab.commands import audit as audit_command
from plumbing import testhooks
from plumbing.testhooks import fault

pytestmark = [pytest.mark.capability("checkout"), pytest.mark.slow, pytest.mark.timeout(300)]

# The owners' read timeouts as their callers set them (orders: api.TARGETS; the processor:
# CARD_PROCESSOR_TIMEOUT_SECONDS in tests/conftest.py); a hang outlasts them by 2 s.
READ_TIMEOUT = {"inventory": 3.0, "payments": 6.0, "cardprocessor": 2.0}
REPLAY_EVERY_SECONDS = 0.5
# A replay is a request like any other: its own answer time is allowed on top.
REPLAY_SLACK_SECONDS = 2.0


@dataclass(frozen=True)
class Step:
    """One call of a checkout: the client's fault point and the owner's."""

    name: str
    owner: str
    call: str      # the caller's point, before :before / :after
    work: str      # the owner's point


STEPS = {
    "microservices": [
        Step("reserve", "inventory", "call inventory POST /internal/reservations/{order_id}",
             "inventory.reserve"),
        Step("charge", "payments", "call payments POST /internal/payments/{order_id}/charge",
             "payments.charge"),
        Step("processor charge", "cardprocessor", "call cardprocessor POST /v1/charges",
             "cardprocessor.charge"),
        Step("commit", "inventory",
             "call inventory POST /internal/reservations/{order_id}/commit",
             "inventory.commit"),
    ],
    "monolith": [
        Step("processor charge", "cardprocessor", "call cardprocessor POST /v1/charges",
             "cardprocessor.charge"),
    ],
}


def armed_fault(step: Step, outcome: str, request_id: str) -> dict:
    """The fault that ends `step` as `outcome`, for one request."""
    point, action, seconds = {
        "refused": (step.call + ":before", "refuse", 0.0),
        "timeout, work done": (step.work + ":after", "hang", READ_TIMEOUT[step.owner] + 2),
        "5xx, work recorded": (step.work + ":after", "error", 0.0),
        "5xx, nothing recorded": (step.work + ":before", "error", 0.0),
        "caller crashes before sending": (step.call + ":before", "crash", 0.0),
        "caller crashes after the answer": (step.call + ":after", "crash", 0.0),
    }[outcome]
    return fault(point, action, request_id=request_id, seconds=seconds)


OUTCOMES = ["refused", "timeout, work done", "5xx, work recorded", "5xx, nothing recorded",
            "caller crashes before sending", "caller crashes after the answer"]

# What each cell must end as: PAID (the buyer paid: the order stands), or "not placed"
# (nothing sold, nothing kept, the key free: the client's replay places the order anew).
# Where the owner did the work of a charge, the buyer paid; where the charge's work was
# not done, or only stock was held, everything is undone.
PAID = "PAID"
NOT_PLACED = "not placed"
EXPECTED = {
    ("microservices", "reserve"): {o: NOT_PLACED for o in OUTCOMES},
    ("microservices", "charge"): {
        "refused": NOT_PLACED, "timeout, work done": PAID, "5xx, work recorded": PAID,
        "5xx, nothing recorded": NOT_PLACED, "caller crashes before sending": NOT_PLACED,
        "caller crashes after the answer": PAID},
    ("microservices", "processor charge"): {
        "refused": NOT_PLACED, "timeout, work done": PAID, "5xx, work recorded": PAID,
        "5xx, nothing recorded": NOT_PLACED, "caller crashes before sending": NOT_PLACED,
        "caller crashes after the answer": PAID},
    # The order is PAID before its reservation is committed; the worker commits it.
    ("microservices", "commit"): {o: PAID for o in OUTCOMES},
    # One transaction: a charge that did not answer in time rolls it back, and the
    # worker refunds or voids the charge at the processor.
    ("monolith", "processor charge"): {o: NOT_PLACED for o in OUTCOMES},
}


@dataclass
class Cell:
    """One checkout driven into one outcome of one step."""

    step: Step
    outcome: str
    customer: object = None
    product_id: int = 0
    key: str = field(default_factory=lambda: uuid.uuid4().hex)
    first_answer: str = ""
    final: str = ""
    started: float = 0.0
    decided_after: float | None = None

    @property
    def request_id(self) -> str:
        """The request id the cell's fault is armed for."""
        return f"matrix-{self.key}"

    def send(self) -> None:
        """Check out once with the cell's request id (its fault fires on this request)."""
        self.started = time.monotonic()
        try:
            resp = self._checkout(request_id=self.request_id)
        except requests.ConnectionError:
            self.first_answer = "connection dropped"
            return
        try:
            body = resp.json()
        except ValueError:
            body = {}
        self.first_answer = f"{resp.status_code} {body.get('error', body.get('status', ''))}"
        self._read(resp)

    def replay_until_final(self, until: float) -> None:
        """Replay the key until its answer is final (or `until` passes)."""
        while self.decided_after is None and time.monotonic() < until:
            time.sleep(REPLAY_EVERY_SECONDS)
            try:
                resp = self._checkout()
            except requests.ConnectionError:
                continue  # a crashed process is still coming back
            self._read(resp, replay=True)

    def _checkout(self, request_id: str | None = None) -> requests.Response:
        return self.customer.checkout([{"product_id": self.product_id, "quantity": 1}],
                                      key=self.key, request_id=request_id)

    def _read(self, resp: requests.Response, replay: bool = False) -> None:
        replayed = resp.headers.get("Idempotent-Replayed") == "true"
        if resp.status_code == 201 and (replayed or not replay):
            self.final = PAID
        elif resp.status_code == 201:
            # The order was undone and its key freed: this replay placed it anew.
            self.final = NOT_PLACED
        elif resp.status_code == 503 and not replay:
            # Answered only when the order provably did not take effect.
            self.final = NOT_PLACED
        else:
            return  # 409 in_progress, or a replay that met a restarting part
        self.decided_after = time.monotonic() - self.started


def drive_matrix(arch) -> list[Cell]:
    """Run every cell of the architecture's matrix; returns them decided (or not)."""
    cells = [Cell(step, outcome) for step in STEPS[arch.name] for outcome in OUTCOMES]
    for n, cell in enumerate(cells):
        cell.customer = arch.customer(20 + n)
        cell.product_id = 100 + n
    arch.arm(faults=[armed_fault(c.step, c.outcome, c.request_id) for c in cells])
    calm = [threading.Thread(target=c.send) for c in cells if "crash" not in c.outcome]
    for t in calm:
        t.start()
    for t in calm:
        t.join()
    for cell in cells:
        if "crash" in cell.outcome:
            cell.send()
            # The next one must meet the crashed process back, not its dead connections.
            assert not any(f["request_id"] == cell.request_id
                           for f in arch.armed()["faults"]), f"{cell.outcome} did not fire"
            arch.platform.wait_ready(timeout=30)
    bound = arch.audit()["undecided"]["bound_seconds"]
    until = time.monotonic() + bound + REPLAY_SLACK_SECONDS
    replays = [threading.Thread(target=c.replay_until_final, args=(until,)) for c in cells]
    for t in replays:
        t.start()
    for t in replays:
        t.join()
    return cells


def matrix_table(arch_name: str, cells: list[Cell]) -> str:
    """The matrix as a Markdown table: step x outcome, first answer, final state, time."""
    rows = [f"| {arch_name} | {c.step.name} | {c.outcome} | {c.first_answer} | "
            f"{c.final or 'UNDECIDED'} | "
            f"{'-' if c.decided_after is None else f'{c.decided_after:.1f} s'} |"
            for c in cells]
    return "\n".join(["| build | step | outcome | first answer | final | decided after |",
                      "|---|---|---|---|---|---|", *rows])


def test_every_step_ended_every_way_reaches_a_final_state_within_the_bound(arch):
    cells = drive_matrix(arch)
    print("\n" + matrix_table(arch.name, cells))
    bound = arch.audit()["undecided"]["bound_seconds"]
    undecided = [(c.step.name, c.outcome) for c in cells if c.decided_after is None]
    assert undecided == [], f"not decided within {bound} s: {undecided}"
    late = [(c.step.name, c.outcome, round(c.decided_after, 1)) for c in cells
            if c.decided_after > bound + REPLAY_SLACK_SECONDS]
    assert late == []
    wrong = [(c.step.name, c.outcome, c.final) for c in cells
             if c.final != EXPECTED[(arch.name, c.step.name)][c.outcome]]
    assert wrong == []
    started = time.monotonic()
    figures = arch.settle(timeout=bound + REPLAY_SLACK_SECONDS)
    print(f"{arch.name}: settled {time.monotonic() - started:.1f} s after the last cell "
          f"was decided (bound {bound} s)")
    assert figures["undecided"] == {"count": 0, "bound_seconds": bound, "items": []}
    assert arch.violations(figures) == []
    # Every fault fired: none is left armed for a request that never passed its point.
    assert arch.armed()["faults"] == []


def test_an_order_recovery_cannot_decide_is_listed_with_why_and_decided_once_it_can(arch):
    """The processor charges nothing and records nothing for one checkout, then cannot be
    asked about it (its lookups fail): recovery must not guess, so the checkout stays
    undecided - listed by the audit with its age, attempts and the reason, and by
    `archlab audit` - until the processor answers again; then it is decided."""
    buyer = arch.customer(90)
    key = uuid.uuid4().hex
    arch.arm(faults=[fault("cardprocessor.charge:before", "error", request_id=f"stuck-{key}"),
                     fault("cardprocessor.lookup:before", "error", times=10_000)])
    first = buyer.checkout([{"product_id": 140, "quantity": 1}], key=key,
                           request_id=f"stuck-{key}")
    assert first.status_code in (409, 503), first.text
    deadline = time.monotonic() + 60
    while True:
        items = arch.audit()["undecided"]["items"]
        if items and items[0]["attempts"] >= 2:
            break
        assert time.monotonic() < deadline, f"not listed as undecided: {items}"
        time.sleep(0.5)
    [item] = items
    assert item["kind"] == ("order" if arch.name == "microservices" else "charge_attempt")
    assert "cannot be reached" in item["last_error"]
    console = Console(file=io.StringIO(), width=200)
    audit_command.run(port_base=arch.platform.ports.base, settled=False, console=console)
    listing = console.file.getvalue()
    assert "undecided checkouts" in listing and item["id"] in listing

    testhooks.clear(arch.hooks)
    figures = arch.settle(timeout=arch.audit()["undecided"]["bound_seconds"])
    assert arch.violations(figures) == []
    replay = buyer.checkout([{"product_id": 140, "quantity": 1}], key=key)
    assert replay.status_code == 201, replay.text
