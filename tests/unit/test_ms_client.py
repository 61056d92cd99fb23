"""The inter-service client against a small real HTTP server in a thread: paths, headers,
timeouts, 5xx, and the connection-age cap."""

import json
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit

import pytest
from flask import Flask, g

from microservices.common.client import Reply, ServiceClient, UpstreamUnavailable, fill_path
from microservices.common.security import (
    SERVICE_TOKEN_HEADER,
    ServiceCaller,
    service_token_key,
    verify_service_token,
)

KEY = service_token_key("unit-test-secret")


class _Handler(BaseHTTPRequestHandler):
    """Echoes what it got as JSON; /slow waits for the test, /boom fails, /text is not JSON."""

    protocol_version = "HTTP/1.1"  # keep-alive, as gunicorn answers

    def _answer(self, status: int, body: bytes, content_type="application/json"):
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _handle(self):
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        url = urlsplit(self.path)
        if url.path == "/slow":
            self.server.in_slow.set()
            self.server.release.wait(5)
        if url.path == "/boom":
            return self._answer(503, b'{"error": "service_unavailable", "message": "down"}')
        if url.path == "/text":
            return self._answer(200, b"hello", "text/plain")
        if url.path == "/missing":
            return self._answer(404, b'{"error": "not_found", "message": "no"}')
        echo = {"method": self.command, "path": url.path, "query": url.query,
                "headers": dict(self.headers), "body": body.decode()}
        return self._answer(200, json.dumps(echo).encode())

    do_GET = do_PUT = do_POST = _handle

    def log_message(self, *args):
        pass


class _CountingServer(ThreadingHTTPServer):
    """Counts the connections it accepts; /slow holds until `release` is set."""

    daemon_threads = True
    accepted = 0

    def __init__(self, *args):
        super().__init__(*args)
        self.in_slow = threading.Event()
        self.release = threading.Event()

    def get_request(self):
        request = super().get_request()
        self.accepted += 1
        return request


@pytest.fixture
def server():
    srv = _CountingServer(("127.0.0.1", 0), _Handler)
    threading.Thread(target=srv.serve_forever, args=(0.05,), daemon=True).start()
    yield srv
    srv.release.set()
    srv.shutdown()
    srv.server_close()


def make_client(server, **kw) -> ServiceClient:
    kw.setdefault("threads", 4)
    return ServiceClient("gateway", "catalog", f"http://127.0.0.1:{server.server_port}", KEY,
                         **kw)


def test_fill_path_encodes_and_checks_names():
    assert fill_path("/internal/products/{product_id}", {"product_id": 5}) == \
        "/internal/products/5"
    assert fill_path("/internal/x/{name}", {"name": "a/b c"}) == "/internal/x/a%2Fb%20c"
    with pytest.raises(TypeError):
        fill_path("/internal/products/{product_id}", {})
    with pytest.raises(TypeError):
        fill_path("/internal/products", {"product_id": 5})


def test_get_fills_the_template_and_sends_query_and_token(server):
    client = make_client(server)
    reply = client.get("/internal/products/{product_id}", product_id=5, on_behalf_of=9,
                       query={"q": "rack 42u", "page": 2, "category": None})
    assert isinstance(reply, Reply) and reply.status == 200
    assert reply.body["method"] == "GET"
    assert reply.body["path"] == "/internal/products/5"
    assert reply.body["query"] == "q=rack+42u&page=2"
    token = reply.body["headers"][SERVICE_TOKEN_HEADER]
    assert verify_service_token(KEY, token, "catalog", {"gateway"}) == ServiceCaller("gateway", 9)


def test_put_and_post_send_json(server):
    client = make_client(server)
    reply = client.put("/internal/stock/{product_id}", {"available": 3}, product_id=1)
    assert (reply.body["method"], reply.body["path"]) == ("PUT", "/internal/stock/1")
    assert json.loads(reply.body["body"]) == {"available": 3}
    assert reply.body["headers"]["Content-Type"] == "application/json"
    reply = client.post("/internal/login", {"email": "a@b", "password": "x"})
    assert reply.body["method"] == "POST"


def test_4xx_is_a_reply_not_an_outage(server):
    reply = make_client(server).get("/missing")
    assert reply == Reply(404, {"error": "not_found", "message": "no"})


def test_request_id_is_forwarded_inside_a_request(server):
    client = make_client(server)
    assert "X-Request-ID" not in client.get("/echo").body["headers"]
    with Flask(__name__).test_request_context():
        g.request_id = "rid-7"
        assert client.get("/echo").body["headers"]["X-Request-ID"] == "rid-7"
        # Given, it wins over the request's.
        assert client.get("/echo", request_id="rid-8").body["headers"]["X-Request-ID"] == \
            "rid-8"


def test_a_request_id_can_be_given_outside_a_request(server):
    # As the gateway's parallel calls do from the executor's threads.
    reply = make_client(server).get("/echo", request_id="rid-9")
    assert reply.body["headers"]["X-Request-ID"] == "rid-9"


def test_5xx_is_unavailable(server):
    with pytest.raises(UpstreamUnavailable) as failed:
        make_client(server).get("/boom")
    assert failed.value.target == "catalog"
    assert "503" in failed.value.reason
    assert failed.value.sent  # the target ran: what it did is not known


def test_a_relayed_5xx_is_a_reply_with_its_headers(server):
    reply = make_client(server, relayed_5xx=frozenset({503})).get("/boom")
    assert reply == Reply(503, {"error": "service_unavailable", "message": "down"})
    assert reply.headers["Content-Type"] == "application/json"


def test_a_body_that_is_not_json_is_unavailable(server):
    with pytest.raises(UpstreamUnavailable):
        make_client(server).get("/text")


def test_read_timeout_is_unavailable(server):
    client = make_client(server, read_timeout=0.2)
    with pytest.raises(UpstreamUnavailable) as failed:
        client.get("/slow")
    assert "Timeout" in failed.value.reason
    assert failed.value.sent  # sent, then no answer: the outcome is unknown


def test_connection_refused_is_unavailable():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    # Nothing listens on the port any more.
    client = ServiceClient("gateway", "catalog", f"http://127.0.0.1:{port}", KEY, threads=1)
    with pytest.raises(UpstreamUnavailable) as failed:
        client.get("/echo")
    assert not failed.value.sent  # never left: a saga may count the step as not taken


def test_keep_alive_reuses_one_connection(server):
    client = make_client(server, max_connection_age=60)
    for _ in range(5):
        client.get("/echo")
    assert server.accepted == 1


def test_connections_past_their_age_are_not_reused(server):
    client = make_client(server, max_connection_age=0)
    for _ in range(5):
        client.get("/echo")
    assert server.accepted == 5


def test_a_busy_pool_waits_bounded_then_gives_up(server):
    client = make_client(server, threads=1, pool_timeout=0.1)
    slow = threading.Thread(target=client.get, args=("/slow",))
    slow.start()
    assert server.in_slow.wait(5)  # the one connection is now busy with /slow
    with pytest.raises(UpstreamUnavailable) as failed:
        client.get("/echo")
    assert "EmptyPool" in failed.value.reason
    assert not failed.value.sent
    server.release.set()
    slow.join()


def test_only_http_base_urls():
    with pytest.raises(ValueError):
        ServiceClient("gateway", "catalog", "https://catalog:443", KEY, threads=1)


def test_a_service_planned_without_fan_out_threads_still_calls_its_upstreams():
    # The sizing plan gives every service but the gateway FANOUT_THREADS=0.
    from microservices.common.upstreams import Upstream, Upstreams

    ups = Upstreams("orders", {"payments": Upstream("PAYMENTS_URL", 1)}, b"k" * 32,
                    threads=8, fanout=0)
    try:
        assert ups["payments"] is not None
        assert ups.executor.submit(lambda: 42).result(timeout=5) == 42
    finally:
        ups.close()
