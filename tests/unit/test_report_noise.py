"""The report's host-noise section: what it says the lab counted as known."""

from archlab.report import content


def summary_with(host: dict) -> dict:
    repeat = {"repeat": 1, "host_cpu": {"busy_total_percent": 80.0, "known_percent": 70.0,
                                        "unexplained_percent": 10.0, "flagged": False,
                                        "limit_percent": 20.0} | host}
    return {"architectures": ["monolith"],
            "arch": {"monolith": {"repeats": [repeat], "noisy_repeats": []}}}


def first_text(summary: dict) -> str:
    return content._host_noise(summary)[0].text


def test_on_containers_the_engine_processes_it_counted_are_named():
    text = first_text(summary_with({"engine_pids": [900, 950]}))
    assert ("the lab itself; on containers also the Docker engine's processes that serve "
            "the stack") in text


def test_without_engine_processes_only_the_stack_is_named():
    # The local platform, or a compose run recorded before the engine's processes counted.
    for host in ({}, {"engine_pids": []}):
        text = first_text(summary_with(host))
        assert "(the stack, Locust, the lab itself)" in text


def test_the_systems_own_cores_are_explained_and_the_verdict_names_them():
    summary = summary_with({"sut_cpus": [0], "sut_unexplained_percent": 19.0,
                            "sut_limit_percent": 10.0, "flagged": True,
                            "lab_flagged": False, "sut_flagged": True})
    blocks = content._host_noise(summary)
    assert "The system's cores are also judged on their own" in blocks[0].text
    assert "Above 10.0% the repeat is flagged too" in blocks[0].text
    (table,) = [b for b in blocks if hasattr(b, "rows")]
    assert table.rows == [["monolith", "1", "80.0", "70.0", "10.0", "19.0",
                           "NOISY (system's cores)", "-"]]


def test_an_older_window_without_the_systems_figure_reads_as_before():
    blocks = content._host_noise(summary_with({}))
    assert "also judged on their own" not in blocks[0].text
    (table,) = [b for b in blocks if hasattr(b, "rows")]
    assert table.rows[0][5:7] == ["-", "ok"]
