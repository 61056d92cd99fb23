"""Test hooks: crash points and deliberately broken variants, off unless a stack was
started with them.

A stack started with test hooks (`LocalPlatform.up(..., test_hooks=True)`) gives every
process ARCHLAB_TEST_HOOKS=<path of a JSON file> holding
`{"crash": [point, ...], "broken": [variant, ...]}`. A test arms a point by writing it
there (`arm`). A crash point fires once: the first process to pass it takes it out of
the file and exits on the spot (os._exit: no cleanup, no answer, like a SIGKILL), so a
restarted process does not crash again. A broken variant stays on until cleared; it
exists only to prove that a check can fail.

Without the variable every call returns at once: production code pays one environment
lookup per hook.
"""

import fcntl
import json
import logging
import os
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path

HOOKS_VAR = "ARCHLAB_TEST_HOOKS"
# The exit status of a process that stopped at a crash point (EX_SOFTWARE).
CRASH_EXIT_CODE = 70

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
    log.warning("crash point %s armed: exiting now", name)
    logging.shutdown()
    os._exit(CRASH_EXIT_CODE)


def broken(name: str) -> bool:
    """Whether the deliberately broken variant `name` is switched on (tests only)."""
    path = _hooks_path()
    if path is None:
        return False
    with _locked(path) as hooks:
        return name in hooks["broken"]


def arm(path: Path, *, crash: Iterable[str] = (), broken: Iterable[str] = ()) -> None:
    """Arm crash points and switch broken variants on in a stack's hooks file."""
    with _locked(Path(path)) as hooks:
        hooks["crash"].extend(c for c in crash if c not in hooks["crash"])
        hooks["broken"].extend(b for b in broken if b not in hooks["broken"])


def armed(path: Path) -> dict:
    """What the hooks file holds now (a crash point that fired is gone from it)."""
    with _locked(Path(path)) as hooks:
        return {"crash": list(hooks["crash"]), "broken": list(hooks["broken"])}


def clear(path: Path) -> None:
    """Disarm everything."""
    with _locked(Path(path)) as hooks:
        hooks["crash"].clear()
        hooks["broken"].clear()
