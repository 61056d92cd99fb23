from archlab.report.content import headline, invert, ratio_cell, share_cell
from archlab.report.words import ratio_text


def _summary(good: dict, p95: dict, n: int = 3) -> dict:
    est = {"mean": 100.0, "stdev": 1.0, "n": n, "half_width": 2.0, "ci95": [98.0, 102.0]}
    arch = {"stats": {"throughput_rps": est, "goodput_rps": est, "p95_ms": est,
                      "error_rate": est}, "n": n, "overloaded_repeats": []}
    return {"architectures": ["monolith", "microservices"],
            "arch": {"monolith": arch, "microservices": arch}, "missing": [],
            "machine": {"git_dirty": False},
            "ratios": {"numerator": "monolith", "denominator": "microservices",
                       "throughput": good, "goodput": good, "p95": p95, "method": "..."}}


def test_inverted_ratio_flips_the_bracket():
    assert invert({"value": 0.5, "lo": 0.25, "hi": 1.0, "bounded": True}) == {
        "value": 2.0, "lo": 1.0, "hi": 4.0, "bounded": True}
    # no upper bound: the inverse starts at zero; a lower bound of zero: no upper bound
    assert invert({"value": 0.5, "lo": 0.0, "hi": None, "bounded": False}) == {
        "value": 2.0, "lo": 0.0, "hi": None, "bounded": False}


def test_headline_names_the_faster_architecture_first():
    paras = headline(_summary({"value": 1.83, "lo": 1.70, "hi": 1.97, "bounded": True},
                              {"value": 0.52, "lo": 0.40, "hi": 0.60, "bounded": True}))
    assert paras[0].text == ("The monolith served 1.83x the microservices' goodput "
                             "(successful, complete answers per second; 95% CI "
                             "1.70–1.97x) with 0.52x their p95 response time "
                             "(95% CI 0.40–0.60x).")
    paras = headline(_summary({"value": 0.5, "lo": 0.4, "hi": 0.625, "bounded": True},
                              {"value": 2.0, "lo": 1.6, "hi": 2.5, "bounded": True}))
    assert paras[0].text.startswith("The microservices served 2.00x the monolith's "
                                    "goodput")
    assert "0.50x its p95" in paras[0].text


def test_headline_says_when_the_interval_includes_one():
    paras = headline(_summary({"value": 1.1, "lo": 0.9, "hi": 1.3, "bounded": True},
                              {"value": 0.9, "lo": 0.8, "hi": 1.0, "bounded": True}))
    assert paras[0].text == (
        "Goodput: not distinguishable in this run between the monolith and the "
        "microservices (1.10x, 95% CI 0.90–1.30x); p95 response time: not distinguishable "
        "in this run (0.90x, 95% CI 0.80–1.00x).")
    paras = headline(_summary({"value": 1.1, "lo": 0.9, "hi": 1.3, "bounded": True},
                              {"value": 0.5, "lo": 0.4, "hi": 0.6, "bounded": True}))
    assert paras[0].text.endswith("; the monolith's p95 response time was 0.50x the "
                                  "microservices' (95% CI 0.40–0.60x).")


def test_a_p95_ratio_whose_interval_includes_one_is_not_stated_as_a_finding():
    # Seen in a report: "at 0.46x their p95 (95% CI 0.21-1.13x)" stated as a finding.
    paras = headline(_summary({"value": 1.83, "lo": 1.70, "hi": 1.97, "bounded": True},
                              {"value": 0.46, "lo": 0.21, "hi": 1.13, "bounded": True}))
    assert paras[0].text.endswith(
        "with a p95 response time not distinguishable in this run from the microservices' "
        "(0.46x, 95% CI 0.21–1.13x).")
    assert "at 0.46x" not in paras[0].text and "0.46x their" not in paras[0].text


def test_every_ratio_phrase_follows_the_rule():
    found = {"value": 2.01, "lo": 1.89, "hi": 2.15, "bounded": True}
    across = {"value": 0.46, "lo": 0.21, "hi": 1.13, "bounded": True}
    single = {"value": 2.0, "lo": None, "hi": None, "bounded": False,
              "note": "no interval: an architecture has a single repeat"}
    assert ratio_text(found) == "2.01x (95% CI 1.89–2.15x)"
    assert ratio_text(across) == ("not distinguishable in this run (0.46x, 95% CI "
                                  "0.21–1.13x)")
    assert ratio_text(single) == ("not distinguishable in this run (2.00x, no interval: "
                                  "an architecture has a single repeat)")
    assert ratio_cell(found) == "2.01x"
    assert ratio_cell(across) == ratio_cell(across | {"hi": None}) == (
        "0.46x: not distinguishable in this run")
    assert ratio_cell(single) == "2.00x: not distinguishable in this run"


def test_the_overhead_above_the_floor_is_shown_in_ms_with_its_interval():
    from archlab.report.content import _calibration, overhead_cell

    assert overhead_cell({"overhead_ms": 0.21, "overhead_ms_ci": [0.05, 0.37]}) == (
        "+0.21 (+0.05 to +0.37)")
    assert overhead_cell({"overhead_ms": -0.02}) == "-0.02"
    assert overhead_cell({}) == "not recorded"  # a calibration.json from before it
    row = {"arch": "monolith", "endpoint": "search", "app_rps": 300, "floor_rps": 310,
           "rps_ratio": 0.97, "overhead_ms": 0.1, "overhead_ms_ci": [0.0, 0.2],
           "app_p50_ms": 1, "floor_p50_ms": 1, "app_p99_ms": 2, "floor_p99_ms": 2}
    cal = {"rows": [row], "endpoints": {}, "bias": {"search": {"text": "none found"}}}
    blocks = _calibration({"calibration": cal}, set())
    assert blocks[1].rows[0][5] == "+0.10 (+0.00 to +0.20)"
    assert any(getattr(b, "term", "") == "Bias." and "search: none found" in b.text
               for b in blocks)


def test_a_calibration_share_is_a_ratio_too():
    assert share_cell({"rps_ratio": 0.78, "rps_ratio_ci": [0.70, 0.85]}) == "78% (70–85%)"
    assert share_cell({"rps_ratio": 0.97, "rps_ratio_ci": [0.90, 1.04]}) == (
        "97% (90–104%): not distinguishable from the floor")
    assert share_cell({"rps_ratio": 0.9}) == (
        "90% (no interval: not distinguishable from the floor)")
