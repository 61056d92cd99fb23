"""Test hooks: crash points, fault points and deliberately broken variants, off unless a
stack was started with them.

A stack started with test hooks (`LocalPlatform.up(..., test_hooks=True)`) gives every
process ARCHLAB_TEST_HOOKS=<path of a JSON file> holding
`{"crash": [point, ...], "faults": [fault, ...], "broken": [variant, ...]}`. A test
arms a point by writing it there (`arm`). A crash point fires once: the first process to
pass it takes it out of the file and exits on the spot (os._exit: no cleanup, no answer,
like a SIGKILL), so a restarted process does not crash again. A broken variant stays on
until cleared; it exists only to prove that a check can fail.

A fault point marks a call's boundary: `<owner>.<operation>:before` and `:after` where a
service does the work (before it starts, after it is recorded), and
`call <target> <METHOD> <path template>:before` and `:after` where a client sends it.
A fault armed there (`fault(point, action, request_id=...)`) fires once (or `times`
times), for the request carrying that request id (X-Request-ID, passed along every hop)
or for any request:
`crash` exits as a crash point does, `error` fails the request (answered 500), `hang`
sleeps `seconds` (the caller's read timeout runs out), and `refuse`, at a client's
`:before`, makes the client act out a refused connection (nothing sent). Together they
drive every way a call can end, on a live stack, without a second mechanism.

Without the variable every call returns at once: production code pays one environment
lookup per hook.
"""

import fcntl
import json
import logging
import os
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path

HOOKS_VAR = "ARCHLAB_TEST_HOOKS"
# The exit status of a process that stopped at a crash point (EX_SOFTWARE).
CRASH_EXIT_CODE = 70
# What an armed fault point can do.
ACTIONS = ("crash", "error", "hang", "refuse")

log = logging.getLogger("archlab.testhooks")


@contextmanager
def _locked(path: Path) -> Iterator[dict]:
    """The hooks file's content under an exclusive lock; changes are written back."""
    with open(path.with_suffix(".lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            hooks = json.loads(path.read_text()) if path.exists() else {}
        except ValueError:
            hooks = {}
        hooks.setdefault("crash", [])
        hooks.setdefault("faults", [])
        hooks.setdefault("broken", [])
        before = json.dumps(hooks, sort_keys=True)
        yield hooks
        if json.dumps(hooks, sort_keys=True) != before:
            tmp = path.with_suffix(".tmp")
            tmp.write_text(json.dumps(hooks))
            tmp.replace(path)


def _hooks_path() -> Path | None:
    raw = os.environ.get(HOOKS_VAR)
    return Path(raw) if raw else None


def crash_point(name: str) -> None:
    """Exit this process at once if crash point `name` (e.g. "orders.after_reserve") is
    armed; it fires once."""
    path = _hooks_path()
    if path is None:
        return
    with _locked(path) as hooks:
        if name not in hooks["crash"]:
            return
        hooks["crash"].remove(name)
    _crash(name)


def _crash(name: str) -> None:
    log.warning("crash point %s armed: exiting now", name)
    logging.shutdown()
    os._exit(CRASH_EXIT_CODE)


class InjectedFault(Exception):
    """The `error` of an armed fault point: the request fails as on an unexpected bug."""


def fault(point: str, action: str, *, request_id: str | None = None,
          seconds: float = 0.0, times: int = 1) -> dict:
    """A fault to arm at `point`: `action` (ACTIONS) for the request with `request_id`
    (any request when None), the next `times` times; `seconds` is how long a `hang`
    sleeps."""
    if action not in ACTIONS:
        raise ValueError(f"a fault's action is one of {', '.join(ACTIONS)}, not {action!r}")
    if times < 1:
        raise ValueError(f"a fault fires at least once, not {times} times")
    return {"point": point, "action": action, "request_id": request_id, "seconds": seconds,
            "times": times}


def _current_request_id() -> str | None:
    # Imported here: only a process that armed faults pays for it, and the pure parts
    # of plumbing stay free of Flask.
    from flask import g, has_request_context

    return g.get("request_id") if has_request_context() else None


def fault_point(name: str) -> str | None:
    """Act out the fault armed at point `name` for this request, if any: crash, fail
    (InjectedFault) or hang here; returns "refuse" for the caller to act out (a client
    raises what a refused connection raises), else None."""
    path = _hooks_path()
    if path is None:
        return None
    request_id = _current_request_id()
    with _locked(path) as hooks:
        armed = next((f for f in hooks["faults"] if f["point"] == name
                      and f["request_id"] in (None, request_id)), None)
        if armed is None:
            return None
        hooks["faults"].remove(armed)
        if armed["times"] > 1:
            hooks["faults"].append(armed | {"times": armed["times"] - 1})
    log.warning("fault %s armed at %s (request %s)", armed["action"], name, request_id)
    if armed["action"] == "crash":
        _crash(name)
    if armed["action"] == "hang":
        time.sleep(armed["seconds"])
        return None
    if armed["action"] == "error":
        raise InjectedFault(f"fault injected at {name}")
    return armed["action"]


def broken(name: str) -> bool:
    """Whether the deliberately broken variant `name` is switched on (tests only)."""
    path = _hooks_path()
    if path is None:
        return False
    with _locked(path) as hooks:
        return name in hooks["broken"]


def arm(path: Path, *, crash: Iterable[str] = (), faults: Iterable[dict] = (),
        broken: Iterable[str] = ()) -> None:
    """Arm crash points and faults (`fault(...)`), and switch broken variants on, in a
    stack's hooks file."""
    with _locked(Path(path)) as hooks:
        hooks["crash"].extend(c for c in crash if c not in hooks["crash"])
        hooks["faults"].extend(faults)
        hooks["broken"].extend(b for b in broken if b not in hooks["broken"])


def armed(path: Path) -> dict:
    """What the hooks file holds now (a crash point or fault that fired is gone from it)."""
    with _locked(Path(path)) as hooks:
        return {"crash": list(hooks["crash"]), "faults": list(hooks["faults"]),
                "broken": list(hooks["broken"])}


def clear(path: Path) -> None:
    """Disarm everything."""
    with _locked(Path(path)) as hooks:
        hooks["crash"].clear()
        hooks["faults"].clear()
        hooks["broken"].clear()
