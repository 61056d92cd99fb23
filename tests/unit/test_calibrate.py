"""archlab.floors.shares' table: medians and shares per round pair, the share's interval
over rounds on the log scale, rounds with host noise left out while clean ones remain,
the overhead above the floor in CPU ms per request and the bias the gaps leave in the
monolith/microservices ratio; the command's closing lines about host noise and bias."""

import math

import pytest

from archlab.commands import calibrate as command
from archlab.floors import shares
from archlab.report.stats import t95


def run(round_, variant, rps, *, endpoint="product", arch="monolith", noise=None):
    host = None if noise is None else {"unexplained_percent": noise, "flagged": noise > 20}
    return {"arch": arch, "endpoint": endpoint, "variant": variant, "round": round_,
            "rps": rps, "p50_ms": 1000 / rps, "p99_ms": 4000 / rps, "errors": 0,
            "host_cpu": host}


def rounds(pairs, noisy=()):
    out = []
    for i, (floor, app) in enumerate(pairs, start=1):
        out.append(run(i, "floor", floor, noise=50.0 if (i, "floor") in noisy else 3.0))
        out.append(run(i, "app", app, noise=50.0 if (i, "app") in noisy else 3.0))
    return out


def test_the_share_keeps_its_keys_and_gets_an_interval_over_rounds():
    table = shares.summarize(rounds([(1000, 800), (1100, 900), (1200, 950)]))["table"]
    row, = table
    for key in ("arch", "endpoint", "app_rps", "floor_rps", "rps_ratio", "app_p50_ms",
                "floor_p50_ms", "app_p99_ms", "floor_p99_ms", "p50_ratio", "p99_ratio",
                "app_rounds", "floor_rounds", "app_errors", "floor_errors"):
        assert key in row
    assert row["app_rps"] == 900 and row["floor_rps"] == 1100
    assert row["rps_ratio"] == pytest.approx(900 / 1100)
    logs = [math.log(a / f) for f, a in [(1000, 800), (1100, 900), (1200, 950)]]
    mean = sum(logs) / 3
    sd = math.sqrt(sum((x - mean) ** 2 for x in logs) / 2)
    half = t95(2) * sd / math.sqrt(3)
    assert row["rps_ratio_gmean"] == pytest.approx(math.exp(mean))
    assert row["rps_ratio_ci"] == pytest.approx([math.exp(mean - half), math.exp(mean + half)])
    assert row["rounds_used"] == [1, 2, 3] and row["rounds_noisy"] == []
    assert row["noise_fallback"] is False


def test_each_round_pairs_its_own_app_and_floor_runs():
    # The floor halves in round 2 (another program's load); so does the app run next to
    # it: the per-round shares agree although the medians do not.
    row, = shares.summarize(rounds([(1400, 700), (500, 250)]))["table"]
    assert row["rps_ratio_rounds"] == [0.5, 0.5]
    assert row["rps_ratio_ci"] == pytest.approx([0.5, 0.5])


def test_a_single_round_has_no_interval():
    row, = shares.summarize(rounds([(1000, 800)]))["table"]
    assert row["rps_ratio_ci"] is None and row["rps_ratio"] == pytest.approx(0.8)


def test_a_noisy_round_is_listed_and_left_out_while_clean_rounds_remain():
    figures = shares.summarize(rounds([(1338, 1000), (504, 300), (1300, 1000)],
                                         noisy={(2, "floor")}))
    row, = figures["table"]
    assert row["rounds_used"] == [1, 3] and row["rounds_noisy"] == [2]
    assert row["floor_rps"] == pytest.approx((1338 + 1300) / 2)
    assert row["app_rounds"] == 2 and row["noise_fallback"] is False
    assert figures["noisy_rounds"] == [{"arch": "monolith", "round": 2, "endpoint": "product",
                                        "variant": "floor", "unexplained_percent": 50.0}]


def test_when_every_round_is_noisy_all_are_used_and_that_is_said():
    row, = shares.summarize(rounds([(1000, 800), (900, 700)],
                                      noisy={(1, "app"), (2, "floor")}))["table"]
    assert row["rounds_used"] == [1, 2] and row["rounds_noisy"] == [1, 2]
    assert row["noise_fallback"] is True


def test_runs_recorded_without_host_figures_still_summarize():
    runs = rounds([(1000, 800), (1000, 900)])
    for r in runs:
        r.pop("host_cpu")
    figures = shares.summarize(runs)
    assert figures["noisy_rounds"] == [] and figures["table"][0]["rounds_used"] == [1, 2]


def _figures(runs, single_noise=3.0):
    host = {"unexplained_percent": single_noise, "flagged": single_noise > 20}
    return {"noise_limit_percent": 20.0, "runs": runs,
            "concurrency_1": {"monolith": {"app": {"host_cpu": host},
                                           "floor": {"host_cpu": host}}},
            **shares.summarize(runs)}


def test_the_closing_lines_say_there_was_no_noise():
    lines = command.noise_lines(_figures(rounds([(1000, 800), (1000, 900)])))
    assert lines == ["host noise: none over 20% of a core in any run (highest 3%)"]


def test_the_closing_lines_list_every_noisy_run():
    lines = command.noise_lines(_figures(rounds([(1000, 800), (1000, 900)],
                                                noisy={(2, "app")}), single_noise=43.0))
    text = "\n".join(lines)
    assert text.startswith("! host noise: 3 run(s)")
    assert "monolith round 2 product app (50%)" in text
    assert "monolith concurrency 1 app (43%)" in text


def cpu_rounds(pairs, *, arch="monolith", endpoint="product", seconds=10.0):
    """Rounds whose runs carry the stack's CPU time: (floor ms/req, app ms/req, rps) each,
    at `rps` requests per second for both."""
    out = []
    for i, (floor_ms, app_ms, rps) in enumerate(pairs, start=1):
        app_rps = rps * floor_ms / app_ms
        for variant, ms, rate in (("floor", floor_ms, rps), ("app", app_ms, app_rps)):
            r = run(i, variant, rate, arch=arch, endpoint=endpoint, noise=3.0)
            r["requests"] = round(rate * seconds)
            r["stack_cpu_seconds"] = ms * r["requests"] / 1000
            out.append(r)
    return out


def test_the_overhead_is_app_minus_floor_cpu_ms_per_request_with_an_interval():
    row, = shares.summarize(cpu_rounds([(0.40, 0.50, 2000), (0.40, 0.52, 1900),
                                        (0.40, 0.48, 2100)]))["table"]
    assert row["floor_cpu_ms"] == pytest.approx(0.40, abs=1e-3)
    assert row["app_cpu_ms"] == pytest.approx(0.50, abs=1e-3)
    assert row["overhead_ms_rounds"] == pytest.approx([0.10, 0.12, 0.08], abs=1e-3)
    assert row["overhead_ms"] == pytest.approx(0.10, abs=1e-3)
    half = t95(2) * 0.02 / math.sqrt(3)
    assert row["overhead_ms_ci"] == pytest.approx([0.10 - half, 0.10 + half], abs=1e-3)


def test_a_heavier_shared_query_raises_the_share_but_not_the_overhead():
    # Both sides pay 1 ms more of the same SQL: the share rises, the overhead stays.
    light, = shares.summarize(cpu_rounds([(0.4, 0.5, 2000), (0.4, 0.5, 2000)]))["table"]
    heavy, = shares.summarize(cpu_rounds([(1.4, 1.5, 700), (1.4, 1.5, 700)]))["table"]
    assert heavy["rps_ratio_gmean"] > light["rps_ratio_gmean"]
    assert heavy["overhead_ms"] == pytest.approx(light["overhead_ms"], abs=1e-3)


def test_runs_without_cpu_figures_have_no_overhead():
    row, = shares.summarize(rounds([(1000, 800), (1000, 900)]))["table"]
    assert "overhead_ms" not in row and row["rps_ratio_gmean"] is not None


def test_the_bias_is_the_monolith_share_over_the_microservices_share():
    runs = (rounds([(1000, 950), (1000, 960), (1000, 940)])
            + [r | {"arch": "microservices"} for r in rounds([(500, 400), (500, 410),
                                                                (500, 390)])])
    figures = shares.summarize(runs)
    b = figures["bias"]["product"]
    assert b["value"] == pytest.approx(math.exp(
        sum(map(math.log, (0.95, 0.96, 0.94))) / 3 - sum(map(math.log, (0.8, 0.82, 0.78))) / 3))
    assert b["bounded"] and b["lo"] < b["value"] < b["hi"] and b["lo"] > 1
    assert b["text"].startswith("the gaps raise the monolith/microservices ratio by 1.19x")
    assert "not distinguishable" not in b["text"]
    lines = command.bias_lines(figures)
    assert lines[0].startswith("bias: a monolith/microservices ratio measured")
    assert lines[1:] == [f"bias, product: {b['text']}"]


def test_a_bias_whose_interval_holds_one_is_said_to_be_none():
    text = shares.bias_text(0.98, 0.9, 1.07)
    assert text == ("the gaps lower the monolith/microservices ratio by 0.98x "
                    "(95% CI 0.90-1.07): not distinguishable from none")


def test_one_architecture_alone_has_no_bias():
    figures = shares.summarize(rounds([(1000, 800), (1000, 900)]))
    assert figures["bias"] == {} and command.bias_lines(figures) == []
