import json

from archlab.bench import census


def access_line(service: str, route: str = "/api/products/{product_id}") -> str:
    return json.dumps({"ts": "2026-11-27T00:00:00.000+00:00", "service": service,
                       "method": "GET", "route": route, "status": 200, "duration_ms": 1.0,
                       "request_id": "r1"}) + "\n"


def test_access_lines_are_counted_per_process_from_the_mark_on(tmp_path):
    (tmp_path / "gateway.log").write_text(access_line("gateway") * 5)
    (tmp_path / "catalog.log").write_text("")
    logs = census.AccessLogs(tmp_path)
    logs.mark()
    with open(tmp_path / "gateway.log", "a") as f:
        f.write(access_line("gateway") * 3 + "[2026] WARNING a human-readable line\n")
    with open(tmp_path / "catalog.log", "a") as f:
        f.write(access_line("catalog") * 3 + '{"not": "an access line"}\n')
    (tmp_path / "inventory.log").write_text(access_line("inventory") * 2)  # new file
    assert logs.count() == {"gateway": 3, "catalog": 3, "inventory": 2}


def test_liveness_probes_are_not_requests_served_but_are_counted_apart(tmp_path):
    logs = census.AccessLogs(tmp_path)
    logs.mark()
    probe = json.dumps({"ts": "t", "service": "gateway", "method": "GET",
                        "route": "/healthz", "status": 200, "duration_ms": 0.75}) + "\n"
    with open(tmp_path / "gateway.log", "a") as f:
        f.write(access_line("gateway") * 2 + probe * 4)
    (tmp_path / "catalog.log").write_text(probe * 2)
    assert logs.count() == {"gateway": 2}
    assert logs.probes == {"requests": 6, "request_ms": 4.5}


def test_gunicorn_workers_are_told_from_their_master_by_the_parent():
    gunicorn = ["/venv/bin/python", "-m", "gunicorn", "-c", "conf.py", "monolith.wsgi:app"]
    cmdlines = {10: gunicorn, 11: gunicorn, 20: ["/usr/lib/postgresql/15/bin/postgres"],
                21: ["postgres: archlab: monolith monolith 127.0.0.1(5000) idle"],
                30: ["/venv/bin/python", "-m", "monolith.worker"]}
    parents = {10: 1, 11: 10, 20: 1, 21: 20, 30: 1}

    class P:
        def __init__(self, pid):
            self.pid = pid

    roles = {pid: census._role(P(pid), cmd, parents, cmdlines) for pid, cmd in cmdlines.items()}
    assert roles == {10: "web master", 11: "web worker", 20: "postgres", 21: "postgres",
                     30: "process"}
