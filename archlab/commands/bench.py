"""`archlab bench [EXPERIMENT]`: run an experiment file on both architectures and keep
the raw results (docs/results-format.md)."""

import signal
from pathlib import Path

import click

from archlab import bench, experiment
from archlab.commands import platforms
from archlab.report import console
from archlab.stacks import ARCHITECTURES


def _interrupt(signum, frame):
    raise KeyboardInterrupt


def run(experiment_file: str | Path = experiment.DEFAULT_EXPERIMENT, *,
        repeats: int | None = None, duration: int | None = None, warmup: int | None = None,
        archs: tuple[str, ...] = (), port_base: int | None = None,
        results_dir: Path | None = None, echo=click.echo, platform_name: str = "local") -> Path:
    """Load and check the experiment, apply the overrides, run it; returns the run folder."""
    chosen = experiment.load(experiment_file).with_overrides(
        repeats=repeats, duration_s=duration, warmup_s=warmup, architectures=archs or None)
    order = " ".join(f"{arch}#{repeat}" for arch, repeat in bench.run_order(chosen))
    echo(f"experiment {chosen.name}: {', '.join(chosen.personas)}, {loops_text(chosen)}; "
         f"{chosen.warmup_s} s warm-up + {chosen.duration_s} s measured; order: {order}")
    try:
        run_dir = bench.run(chosen, port_base=port_base, results_dir=results_dir, echo=echo,
                            platform_name=platform_name)
    except KeyboardInterrupt:
        echo("interrupted: the stack is down; in the run folder a run.json marks each "
             "completed <arch>/<repeat>/, an aborted.json the one cut short")
        raise
    echo(f"done: {run_dir}")
    if (run_dir / "summary.json").exists():
        echo("")
        for line in console.run_lines(run_dir):
            echo(line)
    return run_dir


def loops_text(chosen: experiment.Experiment) -> str:
    """'16 users (closed loop), then an open loop at 0.5 of the slower capacity'."""
    parts = []
    if chosen.users is not None:
        parts.append(f"{chosen.users} users (closed loop)")
    if chosen.capacity_share is not None:
        parts.append(f"an open loop at {chosen.capacity_share:g} of the slower "
                     "architecture's goodput")
    elif chosen.arrival_steps is not None:
        parts.append(f"an open loop of {bench.steps_text(chosen.arrival_steps)}")
    return ", then ".join(parts)


HELP = f"""Run EXPERIMENT (default {experiment.DEFAULT_EXPERIMENT}) and keep its raw results
in results/<UTC time>_<name>/.

For each repeat, interleaved over the architectures ({", ".join(ARCHITECTURES)}):
start the stack at ARCHLAB_PORT_BASE (default 8000), reseed, warm up, measure with
Locust while sampling CPU and memory once a second, write run.json, stop the stack.
With 2+ cores the generator runs on the last core and the system under test on the
others. The options override the file's values.

With --platform compose the stacks run as containers on the Docker engine DOCKER_HOST
names (compose/README.md), pinned to the system under test's cores with CPU and memory
limits that add up to the same totals for both; the engine's own readings of each
container are kept in containers.csv beside metrics.csv.
"""


@click.command("bench", help=HELP, short_help="Run an experiment on both architectures.")
@click.argument("experiment_file", metavar="[EXPERIMENT]", required=False,
                default=str(experiment.DEFAULT_EXPERIMENT))
@click.option("--repeats", type=click.IntRange(min=1), help="Repeats per architecture.")
@click.option("--duration", type=click.IntRange(min=1), help="Measured seconds per run.")
@click.option("--warmup", type=click.IntRange(min=0), help="Warm-up seconds per run (0: none).")
@click.option("--arch", "archs", multiple=True, type=click.Choice(list(ARCHITECTURES)),
              help="Run only this architecture (repeatable).")
@platforms.option
def command(experiment_file: str, repeats: int | None, duration: int | None,
            warmup: int | None, archs: tuple[str, ...], platform_name: str) -> None:
    """The `bench` subcommand."""
    # SIGTERM takes Ctrl-C's way out, so the stack is taken down; SIGINT is set too
    # because a shell starts background jobs with it ignored.
    signal.signal(signal.SIGTERM, _interrupt)
    signal.signal(signal.SIGINT, _interrupt)
    try:
        run(experiment_file, repeats=repeats, duration=duration, warmup=warmup, archs=archs,
            platform_name=platform_name)
    except KeyboardInterrupt:
        raise SystemExit(130) from None
