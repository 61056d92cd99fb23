"""The inter-service HTTP client: one keep-alive connection pool per target service.

Built on urllib3 rather than requests because the hop itself is what the lab measures:
on the build machines one bare extra hop left ~0.30x of direct throughput through a
requests.Session and ~0.39x through urllib3's PoolManager, and the difference would be
charged to the architecture.

Every call names its path template exactly as contract/internal.yaml does
(`client.get("/internal/products/{product_id}", product_id=5)`), so a test can collect
the templates used in the code and hold them against the contract. No retries and no
circuit breaker yet (they come with fault injection): a connect error, a timeout or a 5xx
raises UpstreamUnavailable, and the caller decides how to degrade. Its `sent` says whether
the request may have reached the target: a saga may treat a step that was never sent as
not taken, but must treat any other failure as an unknown outcome.

Create a client per process, after the fork (in the app factory, which gunicorn runs in
each worker): its pooled sockets must not be shared between processes.
"""

import json
import re
import time
from dataclasses import dataclass, field
from urllib.parse import quote, urlencode

from flask import g, has_request_context
from urllib3 import HTTPConnectionPool, Timeout
from urllib3.connection import HTTPConnection
from urllib3.exceptions import ConnectTimeoutError, EmptyPoolError, HTTPError
from urllib3.util import parse_url

from plumbing.observability import REQUEST_ID_HEADER
from plumbing.testhooks import fault_point

from .security import SERVICE_TOKEN_HEADER, ServiceTokens

_PLACEHOLDER = re.compile(r"\{([^}/]+)\}")


@dataclass(frozen=True)
class Reply:
    """A target's answer below 500: its status and JSON body."""

    status: int
    body: dict
    headers: dict = field(default_factory=dict, compare=False)


class UpstreamUnavailable(Exception):
    """The target could not be reached, timed out, or answered 5xx. `sent` is False only
    when the request certainly never left (no connection could be made or lent)."""

    def __init__(self, target: str, reason: str, *, sent: bool = True):
        super().__init__(f"{target} unavailable: {reason}")
        self.target = target
        self.reason = reason
        self.sent = sent


class _AgedConnection(HTTPConnection):
    """A connection that remembers when it connected."""

    connected_at: float | None = None

    def connect(self) -> None:
        super().connect()
        self.connected_at = time.monotonic()


class _AgedPool(HTTPConnectionPool):
    """A pool that reconnects instead of reusing a connection older than `max_age`.

    SO_REUSEPORT balances connections, not requests: without an age cap a keep-alive
    pool stays on the replicas it first reached, and a replica added later (or restarted)
    would get no traffic (docs/replicas.md).
    """

    ConnectionCls = _AgedConnection

    def __init__(self, *args, max_age: float, **kwargs):
        super().__init__(*args, **kwargs)
        self.max_age = max_age

    def _get_conn(self, timeout: float | None = None):
        conn = super()._get_conn(timeout)
        connected_at = getattr(conn, "connected_at", None)
        if connected_at is not None and time.monotonic() - connected_at >= self.max_age:
            # Closed, the connection object reconnects on its next request.
            conn.close()
            conn.connected_at = None
        return conn


class ServiceClient:
    """Calls one target service as `caller`, with a service token on every request."""

    def __init__(self, caller: str, target: str, base_url: str, key: bytes, *, threads: int,
                 connect_timeout: float = 1.0, read_timeout: float = 5.0,
                 max_connection_age: float = 30.0, pool_timeout: float = 1.0,
                 relayed_5xx: frozenset[int] = frozenset()):
        url = parse_url(base_url)
        if url.scheme != "http" or not url.host:
            raise ValueError(f"{target}: base URL must be http://host:port, not {base_url!r}")
        self.caller = caller
        self.target = target
        self._tokens = ServiceTokens(key, caller)
        self._pool_timeout = pool_timeout
        # 5xx statuses whose JSON error body is a definite answer the caller relays (e.g.
        # orders' 503 payment_unavailable: nothing was charged), not an unavailability.
        self._relayed_5xx = relayed_5xx
        # One connection per calling thread; a thread that finds none free waits
        # (bounded by pool_timeout) rather than opening connections without limit.
        self._pool = _AgedPool(
            url.host, url.port or 80, maxsize=threads, block=True, retries=False,
            timeout=Timeout(connect=connect_timeout, read=read_timeout),
            max_age=max_connection_age)

    def get(self, path_template: str, *, on_behalf_of: int | None = None,
            query: dict | None = None, request_id: str | None = None,
            **path_params) -> Reply:
        """GET a path of the target (template plus its parameters). The request id sent
        is `request_id`, else the current request's (none outside a request)."""
        return self._call("GET", path_template, None, on_behalf_of, query, request_id,
                          path_params)

    def put(self, path_template: str, json_body, *, on_behalf_of: int | None = None,
            query: dict | None = None, request_id: str | None = None,
            **path_params) -> Reply:
        """PUT a JSON body to a path of the target."""
        return self._call("PUT", path_template, json_body, on_behalf_of, query, request_id,
                          path_params)

    def post(self, path_template: str, json_body, *, on_behalf_of: int | None = None,
             query: dict | None = None, request_id: str | None = None,
             **path_params) -> Reply:
        """POST a JSON body to a path of the target."""
        return self._call("POST", path_template, json_body, on_behalf_of, query, request_id,
                          path_params)

    def close(self) -> None:
        """Close the pooled connections."""
        self._pool.close()

    def _call(self, method: str, path_template: str, json_body, on_behalf_of: int | None,
              query: dict | None, request_id: str | None, path_params: dict) -> Reply:
        url = fill_path(path_template, path_params)
        if query:
            url += "?" + urlencode({k: v for k, v in query.items() if v is not None})
        headers = {
            SERVICE_TOKEN_HEADER: self._tokens.token(self.target, on_behalf_of),
            "Accept": "application/json",
        }
        if request_id is None and has_request_context():
            request_id = g.get("request_id")
        if request_id is not None:
            headers[REQUEST_ID_HEADER] = request_id
        body = None
        if json_body is not None:
            body = json.dumps(json_body, separators=(",", ":")).encode()
            headers["Content-Type"] = "application/json"
        point = f"call {self.target} {method} {path_template}"
        if fault_point(point + ":before") == "refuse":
            raise UpstreamUnavailable(self.target, "connection refused (test hook)",
                                      sent=False)
        try:
            response = self._pool.urlopen(method, url, body=body, headers=headers,
                                          redirect=False, pool_timeout=self._pool_timeout)
        except HTTPError as exc:
            # Refused or timed out while connecting, or no pooled connection free: the
            # request never left. Anything later (a read timeout, a reset) may have run.
            sent = not isinstance(exc, ConnectTimeoutError | EmptyPoolError)
            raise UpstreamUnavailable(self.target, f"{type(exc).__name__}: {exc}",
                                      sent=sent) from exc
        try:
            answer = json.loads(response.data)
        # RecursionError: a body nested deeper than the parser goes is no answer either.
        except (ValueError, RecursionError):
            answer = None
        fault_point(point + ":after")
        if response.status >= 500 and not (response.status in self._relayed_5xx
                                           and isinstance(answer, dict)):
            raise UpstreamUnavailable(self.target, f"HTTP {response.status}")
        if not isinstance(answer, dict):
            raise UpstreamUnavailable(self.target, f"HTTP {response.status} without a JSON "
                                                   "object body")
        return Reply(response.status, answer, dict(response.headers))


def fill_path(path_template: str, path_params: dict) -> str:
    """The path of a template with every `{name}` filled (percent-encoded); exactly the
    template's names must be given."""
    names = set(_PLACEHOLDER.findall(path_template))
    if names != set(path_params):
        raise TypeError(f"{path_template} takes {sorted(names)}, got {sorted(path_params)}")
    return _PLACEHOLDER.sub(lambda m: quote(str(path_params[m.group(1)]), safe=""),
                            path_template)
