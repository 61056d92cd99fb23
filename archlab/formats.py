"""Format versions of the files archlab writes and reads back (docs/results-format.md,
docs/experiments.md).

Each file carries its version in a top-level `format` field. A file without one was
written before versions existed and is format 1 (summary.json's first version said
`"schema": 1` instead). A reader takes every format up to the current one - it adapts
to the older ones - and refuses a newer one with a message saying to update archlab,
never a traceback or a silent misread of fields it does not know.
"""

from collections.abc import Mapping
from pathlib import Path

from archlab.errors import LabError

# The format a file had before files carried a version.
UNVERSIONED = 1

# The versions this archlab writes (and the newest it reads). Raise one when a reader
# must tell the new layout from the old, and teach that reader the old one.
RUN_FORMAT = 2          # <arch>/<repeat>/run.json; 2 = 1 with `format`
MANIFEST_FORMAT = 2     # manifest.json; 2 = 1 with `format`
SUMMARY_FORMAT = 2      # summary.json; 2 = 1 with `format` for `schema`
EXPERIMENT_FORMAT = 1   # experiments/*.yaml; `format:` is optional

KEY = "format"
# summary.json's first version named its version `schema`.
LEGACY_KEY = "schema"


class NewerFormat(LabError):
    """A file written by a newer archlab than this one."""


def version(data: Mapping) -> int:
    """The format `data` (a file's top level) declares: its `format`, else a legacy
    `schema`, else 1. ValueError when the value is not a whole number >= 1."""
    value = data.get(KEY, data.get(LEGACY_KEY, UNVERSIONED))
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{KEY!r} must be a whole number >= 1, not {value!r}")
    return value


def check(data: Mapping, path: str | Path, newest: int) -> int:
    """The format of the file at `path` (`data` is its top level) when this archlab reads
    it (1 to `newest`); otherwise a LabError naming the file: NewerFormat for a newer
    format, a plain LabError for a version that is not one."""
    try:
        found = version(data)
    except ValueError as exc:
        raise LabError(f"{path}: {exc}: the file is damaged or was not written by "
                       "archlab") from None
    if found > newest:
        raise NewerFormat(f"{path}: made by a newer archlab (format {found}; this one reads "
                          f"up to {newest}): update archlab to rebuild this report")
    return found
