"""`archlab compare`: is a difference between two runs real?"""

import json
from pathlib import Path

import click
from rich.console import Console
from rich.table import Table
from rich.text import Text

from archlab import compare as comparing


def _plain(text: str, style: str = "") -> Text:
    """Text that rich prints as it is: figures hold brackets rich would read as markup."""
    return Text(text, style=style)


def _verdict_cell(row: dict) -> Text:
    """The verdict, with 'better'/'worse' after a finding (by the metric's direction):
    green for the better, red for the worse, plain when there is no finding."""
    if row["better"] is None:
        return _plain(row["verdict"])
    if row["better"]:
        return _plain(f"{row['verdict']}, better", "green")
    return _plain(f"{row['verdict']}, worse", "red")


def _label(row: dict) -> str:
    """'goodput req/s', 'error rate %': the unit once, so the figures stay short."""
    return f"{row['label']} {row['unit']}"


def metrics_table(comparison: dict, arch: str) -> Table:
    """One architecture's metrics: both runs' means [95% CI], the verdict on B/A."""
    rows = [r for r in comparison["metrics"] if r["arch"] == arch]
    n_a, n_b = comparison["a"]["repeats"][arch], comparison["b"]["repeats"][arch]
    table = Table(title=f"{arch}: run B against run A (A n={n_a}, B n={n_b})",
                  title_justify="left")
    for column in ("metric", "A mean [95% CI]", "B mean [95% CI]", "B/A: verdict"):
        table.add_column(column)
    for row in rows:
        table.add_row(_plain(_label(row)),
                      _plain(comparing.figure_text(row["a"], row["unit"])),
                      _plain(comparing.figure_text(row["b"], row["unit"])),
                      _verdict_cell(row))
    return table


def between_table(between: dict) -> Table:
    """Each run's own between-architecture ratios side by side, and whether they agree."""
    table = Table(title=f"{between['numerator']} / {between['denominator']} in each run, "
                        "ratio of geometric means [95% CI]", title_justify="left")
    for column in ("ratio", "A", "B", "the runs"):
        table.add_column(column)
    for row in between["rows"]:
        style = "" if row["agree"] is not False else "yellow"
        table.add_row(_plain(row["name"]), _plain(comparing.ratio_cell(row["a"])),
                      _plain(comparing.ratio_cell(row["b"])), _plain(row["text"], style))
    return table


def _run_line(letter: str, facts: dict) -> str:
    """'A: results/... (experiment demo; monolith 3, microservices 3 repeats)'."""
    repeats = ", ".join(f"{arch} {n}" for arch, n in facts["repeats"].items())
    return (f"{letter}: {facts['path']} (experiment {facts['experiment']}; repeats: "
            f"{repeats})")


def render(comparison: dict, console: Console) -> None:
    """Print the comparison: the runs, warnings, notes, a table per architecture and the
    between-architecture ratios."""
    for letter in ("a", "b"):
        console.print(_plain(_run_line(letter.upper(), comparison[letter])), soft_wrap=True)
    for line in comparison["flags"]:
        console.print(_plain(f"! {line}", "yellow"), soft_wrap=True)
    for line in comparison["notes"]:
        console.print(_plain(line), soft_wrap=True)
    for letter in ("a", "b"):
        only = comparison[f"only_in_{letter}"]
        if only:
            console.print(_plain(f"only in {letter.upper()}, not compared: "
                                 f"{', '.join(only)}"), soft_wrap=True)
    console.print(_plain(comparison["rule"]), soft_wrap=True)
    for arch in comparison["architectures"]:
        console.print(metrics_table(comparison, arch))
    between = comparison["between"]
    if between["rows"]:
        console.print(between_table(between))
    elif between["note"]:
        console.print(_plain(between["note"]), soft_wrap=True)


def run(run_a: Path, run_b: Path, *, as_json: bool = False,
        console: Console | None = None) -> dict:
    """Compare two run folders and print the result (a table, or JSON with `as_json`);
    returns the comparison."""
    comparison = comparing.compare_folders(run_a, run_b)
    if as_json:
        click.echo(json.dumps(comparison, indent=2))
    else:
        render(comparison, console or Console())
    return comparison


@click.command("compare", short_help="Tell whether two runs' figures really differ.")
@click.argument("run_a", type=click.Path(path_type=Path))
@click.argument("run_b", type=click.Path(path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="Print the comparison as JSON.")
def command(run_a: Path, run_b: Path, as_json: bool) -> None:
    """Compare run B against run A, two folders written by `archlab bench` with the same
    experiment (before and after a change, or on two machines).

    For each architecture both ran: every figure's mean in each run with its 95%
    interval, and the ratio B/A with its 95% interval (Welch's t on the logarithms of
    the repeats, as the report's ratios). Only a ratio whose interval excludes 1 is a
    finding; otherwise it is "not distinguishable in these runs". Runs of different
    loads are refused; the number of repeats may differ. Another machine, PostgreSQL
    version or core budget is flagged. See docs/compare.md.
    """
    run(run_a, run_b, as_json=as_json)
