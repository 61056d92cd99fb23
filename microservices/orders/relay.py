"""The outbox relay: delivers the events the orders service wrote in the same
transaction as the changes they announce, until their consumer acknowledges them.

Today one event: an order became PAID, for the invoices service, which renders and
delivers the invoice. Delivery is at least once - the relay may die after sending and
before recording the acknowledgement - so the consumer is idempotent by order id and a
redelivery changes nothing. It runs in the orders worker process, never in a web worker,
and may run in several (`--replicas orders-worker=2`): each leases the events it claims
(LEASE_SECONDS) and sends them holding no row lock, so a paused relay holds nothing up
for longer than its lease.
"""

import logging
import select
import time

import psycopg2

from microservices.common.client import UpstreamUnavailable
from microservices.common.upstreams import Upstreams
from plumbing.testhooks import crash_point
from plumbing.worker import beat

from .repository import OUTBOX_CHANNEL, OrderStore

log = logging.getLogger("orders.relay")

# A failing event is tried again after 0.5 s, 1 s, 2 s ... at most this often.
RETRY_CAP_SECONDS = 30.0
# How long a claimed event is this relay's: longer than its batch's sends can take with
# the invoices service answering (its timeout per send, api.TARGETS), short enough that a
# paused or dead relay's events go out soon through another one.
LEASE_SECONDS = 15.0


def relay_once(store: OrderStore, ups: Upstreams, batch: int) -> int:
    """Send every due event once, batch after batch while batches come back full;
    returns how many were acknowledged."""
    acknowledged = 0
    while True:
        events = store.claim_events(batch, LEASE_SECONDS)
        for event_id, payload in events:
            beat()  # each send may wait out its timeout
            acknowledged += _send(store, ups, event_id, payload)
        if len(events) < batch:
            return acknowledged


def _send(store: OrderStore, ups: Upstreams, event_id: int, payload: dict) -> int:
    try:
        reply = ups["invoices"].post("/internal/invoices", payload)
    except UpstreamUnavailable as exc:
        store.failed(event_id, str(exc), RETRY_CAP_SECONDS)
        return 0
    crash_point("orders.relay_after_send")
    if reply.status in (200, 201):
        store.delivered(event_id)
        return 1
    log.error("invoices refused event %s: %s %s", event_id, reply.status, reply.body)
    store.failed(event_id, f"HTTP {reply.status}: {reply.body}", RETRY_CAP_SECONDS)
    return 0


class Wakeup:
    """Waits between relay rounds until an event is written (PostgreSQL LISTEN/NOTIFY:
    mark_paid notifies as its transaction commits), so an invoice goes out as soon as
    its order is PAID instead of at the next poll. Polling stays the fallback: a missed
    notification, or a lost connection, costs one poll interval, nothing more."""

    def __init__(self, dsn: str):
        self.dsn = dsn
        self.conn = None

    def wait(self, seconds: float) -> None:
        """Return when notified, or after `seconds`."""
        try:
            if self.conn is None or self.conn.closed:
                self.conn = psycopg2.connect(self.dsn, connect_timeout=3,
                                             application_name="orders-relay-wakeup")
                self.conn.autocommit = True
                with self.conn.cursor() as cur:
                    cur.execute(f"LISTEN {OUTBOX_CHANNEL}")
            if select.select([self.conn], [], [], seconds)[0]:
                self.conn.poll()
                if self.conn.notices and self.conn.notices[-1].startswith("FATAL:"):
                    # The server ended this backend (a restart, pg_terminate_backend):
                    # no wake-up, a lost connection, reopened at the next wait.
                    raise psycopg2.OperationalError(self.conn.notices[-1].strip())
                self.conn.notifies.clear()
        except (psycopg2.Error, OSError) as exc:
            log.warning("relay wake-up unavailable (%s); polling", exc)
            self.close()
            time.sleep(seconds)

    def close(self) -> None:
        """Drop the listening connection."""
        if self.conn is not None and not self.conn.closed:
            self.conn.close()
        self.conn = None
