"""What the report says about the measurement's own floor: the open loop's schedule sent
once to a null endpoint before the repeats (archlab/bench/floor.py), recorded as "floor"
in the open phase's manifest.

Its latencies are what the generator, the loopback network and the web server add to
any request, so they bound what a latency difference can show: one smaller than them is
the measurement's, not the architectures'. A run from before the floor was measured has
no record, and the report says nothing about it.
"""

from archlab.report.words import num


def paragraphs(record: dict | None) -> list[tuple[str, str]]:
    """The floor's paragraphs for the open-loop section, as (text, kind) with kind "text"
    or "warning": what it measured, then anything that makes it less than a floor; an
    error when its run failed; none for a run without a floor."""
    if not record:
        return []
    if record.get("error"):
        # The manifest keeps the whole error (a Locust failure quotes its log's tail).
        first = record["error"].splitlines()[0]
        return [(f"The measurement's own floor was not measured: its run of the same "
                 f"schedule against a null endpoint failed ({first}), so these "
                 f"latencies have no noise floor to be read against.", "warning")]
    return [(text(record), "text")] + [(w, "warning") for w in warnings(record)]


def text(record: dict) -> str:
    """'The measurement's own floor: the same schedule against a null endpoint answered
    in p50 x / p95 y / p99 z ms (corrected): ...'."""
    c = record["corrected"]
    return (f"The measurement's own floor: the same schedule against a null endpoint "
            f"({record['endpoint']} of {record['app']}, no database behind it, the same "
            f"web server on the system's cores) answered in p50 {num(c['p50_ms'])} / p95 "
            f"{num(c['p95_ms'])} / p99 {num(c['p99_ms'])} ms (corrected; "
            f"{arrivals(record)}): latency differences smaller than this are the "
            f"generator's and the network stack's, not the architectures'.")


def arrivals(record: dict) -> str:
    """'200 of 200 arrivals answered'."""
    return f"{record['completed']:,} of {record['intended']:,} arrivals answered"


def warnings(record: dict) -> list[str]:
    """What makes the floor's figures more than the measurement's own cost: its generator
    fell behind, arrivals went unanswered, or the null endpoint failed requests."""
    out = []
    if record.get("behind_schedule"):
        out.append("The floor's generator fell behind its schedule (its 99th percentile "
                   "lateness over the limit): at this rate the generator alone delays "
                   "requests on this machine, in the floor as in the repeats.")
    if record.get("unfinished"):
        out.append(f"The floor left {record['unfinished']:,} arrivals unanswered by the end "
                   "of the drain: its percentiles understate it.")
    if record.get("failures"):
        out.append(f"The null endpoint failed {record['failures']:,} requests: the floor's "
                   "figures include failed answers.")
    return out
