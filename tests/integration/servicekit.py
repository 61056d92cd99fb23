"""What the service integration tests share: a throwaway PostgreSQL cluster, the internal
contract (contract/internal.yaml) and the check of an answer against it, service token
headers, a contract-checked call through a Flask test client, and a Flask app served over
real HTTP in a thread.

The tests of the accounts, catalog and inventory services (test_ms_services), the
inventory's reservations, payments, notifications, invoices and the card processor each
had a copy of these; one version here keeps them checking the same thing the same way.
Each test file keeps its own port, namespace and defaults (who calls whom), as thin
wrappers over these where it needs them.
"""

import socket
import threading
from collections.abc import Callable, Iterator
from urllib.parse import urlencode

import jsonschema_rs
import yaml
from werkzeug.serving import make_server

from archlab.config import project_root
from archlab.db import EmbeddedPostgres, start_database
from microservices.common.client import fill_path
from microservices.common.security import SERVICE_TOKEN_HEADER, issue_service_token

INTERNAL_SPEC = yaml.safe_load((project_root() / "contract" / "internal.yaml").read_text())


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def bare_server(max_connections: int = 20) -> Iterator[EmbeddedPostgres]:
    """A bare PostgreSQL server (no databases made) on a port the kernel picks, stopped
    when done; `yield from` it in a fixture."""
    db = EmbeddedPostgres.create(free_port())
    db.start(max_connections=max_connections)
    try:
        yield db
    finally:
        db.stop()


def throwaway_cluster(port: int, namespace: str) -> Iterator:
    """A PostgreSQL cluster of the test module's own, stopped when done; `yield from` it in
    the module's `cluster` fixture."""
    db = start_database(port, namespace=namespace)
    try:
        yield db
    finally:
        db.stop()


# --- the contract ------------------------------------------------------------------------

def _validator(ref: str):
    return jsonschema_rs.validator_for({"$ref": ref,
                                        "components": INTERNAL_SPEC["components"]})


def check_contract(template: str, method: str, resp, *, tag: str | None = None) -> None:
    """The status is documented for the operation and the body matches its schema; a
    method the path does not serve must be 405, as documented on the path's operations. A
    Retry-After the response documents must be whole seconds; with `tag`, the operation
    must be tagged so (it belongs to the service under test)."""
    item = INTERNAL_SPEC["paths"][template]
    operation = item.get(method.lower())
    status = str(resp.status_code)
    if operation is None:
        assert status == "405", f"{method} {template} is not served but answered {status}"
        operation = next(op for m, op in item.items() if m in ("get", "put", "post"))
    elif tag is not None:
        assert tag in operation["tags"], f"{method} {template} is not tagged {tag}"
    assert status in operation["responses"], f"{method} {template} answered undocumented {status}"
    response = operation["responses"][status]
    if "$ref" in response:
        response = INTERNAL_SPEC["components"]["responses"][response["$ref"].rsplit("/", 1)[1]]
    schema_ref = response["content"]["application/json"]["schema"]["$ref"]
    errors = [e.message for e in _validator(schema_ref).iter_errors(resp.get_json())]
    assert not errors, f"{method} {template} {status}: {errors}"
    if "Retry-After" in response.get("headers", {}):
        assert resp.headers["Retry-After"].isdigit()


# --- calling -----------------------------------------------------------------------------

def service_headers(key: bytes, caller: str, audience: str, customer_id: int | None = None,
                    ttl: int = 60) -> dict:
    """The header of a service token with which `caller` calls `audience`."""
    return {SERVICE_TOKEN_HEADER: issue_service_token(key, caller, audience, customer_id, ttl)}


def call(client, method: str, template: str, *, headers, query=None, json=None, data=None,
         content_type=None, tag: str | None = None, **params):
    """Call an operation of internal.yaml by its path template through a Flask test client
    and check the answer against the contract (`tag` as check_contract takes it)."""
    path = fill_path(template, params)
    if query:
        path += "?" + urlencode(query)
    resp = client.open(path, method=method, headers=headers or {}, json=json, data=data,
                       content_type=content_type)
    check_contract(template, method, resp, tag=tag)
    return resp


# --- serving -----------------------------------------------------------------------------

def serve(app) -> tuple[str, Callable[[], None]]:
    """Serve a Flask app on a real HTTP server in a thread; (base URL, stop).

    stop() joins the request threads (werkzeug's serve_forever ends with server_close(),
    which waits for them), so an answer still held back finishes inside the test
    session, not after it: close every client of the server before stopping it, or a
    keep-alive connection keeps a thread waiting."""
    server = make_server("127.0.0.1", 0, app, threaded=True)
    server.daemon_threads = False
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()

    def stop() -> None:
        server.shutdown()
        thread.join(30)

    return f"http://127.0.0.1:{server.server_port}", stop
