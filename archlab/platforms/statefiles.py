"""The JSON files a stack keeps in its state folder, written so no reader sees half a file."""

import json
import os
from pathlib import Path


def write_json(path: Path, data: dict) -> None:
    """Replace `path` atomically with `data`; only the owner may read it (it holds secrets)."""
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as out:
        json.dump(data, out, indent=2, sort_keys=True)
        out.write("\n")
    os.replace(tmp, path)


def read_json(path: Path) -> dict | None:
    """The data in `path`, or None when there is no such file."""
    try:
        return json.loads(Path(path).read_text())
    except FileNotFoundError:
        return None
