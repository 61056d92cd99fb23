"""`archlab audit`: judge the running stack's business invariants (docs/checkout.md)."""

import sys

import click
import requests
from rich.console import Console
from rich.table import Table

from archlab import audit
from archlab.errors import LabError
from archlab.platforms.local import LocalPlatform
from archlab.stacks import CAPABILITIES


def figures(platform: LocalPlatform) -> tuple[str, dict]:
    """(architecture, raw audit figures) of the running stack, from its admin API."""
    info = platform.info()
    try:
        resp = requests.get(f"{info.base_url}/api/admin/audit", timeout=30,
                            headers={"Authorization": f"Bearer {info.admin_token}"})
    except requests.RequestException as exc:
        raise LabError(f"cannot reach {info.base_url}: {exc}") from None
    if resp.status_code != 200:
        raise LabError(f"the audit answered HTTP {resp.status_code}: {resp.text[:200]}")
    return info.arch, resp.json()


def run(*, port_base: int | None = None, settled: bool = True,
        console: Console | None = None) -> list[audit.Verdict]:
    """Print the verdict of every invariant on the running stack; returns them."""
    console = console or Console()
    arch, raw = figures(LocalPlatform(port_base))
    verdicts = audit.verdicts(raw, settled=settled, invoices="invoice" in CAPABILITIES[arch])
    table = Table(title=f"{arch}: invariants" + ("" if settled else " (in flight)"))
    for column in ("#", "invariant", "holds", "figures"):
        table.add_column(column)
    for v in verdicts:
        table.add_row(str(v.number), v.name, "yes" if v.holds else "[red]NO[/red]", v.detail)
    console.print(table)
    undecided = raw["undecided"]
    if undecided["items"]:
        console.print(undecided_table(undecided, set(map(id, audit.stuck(raw)))))
    return verdicts


def undecided_table(undecided: dict, stuck: set[int]) -> Table:
    """The checkouts recovery has not decided yet, oldest first, stuck ones marked."""
    shown = len(undecided["items"])
    more = f", {undecided['count'] - shown} more not listed" if undecided["count"] > shown else ""
    table = Table(title=f"undecided checkouts (decided within {undecided['bound_seconds']:.0f} s "
                        f"once what recovery asks answers again{more})")
    for column in ("kind", "id", "age", "attempts", "last error"):
        table.add_column(column)
    for item in undecided["items"]:
        age = f"{item['age_seconds']:.0f} s"
        table.add_row(item["kind"].replace("_", " "), item["id"],
                      f"[red]{age} STUCK[/red]" if id(item) in stuck else age,
                      str(item["attempts"]), item["last_error"] or "")
    return table


@click.command("audit", short_help="Check the running stack's business invariants.")
@click.option("--in-flight", is_flag=True,
              help="Checkouts may still be running: judge only what holds at every moment.")
def command(in_flight: bool) -> None:
    """Check that no business data was lost or duplicated: stock conserved, one capture
    per PAID order (against the card processor's record), nothing left undecided, one
    order per idempotency key, invoices delivered. Exits 1 when an invariant is broken."""
    if not all(v.holds for v in run(settled=not in_flight)):
        sys.exit(1)
