"""The card processor client against a tiny scripted HTTP server in a thread: what it
sends, and how every kind of answer or failure maps to Charge, ChargeFailed,
OutcomeUnknown, ProcessorUnavailable or ValueError."""

import json
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from cardprocessor.client import (
    CardProcessor,
    Charge,
    ChargeFailed,
    OutcomeUnknown,
    ProcessorUnavailable,
    processor_from_env,
)
from shop.cards import Card

pytestmark = pytest.mark.timeout(30)

CARD = Card(number="4242424242424242", exp_month=12, exp_year=2035, cvc="123",
            holder="Ada Lovelace")
RECORD = {"reference": "order-1", "status": "captured", "amount_cents": 1250,
          "card_last4": "4242", "created_at": "2025-01-01T00:00:00+00:00"}


class _Handler(BaseHTTPRequestHandler):
    """Records each request, then follows the server's script: an answer (status, body),
    "close" (hang up without answering) or "hang" (answer nothing until released)."""

    protocol_version = "HTTP/1.1"  # keep-alive, as gunicorn answers

    def _handle(self):
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        self.server.seen.append((self.command, self.path, dict(self.headers), body))
        script = self.server.script
        if script == "close":
            self.close_connection = True
            return
        if script == "hang":
            self.server.release.wait(10)
            self.close_connection = True
            return
        status, payload = script
        data = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    do_GET = do_POST = _handle

    def log_message(self, *args):
        pass


class _ScriptedServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self):
        super().__init__(("127.0.0.1", 0), _Handler)
        self.script = (200, RECORD)
        self.seen: list = []
        self.release = threading.Event()


@pytest.fixture
def server():
    srv = _ScriptedServer()
    threading.Thread(target=srv.serve_forever, args=(0.05,), daemon=True).start()
    yield srv
    srv.release.set()
    srv.shutdown()
    srv.server_close()


@pytest.fixture
def client(server):
    c = CardProcessor(f"http://127.0.0.1:{server.server_address[1]}", timeout=2.0)
    yield c
    c.close()


def closed_port() -> int:
    """A port nothing listens on (bound, then released)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# --- what is sent, and the answers -------------------------------------------------------

def test_charge_sends_the_card_and_answers_the_record(server, client):
    assert client.charge("order-1", 1250, CARD) == Charge("order-1", "captured", 1250, "4242")
    method, path, headers, body = server.seen[0]
    assert (method, path) == ("POST", "/v1/charges")
    assert headers["Content-Type"] == "application/json"
    assert json.loads(body) == {
        "reference": "order-1", "amount_cents": 1250,
        "card": {"number": "4242424242424242", "exp_month": 12, "exp_year": 2035,
                 "cvc": "123", "holder": "Ada Lovelace"}}


def test_references_are_one_encoded_path_segment(server, client):
    server.script = (200, RECORD | {"reference": "a/../b c?d"})
    client.lookup("a/../b c?d")
    client.refund("a/../b c?d")
    client.lookup("..")
    paths = [path for _, path, _, _ in server.seen]
    assert paths == ["/v1/charges/a%2F%2E%2E%2Fb%20c%3Fd",
                     "/v1/charges/a%2F%2E%2E%2Fb%20c%3Fd/refund",
                     "/v1/charges/%2E%2E"]


def test_lookup_of_an_unknown_reference_is_none(server, client):
    server.script = (404, {"error": "not_found", "message": "no charge has this reference"})
    assert client.lookup("order-1") is None


def test_charges_lists_every_record(server, client):
    server.script = (200, {"items": [RECORD, RECORD | {"reference": "order-2",
                                                        "status": "voided",
                                                        "amount_cents": 0, "card_last4": ""}]})
    assert client.charges() == [Charge("order-1", "captured", 1250, "4242"),
                                Charge("order-2", "voided", 0, "")]
    assert server.seen[0][:2] == ("GET", "/v1/charges")


def test_a_base_url_path_prefixes_every_call(server):
    c = CardProcessor(f"http://127.0.0.1:{server.server_address[1]}/sandbox/")
    try:
        c.lookup("order-1")
    finally:
        c.close()
    assert server.seen[0][1] == "/sandbox/v1/charges/order-1"


# --- charge failures ---------------------------------------------------------------------

def test_processor_error_is_charge_failed(server, client):
    server.script = (503, {"error": "processor_error",
                           "message": "the card processor failed; nothing was charged"})
    with pytest.raises(ChargeFailed, match="processor_error"):
        client.charge("order-1", 1250, CARD)


def test_connection_refused_is_charge_failed():
    c = CardProcessor(f"http://127.0.0.1:{closed_port()}")
    try:
        with pytest.raises(ChargeFailed):
            c.charge("order-1", 1250, CARD)
    finally:
        c.close()


def test_a_hang_up_after_sending_is_outcome_unknown(server, client):
    server.script = "close"
    with pytest.raises(OutcomeUnknown) as caught:
        client.charge("order-1", 1250, CARD)
    assert not isinstance(caught.value, ChargeFailed)
    assert len(server.seen) == 1  # it was sent, once: no retry


def test_a_read_timeout_is_outcome_unknown(server):
    server.script = "hang"
    c = CardProcessor(f"http://127.0.0.1:{server.server_address[1]}", timeout=0.3)
    try:
        with pytest.raises(OutcomeUnknown):
            c.charge("order-1", 1250, CARD)
    finally:
        server.release.set()
        c.close()


@pytest.mark.parametrize("status, payload", [
    (500, {"error": "internal_error", "message": "internal error"}),
    (503, {"error": "service_unavailable", "message": "the database is unavailable"}),
    (502, b"<html>bad gateway</html>"),
    (200, b"not json"),
    (200, {"reference": "order-1", "status": "approved"}),
    (200, RECORD | {"reference": "order-2"}),
])
def test_an_unexpected_answer_to_a_charge_is_outcome_unknown(server, client, status, payload):
    server.script = (status, payload)
    with pytest.raises(OutcomeUnknown):
        client.charge("order-1", 1250, CARD)


@pytest.mark.parametrize("status, code", [(422, "validation_error"),
                                          (422, "reference_reused"),
                                          (415, "unsupported_media_type")])
def test_a_4xx_answer_is_a_programming_error(server, client, status, code):
    server.script = (status, {"error": code, "message": "you sent it wrong"})
    with pytest.raises(ValueError, match=code):
        client.charge("order-1", 1250, CARD)
    with pytest.raises(ValueError, match=code):
        client.refund("order-1")


def test_an_invalid_reference_is_refused_before_sending(server, client):
    for reference in ("", "x" * 101, "caf\u00e9", "tab\there"):
        with pytest.raises(ValueError):
            client.charge(reference, 1250, CARD)
        with pytest.raises(ValueError):
            client.lookup(reference)
    assert server.seen == []


# --- the other calls: ProcessorUnavailable -----------------------------------------------

@pytest.mark.parametrize("script", [
    (503, {"error": "service_unavailable", "message": "down"}),
    (500, b""),
    (200, b"not json"),
    "close",
])
def test_refund_lookup_and_charges_fail_as_processor_unavailable(server, client, script):
    server.script = script
    for call in (lambda: client.refund("order-1"), lambda: client.lookup("order-1"),
                 client.charges):
        with pytest.raises(ProcessorUnavailable):
            call()


def test_refund_and_lookup_on_a_closed_port_are_processor_unavailable():
    c = CardProcessor(f"http://127.0.0.1:{closed_port()}")
    try:
        with pytest.raises(ProcessorUnavailable):
            c.refund("order-1")
        with pytest.raises(ProcessorUnavailable):
            c.lookup("order-1")
    finally:
        c.close()


# --- construction ------------------------------------------------------------------------

def test_only_an_http_url_is_accepted():
    with pytest.raises(ValueError):
        CardProcessor("https://processor.example")
    with pytest.raises(ValueError):
        CardProcessor("127.0.0.1:8108")


def test_processor_from_env(monkeypatch, server):
    port = server.server_address[1]
    monkeypatch.setenv("CARD_PROCESSOR_URL", f"http://127.0.0.1:{port}")
    monkeypatch.setenv("CARD_PROCESSOR_TIMEOUT_SECONDS", "0.3")
    server.script = "hang"
    c = processor_from_env(maxsize=2)
    try:
        # The configured read timeout applies: the hanging server is given up on.
        with pytest.raises(OutcomeUnknown):
            c.charge("order-1", 1250, CARD)
    finally:
        server.release.set()
        c.close()


def test_processor_from_env_defaults(monkeypatch):
    monkeypatch.delenv("CARD_PROCESSOR_URL", raising=False)
    monkeypatch.delenv("CARD_PROCESSOR_TIMEOUT_SECONDS", raising=False)
    c = processor_from_env()
    try:
        assert (c._pool.host, c._pool.port) == ("127.0.0.1", 8108)
        assert c._pool.timeout.read_timeout == 3.0
    finally:
        c.close()
