"""archlab.floors.profile's reading of py-spy's collapsed stacks: samples per process
role, GIL ms per request, and the app-minus-floor comparison."""

import json

import pytest

from archlab.floors import profile

APP = ('process 10:"python -m gunicorn --config python:plumbing.gunicorn_conf '
       'microservices.catalog.wsgi:app";process 11:"python -m gunicorn --config '
       'python:plumbing.gunicorn_conf microservices.catalog.wsgi:app";thread (0x1)')
FLOOR = ('process 20:"python -m gunicorn --config python:plumbing.gunicorn_conf '
         'archlab.floors.apps.microservices:catalog_app";thread (0x2)')


def write(tmp_path, name, lines, requests):
    (tmp_path / f"{name}.txt").write_text("\n".join(lines) + "\n")
    (tmp_path / f"{name}.json").write_text(json.dumps(
        {"rps": requests / 10, "requests": requests, "seconds": 10, "rate": 100}))


def test_roles_name_an_apps_process_and_its_floors_alike():
    assert profile.role(APP) == profile.role(FLOOR) == "catalog"
    assert profile.role('process 1:"gunicorn monolith.wsgi:app"') == "monolith"
    assert profile.role('process 1:"gunicorn archlab.floors.apps.monolith:app"') == "monolith"
    assert profile.role('process 1:"python -m monolith.worker"').endswith('worker"')


def test_samples_become_gil_ms_per_request_by_role(tmp_path):
    write(tmp_path, "x", [f"{APP};Thread.run (threading.py:1);view (api.py:5);query (q.py:9) 30",
                          f"{APP};Thread.run (threading.py:1);view (api.py:5) 10"], 100)
    total, own, incl = profile.per_request(tmp_path / "x.txt", requests=100, rate=100)["catalog"]
    # 40 samples at 100 per second = 0.4 s over 100 requests.
    assert total == pytest.approx(4.0)
    assert own == pytest.approx({"query (q.py:9)": 3.0, "view (api.py:5)": 1.0})
    # The thread's own loop frames are left out of the inclusive list.
    assert incl == pytest.approx({"view (api.py:5)": 4.0, "query (q.py:9)": 3.0})


def test_the_comparison_lists_what_the_app_spends_and_the_floor_does_not(tmp_path):
    write(tmp_path, "microservices-product-app",
          [f"{APP};view (api.py:5) 20", f"{APP};_log_request (obs.py:1) 10"], 100)
    write(tmp_path, "microservices-product-floor", [f"{FLOOR};floor_view (f.py:1) 20"], 100)
    lines = []
    profile.compare(tmp_path, "microservices", "product", echo=lines.append)
    text = "\n".join(lines)
    assert "catalog: GIL ms/request app 3.000, floor 2.000, app - floor +1.000" in text
    assert "+1.000  1.000  0.000  _log_request (obs.py:1)" in text
