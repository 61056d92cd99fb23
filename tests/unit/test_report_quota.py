"""The why paragraph's sentence on containers' CPU quotas, from the engine's figures."""

from archlab.report import why


def summary_with(monolith: list, microservices: list) -> dict:
    return {"arch": {"monolith": {"repeats": [{"containers": c} for c in monolith]},
                     "microservices": {"repeats": [{"containers": c} for c in microservices]}}}


def test_the_time_held_at_the_quota_is_summed_per_stack_and_averaged_over_repeats():
    summary = summary_with(
        [{"monolith": {"throttled_s": 0.2}, "postgres": {"throttled_s": 0.0}}] * 2,
        [{"gateway": {"throttled_s": 4.0}, "catalog": {"throttled_s": 2.0}},
         {"gateway": {"throttled_s": 6.0}, "catalog": {"throttled_s": 1.0}}])
    text = why._quota(summary, ("monolith", "microservices"))
    assert "the monolith 0.2 s (most: monolith 0.2 s)" in text
    assert "the microservices 6.5 s (most: gateway 5.0 s, catalog 1.5 s)" in text


def test_no_sentence_where_the_run_did_not_measure_it():
    # The local platform (no containers), or an engine whose cgroups could not be read.
    assert why._quota(summary_with([None], [None]), ("monolith", "microservices")) is None
    summary = summary_with([{"monolith": {"cpu_percent_mean": 50.0}}],
                           [{"gateway": {"throttled_s": 1.0}}])
    assert why._quota(summary, ("monolith", "microservices")) is None
