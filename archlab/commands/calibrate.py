"""`archlab calibrate`: each architecture's read path against this machine's floor."""

import click

from archlab import hostcpu
from archlab.floors import calibration
from archlab.report.words import floor_share


def _share(row: dict) -> str:
    ci = row.get("rps_ratio_ci")
    interval = f"{ci[0]:.0%}-{ci[1]:.0%}" if ci else "-"
    return f"{floor_share(row):>7.0%}{interval:>12}"


def _overhead(row: dict) -> str:
    """The overhead above the floor in CPU ms per request, and its interval."""
    if row.get("overhead_ms") is None:
        return f"{'-':>8}{'-':>14}"
    ci = row.get("overhead_ms_ci")
    interval = f"{ci[0]:+.2f}..{ci[1]:+.2f}" if ci else "-"
    return f"{row['overhead_ms']:>+8.2f}{interval:>14}"


def bias_lines(figures: dict) -> list[str]:
    """Per endpoint: what the gaps to the floors do to the monolith/microservices ratio."""
    bias = figures.get("bias") or {}
    if not bias:
        return []
    return ["bias: a monolith/microservices ratio measured on this machine = the floors' "
            "ratio x (monolith share / microservices share)"] + [
        f"bias, {endpoint}: {b['text']}" for endpoint, b in bias.items()]


def _rounds(row: dict) -> str:
    used = ",".join(map(str, row.get("rounds_used") or []))
    noisy = row.get("rounds_noisy") or []
    if not noisy:
        return used
    return used + (" (all noisy)" if row.get("noise_fallback") else
                   f" (dropped {','.join(map(str, noisy))})")


def noise_lines(figures: dict) -> list[str]:
    """What the host windows saw: the noisiest run, and every flagged one."""
    limit = figures["noise_limit_percent"]
    hosts = [r["host_cpu"] for r in figures["runs"]]
    hosts += [s["host_cpu"] for arch in figures["concurrency_1"].values() for s in arch.values()]
    worst = max((h["unexplained_percent"] for h in hosts), default=0.0)
    noisy = figures["noisy_rounds"]
    single = [f"{arch} concurrency 1 {variant} ({s['host_cpu']['unexplained_percent']:.0f}%)"
              for arch, runs in figures["concurrency_1"].items()
              for variant, s in runs.items() if s["host_cpu"]["flagged"]]
    if not noisy and not single:
        return [f"host noise: none over {limit:.0f}% of a core in any run "
                f"(highest {max(worst, 0.0):.0f}%)"]
    lines = [f"! host noise: {len(noisy) + len(single)} run(s) had over {limit:.0f}% of a "
             "core busy with work the stack, wrk and the lab do not explain (another "
             "program's load):"]
    lines += [f"!   {n['arch']} round {n['round']} {n['endpoint']} {n['variant']} "
              f"({n['unexplained_percent']:.0f}%)" for n in noisy]
    lines += [f"!   {s}" for s in single]
    if noisy:
        lines.append("! their rounds are left out of the shares where clean rounds remain "
                     "(column 'rounds'); rerun on a quiet machine for figures to trust")
    return lines


def run(seconds: float, rounds: int, archs: tuple[str, ...], echo=click.echo,
        **options) -> dict:
    """Measure, print the table and where the figures were saved."""
    figures = calibration.run(archs=archs, seconds=seconds, rounds=rounds, echo=echo,
                              **options)
    b = figures["budget"]
    echo("")
    echo(f"{figures['connections']} connections; medians of {rounds} round(s) x {seconds:g} s "
         f"(rounds without host noise); share 95% CI over rounds; system on cpus "
         f"{list(b['sut_cpus'])}, wrk on {list(b['generator_cpus']) or 'any'}")
    echo("+ms: overhead above the floor, the stack's CPU ms per request (PostgreSQL "
         "included) app minus floor, mean and 95% CI over rounds")
    echo(f"{'architecture':<15}{'endpoint':<9}{'req/s':>8}{'floor':>8}{'share':>7}"
         f"{'95% CI':>12}{'+ms':>8}{'95% CI':>14}{'p50 ms':>8}{'floor':>7}{'p99 ms':>8}"
         f"{'floor':>7}  rounds")
    for row in figures["table"]:
        echo(f"{row['arch']:<15}{row['endpoint']:<9}{row['app_rps']:>8.0f}"
             f"{row['floor_rps']:>8.0f}{_share(row)}{_overhead(row)}{row['app_p50_ms']:>8.2f}"
             f"{row['floor_p50_ms']:>7.2f}{row['app_p99_ms']:>8.2f}{row['floor_p99_ms']:>7.2f}"
             f"  {_rounds(row)}")
    for line in bias_lines(figures):
        echo(line)
    for arch, single in figures["concurrency_1"].items():
        echo(f"{arch}: p50 at concurrency 1 (product) {single['app']['p50_ms']:.2f} ms "
             f"(floor {single['floor']['p50_ms']:.2f} ms); started in "
             f"{figures['startup_seconds'][arch]:.1f} s")
    for line in noise_lines(figures):
        echo(line)
    echo(f"saved {figures['path']}")
    return figures


HELP = f"""Load GET /api/products/{{id}} (random ids) and a search with wrk on each
architecture and on its floor - a bare app running the identical SQL with the identical
gunicorn, pool, hop count and client library - back to back, and print req/s, p50, p99
and each architecture's share of its floor with its 95% interval over rounds; beside it
the overhead above the floor in milliseconds per request (the stack's CPU time per
request, PostgreSQL included, app minus floor: the same SQL cancels, so a heavier shared
query cannot raise a share unnoticed), and per endpoint the bias the remaining gaps leave
in the monolith/microservices ratio (monolith share / microservices share).

Every run also measures host noise: CPU time on the system's and wrk's cores that the
stack, wrk and the lab do not explain (another program's load). A run with more than
{hostcpu.NOISE_LIMIT_PERCENT:g}% of a core of it is flagged ("! host noise"), listed in
calibration.json, and its round left out of the shares while clean rounds remain.

Starts its own stacks at ARCHLAB_PORT_BASE (default 8000) and, for the floors,
ARCHLAB_PORT_BASE+400, one architecture after the other, and takes each down after.
About 2.5 minutes per architecture with the defaults (3 rounds x 4 runs x 10 s).
"""


@click.command("calibrate", help=HELP,
               short_help="Measure each architecture against this machine's floor.")
@click.option("--seconds", default=10.0, show_default=True,
              help="Length of each measured run (whole seconds: wrk rounds up).")
@click.option("--rounds", default=calibration.DEFAULT_ROUNDS, show_default=True,
              help="Alternating rounds per target (medians reported; the share's "
                   "interval needs 2 and is far narrower with 3).")
@click.option("--arch", "archs", multiple=True, default=("monolith", "microservices"),
              show_default=True, help="Architecture(s) to calibrate.")
def command(seconds: float, rounds: int, archs: tuple[str, ...]) -> None:
    run(seconds, rounds, archs)
