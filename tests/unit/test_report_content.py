from archlab.report.content import headline, invert


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
    assert "cannot be told apart on goodput" in paras[0].text


def test_a_p95_ratio_whose_interval_includes_one_is_not_stated_as_a_finding():
    # Seen in a report: "at 0.46x their p95 (95% CI 0.21-1.13x)" stated as a finding.
    paras = headline(_summary({"value": 1.83, "lo": 1.70, "hi": 1.97, "bounded": True},
                              {"value": 0.46, "lo": 0.21, "hi": 1.13, "bounded": True}))
    assert "their p95 response time not distinguishable (0.46x, 95% CI 0.21–1.13x)" in (
        paras[0].text)
    assert "at 0.46x" not in paras[0].text
