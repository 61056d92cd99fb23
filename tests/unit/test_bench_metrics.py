"""Naming the processes of a stack and of the generator by their role (metrics.csv)."""

import pytest

from archlab.metrics import component_from_cmdline, components

PY = "/work/.venv/bin/python"
GUNICORN = [PY, "-m", "gunicorn", "--config", "python:plumbing.gunicorn_conf"]


@pytest.mark.parametrize(("cmdline", "component"), [
    ([*GUNICORN, "monolith.wsgi:app"], "monolith"),
    ([*GUNICORN, "microservices.catalog.wsgi:app"], "catalog"),
    ([*GUNICORN, "microservices.gateway.wsgi:app"], "gateway"),
    ([PY, "-m", "monolith.worker"], "monolith-worker"),
    ([PY, "-m", "microservices.orders.worker"], "orders-worker"),
    (["gunicorn: worker [inventory]"], "inventory"),
    (["gunicorn:", "master", "[accounts]"], "accounts"),
    (["/usr/lib/postgresql/15/bin/postgres", "-D", "/tmp/alpg-x/data", "-p", "8300"],
     "postgres"),
    (["postgres:", "monolith", "monolith", "127.0.0.1(5432)", "idle"], "postgres"),
    (["postgres: checkpointer "], "postgres"),
    ([PY, "-m", "locust", "-f", "loadtests/locustfile.py", "--headless"], "generator"),
    (["/usr/local/bin/locust", "-f", "loadtests/locustfile.py"], "generator"),
    ([PY, "-m", "archlab.platforms.supervisor", "/work/.archlab/8000"], "supervisor"),
])
def test_a_command_line_names_its_component(cmdline, component):
    assert component_from_cmdline(cmdline) == component


@pytest.mark.parametrize("cmdline", [
    [],
    [PY, "-m", "http.server"],
    ["/bin/sh", "-c", "sleep 1"],
    [*GUNICORN],
    [PY, "loadtests/locustfile.py"],
])
def test_a_command_line_that_does_not_tell_names_nothing(cmdline):
    assert component_from_cmdline(cmdline) is None


def test_processes_are_named_by_command_line_else_by_the_supervised_process_above():
    parents = {
        1: 0,
        10: 1,                # supervisor
        11: 10, 12: 11,       # gunicorn master and its worker
        13: 10, 14: 13,       # the monolith's background worker and a helper it started
        20: 1, 21: 20,        # postmaster and a backend
        30: 1,                # the generator
        40: 1, 41: 40,        # someone else's processes: not ours
    }
    cmdlines = {
        10: [PY, "-m", "archlab.platforms.supervisor", "/x"],
        11: [*GUNICORN, "monolith.wsgi:app"], 12: [*GUNICORN, "monolith.wsgi:app"],
        13: [PY, "-m", "monolith.worker"], 14: ["/bin/sh", "-c", "lpr"],
        20: ["/usr/lib/postgresql/15/bin/postgres", "-D", "/tmp/d"],
        21: ["postgres: monolith monolith 127.0.0.1(1) idle"],
        30: [PY, "-m", "locust"],
        40: [*GUNICORN, "monolith.wsgi:app"], 41: ["postgres: other"],
    }
    roots = {10: "supervisor", 11: "monolith", 13: "monolith-worker", 20: "postgres",
             30: "generator"}
    assert components(parents, cmdlines, roots) == {
        10: "supervisor", 11: "monolith", 12: "monolith", 13: "monolith-worker",
        14: "monolith-worker", 20: "postgres", 21: "postgres", 30: "generator",
    }


def test_a_root_that_has_gone_is_skipped():
    assert components({1: 0, 5: 1}, {}, {5: "generator", 99: "supervisor"}) == {5: "generator"}
