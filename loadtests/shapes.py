"""Load shapes as data: stage tables of (duration_s, users, spawn_rate), kept apart from
the personas' behaviour.

An experiment names a table here (`shape:`); the runner passes the name to Locust as
ARCHLAB_SHAPE and the locustfile's shape class follows it. Plain data without locust,
so the runner can validate names and durations without importing locust.
"""

from typing import NamedTuple


class Stage(NamedTuple):
    """Hold `users` for `duration_s`, reaching that count at `spawn_rate` users/s."""

    duration_s: float
    users: int
    spawn_rate: float


SHAPES: dict[str, tuple[Stage, ...]] = {
    # Steady load: the same as -u 40 -r 40, as a table.
    "constant": (Stage(20, 40, 40),),
    # Rising steps, to find where latency turns.
    "step": (Stage(10, 10, 10), Stage(10, 20, 10), Stage(10, 40, 20), Stage(10, 80, 40)),
    # A burst on a steady base, to see how each architecture absorbs and recovers.
    "spike": (Stage(10, 20, 20), Stage(5, 120, 100), Stage(15, 20, 100)),
}


def total_seconds(stages: tuple[Stage, ...]) -> float:
    """How long the table runs."""
    return sum(stage.duration_s for stage in stages)


def stage_at(stages: tuple[Stage, ...], elapsed_s: float) -> Stage | None:
    """The stage running `elapsed_s` seconds into the table; None once it has ended."""
    end = 0.0
    for stage in stages:
        end += stage.duration_s
        if elapsed_s < end:
            return stage
    return None
