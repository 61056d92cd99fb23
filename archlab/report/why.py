"""The report's "why" paragraph: what each architecture spent per request, from the run's
own measurements (the CPU sampled per process, the access-log lines per request), and
what that explains - only when the run found a difference to explain, and only as far
as it measured."""

from archlab.report.words import distinguishable, invert, noun, num, ratio_ci, ratio_text

# The system's mean CPU, as a share of its core budget, from which the cores count as
# saturated: the CPU a request costs then bounds how many requests the cores can serve.
SATURATED = 0.9


def _component(name: str) -> str:
    return "PostgreSQL" if name == "postgres" else name


# Components below this share of an architecture's CPU per request are summed into one
# "N others" figure: a list of idle workers at 0.00 ms hides the ones that matter.
MINOR_SHARE = 0.02


def _parts(by_component: dict[str, float]) -> str:
    """'gateway 6.0, PostgreSQL 6.9, catalog 4.0, 3 others 0.05 ms', busiest first."""
    ranked = sorted(by_component.items(), key=lambda kv: -kv[1])
    total = sum(ms for _, ms in ranked)
    major = [(n, ms) for n, ms in ranked if total <= 0 or ms >= MINOR_SHARE * total]
    minor = ranked[len(major):]
    words = [f"{_component(name)} {num(ms)}" for name, ms in major]
    if len(minor) == 1:
        words.append(f"{_component(minor[0][0])} {num(minor[0][1])}")
    elif minor:
        words.append(f"{len(minor)} others {num(sum(ms for _, ms in minor))}")
    return ", ".join(words) + " ms"


def _mean(summary: dict, arch: str, metric: str) -> float | None:
    est = summary["arch"][arch]["stats"].get(metric)
    return est["mean"] if est else None


def busy_share(summary: dict, arch: str) -> float | None:
    """The system's mean CPU over the repeats as a share of its core budget."""
    values = [r["sut_cpu_percent"] for r in summary["arch"][arch]["repeats"]
              if r.get("sut_cpu_percent") is not None]
    if not values:
        return None
    return sum(values) / len(values) / (100 * summary["sut_cores"])


def _hops(summary: dict, a: str, b: str) -> str:
    held = {x: summary["arch"][x].get("held") or {} for x in (a, b)}
    hops = {x: held[x].get("hops_per_request") for x in (a, b)}
    if not all(hops.values()):
        return ("HTTP hops per request: not recorded (the run has no census of access-log "
                "lines).")

    def span(values: list[float]) -> str:
        lo, hi = (f"{v:.2f}" for v in values)
        return lo if lo == hi else f"{lo}–{hi}"

    return (f"Each request crossed {span(hops[a])} HTTP hops in {noun(a)[0]} against "
            f"{span(hops[b])} in {noun(b)[0]} (access-log lines per request the entry "
            f"point served).")


def paragraph(summary: dict) -> str | None:
    """The why paragraph, or None when the run has fewer than two architectures."""
    ratios = summary.get("ratios")
    if not ratios:
        return None
    first, second = ratios["numerator"], ratios["denominator"]
    cpu = {x: _mean(summary, x, "cpu_ms_per_request") for x in (first, second)}
    thr = ratios["throughput"]
    found = distinguishable(thr)
    if found:
        faster, slower = (first, second) if thr["value"] > 1 else (second, first)
        lead = []
    else:
        lead = [f"Throughput was {ratio_text(thr)}, so there is no difference to explain; "
                f"what each architecture spent per request, as measured:"]
    if None in cpu.values():
        return " ".join([*lead, "CPU per request: not recorded (no CPU samples of the "
                         "system).", _hops(summary, first, second)])
    # The architecture that spent more CPU per request is the subject.
    more, less = (first, second) if cpu[first] >= cpu[second] else (second, first)
    cpu_ratio = ratios.get("cpu_per_request") or {}
    if more != first and cpu_ratio.get("value"):
        cpu_ratio = invert(cpu_ratio)
    parts = {x: _parts(summary["arch"][x]["cpu_ms_by_component"]) for x in (more, less)}
    how_much = (f"{cpu_ratio['value']:.2f}x as much ({ratio_ci(cpu_ratio)})"
                if distinguishable(cpu_ratio) else f"a ratio {ratio_text(cpu_ratio)}")
    words = [*lead,
             f"Per request, {noun(more)[0]} spent {num(cpu[more])} ms of CPU ({parts[more]}) "
             f"and {noun(less)[0]} {num(cpu[less])} ms ({parts[less]}): {how_much}.",
             _hops(summary, first, second),
             "Time per hop is not measured: the run counts access-log lines, it does not "
             "keep their durations."]
    if found:
        words.append(_verdict(summary, faster, slower, more, cpu_ratio, thr))
    quota = _quota(summary, (first, second))
    if quota:
        words.append(quota)
    return " ".join(words)


def throttled(summary: dict, arch: str) -> dict[str, float] | None:
    """On containers: seconds each service was held at its CPU quota in the measured
    phase, mean over the repeats that recorded it; None where none did."""
    records = [r["containers"] for r in summary["arch"][arch]["repeats"]
               if any("throttled_s" in c for c in (r.get("containers") or {}).values())]
    if not records:
        return None
    services = {name for record in records for name in record}
    return {name: sum((record.get(name) or {}).get("throttled_s", 0.0)
                      for record in records) / len(records) for name in services}


def _quota(summary: dict, archs: tuple[str, ...]) -> str | None:
    """How long each stack's containers waited at their CPU quota (the kernel's
    throttling), when the run measured it: time a hard limit, not the cores, took."""
    held = {x: throttled(summary, x) for x in archs}
    if None in held.values():
        return None
    parts = []
    for arch in archs:
        total = sum(held[arch].values())
        top = sorted(((s, v) for s, v in held[arch].items() if v >= 0.05),
                     key=lambda sv: -sv[1])[:3]
        most = f" (most: {', '.join(f'{_component(s)} {v:.1f} s' for s, v in top)})" if top \
            else ""
        parts.append(f"{noun(arch)[0]} {total:.1f} s{most}")
    return ("On containers each one may use only its CPU quota; the time the kernel held "
            "them at it (throttled) per measured phase, summed over the containers and "
            f"averaged over the repeats: {'; '.join(parts)}. A container throttled while "
            "the core had idle time waited on its own limit, not on the core.")


def _verdict(summary: dict, faster: str, slower: str, more: str, cpu_ratio: dict,
             thr: dict) -> str:
    """What the CPU figures say about the throughput difference, and no more: CPU per
    request bounds an architecture's throughput only where its cores were saturated."""
    if not (distinguishable(cpu_ratio) and more == slower):
        return ("CPU per request does not account for the difference, so its cause is not "
                "among what this run measured.")
    busy = {x: busy_share(summary, x) for x in (faster, slower)}
    if None in busy.values():
        return "How busy the system's cores were is not recorded."
    cores = summary["sut_cores"]
    budget = f"{cores} core{'s' * (cores != 1)}"
    served = thr["value"] if thr["value"] > 1 else 1 / thr["value"]
    fast, fast_their = noun(faster)[0], noun(faster)[2]
    slow, slow_their = noun(slower)[0], noun(slower)[2]
    if min(busy.values()) >= SATURATED:
        return (f"Both kept the system's {budget} busy ({100 * busy[faster]:.0f}% in {fast}, "
                f"{100 * busy[slower]:.0f}% in {slow}), so the CPU a request costs bounds "
                f"how many the same cores can serve: {slow} spent "
                f"{cpu_ratio['value']:.2f}x the CPU per request, and {fast} served "
                f"{served:.2f}x the requests per second.")
    if busy[slower] >= SATURATED:
        ceiling = cores * 1000 / _mean(summary, slower, "cpu_ms_per_request")
        return (f"{slow.capitalize()} kept the system's {budget} {100 * busy[slower]:.0f}% "
                f"busy, so the CPU {slow_their} requests cost bounds {slow_their} "
                f"throughput (at most about {ceiling:,.0f} req/s on {budget}); {fast} used "
                f"{100 * busy[faster]:.0f}%, so CPU did not set {fast_their} pace alone.")
    return (f"{slow.capitalize()} used {100 * busy[slower]:.0f}% of the system's {budget} "
            f"({fast} {100 * busy[faster]:.0f}%), so CPU per request alone does not account "
            f"for the {served:.2f}x: part of {slow_their} requests' time went to waiting (on "
            f"the database, on locks, on the next hop or on the load generator), which this "
            f"run does not break down.")
