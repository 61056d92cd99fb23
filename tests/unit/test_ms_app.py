"""The service app factory: the service-token guard in front of /internal/, the probes,
request ids, the access log, and no sessions."""

import json

import pytest
from flask import session

from microservices.common.app import NoSessions, create_service_app, service_caller
from microservices.common.security import (
    SERVICE_TOKEN_HEADER,
    issue_service_token,
    service_token_key,
)
from plumbing.observability import flush_access_log, route_template

SECRET = "unit-test-secret"
KEY = service_token_key(SECRET)
GATEWAY = frozenset({"gateway"})


@pytest.fixture
def client():
    """A service without a database, with one internal route that shows its caller."""
    app = create_service_app("catalog", {"SECRET_KEY": SECRET, "DATABASE_URL": "",
                                         "ALLOWED_CALLERS": GATEWAY})

    @app.get("/internal/whoami")
    def whoami():
        caller = service_caller()
        return {"caller": caller.caller, "customer_id": caller.customer_id}

    return app.test_client()


def test_guard_lets_an_allowed_caller_through_with_its_customer(client):
    token = issue_service_token(KEY, "gateway", "catalog", 5)
    resp = client.get("/internal/whoami", headers={SERVICE_TOKEN_HEADER: token})
    assert resp.status_code == 200
    assert resp.json == {"caller": "gateway", "customer_id": 5}


@pytest.mark.parametrize("token", [
    None,
    issue_service_token(KEY, "gateway", "inventory", 5),
    issue_service_token(KEY, "orders", "catalog", 5),
    issue_service_token(KEY, "gateway", "catalog", 5, ttl=-1),
    issue_service_token(service_token_key("forged"), "gateway", "catalog", 5),
], ids=["missing", "other-audience", "caller-not-allowed", "expired", "forged"])
def test_guard_answers_401(client, token):
    headers = {SERVICE_TOKEN_HEADER: token} if token else {}
    for path in ("/internal/whoami", "/internal/no-such-thing"):
        resp = client.get(path, headers=headers)
        assert resp.status_code == 401
        assert resp.json["error"] == "unauthorized"
        assert set(resp.json) <= {"error", "message", "details"}


def test_probes_need_no_token(client):
    assert client.get("/healthz").json == {"status": "ok", "service": "catalog"}
    # No database configured: nothing of its own can be down.
    assert client.get("/readyz").status_code == 200


def test_request_id_is_kept_or_made(client):
    assert client.get("/healthz", headers={"X-Request-ID": "abc-123"}).headers[
        "X-Request-ID"] == "abc-123"
    made = client.get("/healthz").headers["X-Request-ID"]
    assert len(made) == 32 and made != client.get("/healthz").headers["X-Request-ID"]
    # Not printable ASCII: replaced, so it cannot smuggle text into logs and headers.
    assert client.get("/healthz", headers={"X-Request-ID": "a b"}).headers[
        "X-Request-ID"] != "a b"


def test_one_json_access_line_per_request(client, capsys):
    client.get("/healthz", headers={"X-Request-ID": "rid-1"})
    # A background thread writes the lines: wait for it.
    flush_access_log()
    lines = [line for line in capsys.readouterr().out.splitlines() if '"rid-1"' in line]
    assert len(lines) == 1
    entry = json.loads(lines[0])
    assert {k: entry[k] for k in ("service", "method", "route", "status", "request_id")} == {
        "service": "catalog", "method": "GET", "route": "/healthz", "status": 200,
        "request_id": "rid-1"}
    assert entry["duration_ms"] >= 0
    assert entry["ts"].endswith("+00:00")
    assert len(entry["ts"]) == len("2026-01-01T00:00:00.000+00:00")


def test_every_access_line_is_written_once_and_whole(client, capsys):
    for i in range(50):
        client.get("/healthz", headers={"X-Request-ID": f"burst-{i}"})
    flush_access_log()
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()
             if '"burst-' in line]
    assert sorted(entry["request_id"] for entry in lines) == sorted(
        f"burst-{i}" for i in range(50))


def test_route_templates_are_written_as_the_contracts_write_paths():
    assert route_template("/internal/products/<int:product_id>") == \
        "/internal/products/{product_id}"
    assert route_template("/healthz") == "/healthz"
    assert route_template("/a/<name>/<path:rest>") == "/a/{name}/{rest}"


def test_a_service_needs_the_stack_secret():
    with pytest.raises(RuntimeError, match="ARCHLAB_SECRET_KEY"):
        create_service_app("catalog", {"SECRET_KEY": ""})


def test_a_database_service_needs_its_database_url():
    with pytest.raises(RuntimeError, match="DATABASE_URL"):
        create_service_app("catalog", {"SECRET_KEY": SECRET, "DATABASE_URL": "",
                                       "NEEDS_DATABASE": True})


def test_a_service_opens_no_session(client):
    assert isinstance(client.application.session_interface, NoSessions)
    with client.application.test_request_context("/healthz",
                                                  headers={"Cookie": "session=abc"}):
        client.application.preprocess_request()
        assert client.application.session_interface.is_null_session(session)
    answer = client.get("/healthz", headers={"Cookie": "session=abc"})
    assert "Set-Cookie" not in answer.headers and "Vary" not in answer.headers
