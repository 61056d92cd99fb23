"""Whole numbers in untrusted JSON."""

from typing import Any


def whole_number(value: Any) -> int | None:
    """The integer a JSON value stands for, or None.

    JSON Schema counts 5.0 as an integer, so an integral float is accepted; `true`
    is a bool, not a number, although Python's bool is a subclass of int.
    """
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return None
