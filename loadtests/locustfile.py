"""Rackshop's personas: one User class each, weighted tasks, every answer checked.

Run by the lab (`archlab bench`) as its own process:
    python -m locust -f loadtests/locustfile.py --headless ... BrowserUser BuyerUser

Environment:
  ARCHLAB_PERSONAS      JSON {"BrowserUser": 8, "BuyerUser": 2}: each class's weight
                        (classes not named get 0; the runner lists only those named)
  ARCHLAB_WAIT          think time between tasks: "MIN,MAX" seconds (uniform) or one
                        number ("0" = closed loop); default 0.5,1.5
  ARCHLAB_CHECKOUT_LOG  file that gets one JSON line per 201 checkout
  ARCHLAB_DEGRADED_LOG  file that gets one JSON line per degraded answer: a success the
                        contract allows but that lacks part of what was asked (a product
                        whose stock is unknown because inventory did not answer)
  ARCHLAB_TOKEN_CACHE   file of logins to reuse and to add to (the runner's warm-up
                        fills it, the measured run reuses it)
  ARCHLAB_SHAPE         a stage table of loadtests.shapes; without it the users and spawn
                        rate come from the command line
  ARCHLAB_SERIES_OUT    series.csv: requests answered once a second, on the wall clock,
                        and looplag.json, the event loop's lag (loadtests.series)
  ARCHLAB_ARRIVAL       an open-loop schedule (loadtests.openloop): the run's one user
                        class is then OpenLoop, which sends the personas' tasks at the
                        scheduled times

Every parameterised URL is reported under one name ("/api/products/[id]"), and a
response counts as a failure when its body is wrong, not only its status.
"""

import itertools
import json
import os
import random
import time
import uuid

import locust.stats
from locust import FastHttpUser, LoadTestShape, between, constant, events, task

from loadtests import answers, openloop, series, shapes
from shop.catalog import CATEGORIES
from shop.seed import CUSTOMER_COUNT, LOADTEST_PASSWORD, PRODUCT_COUNT

# Words that occur in the seeded catalogue (names, SKUs or descriptions).
SEARCH_WORDS = ("rack", "server", "switch", "router", "ups", "cable", "san", "cooling",
                "managed", "edge", "tower", "airflow", "patch", "online", "nas", "gbps")
CATEGORY_SLUGS = tuple(slug for slug, _ in CATEGORIES)
CARD = {"number": "4242424242424242", "exp_month": 12, "exp_year": 2035, "cvc": "123",
        "holder": "Load Generator"}
DEFAULT_WAIT = (0.5, 1.5)

# The runner's progress line follows locust_stats_history.csv: put each second's row on
# disk within a second, not in Locust's default 5-second batches.
locust.stats.CSV_STATS_FLUSH_INTERVAL_SEC = 1
# Every run keeps its request series and its event loop's lag (loadtests.series).
series.install(events)


def think_time():
    """The wait between tasks, from ARCHLAB_WAIT ("MIN,MAX" or one number)."""
    raw = os.environ.get("ARCHLAB_WAIT", "").strip()
    if not raw:
        return between(*DEFAULT_WAIT)
    low, _, high = raw.partition(",")
    return between(float(low), float(high)) if high else constant(float(low))


def persona_weights() -> dict[str, int]:
    """Each persona's weight from ARCHLAB_PERSONAS (all three, weight 1, without it)."""
    raw = os.environ.get("ARCHLAB_PERSONAS")
    return json.loads(raw) if raw else {}


# Customers are dealt round-robin, so logins spread over all of them (and the warm-up
# and the measured run deal the same customers in the same order).
_customers = itertools.count()
_open_files: dict[str, object] = {}


def next_customer_email() -> str:
    return f"customer{next(_customers) % CUSTOMER_COUNT + 1}@rackshop.test"


def append_line(path: str, record: dict) -> None:
    """Append one JSON line to `path`: opened once per process and line-buffered, so a
    run cut short still has every line on disk."""
    if path not in _open_files:
        _open_files[path] = open(path, "a", buffering=1)  # kept open for the run
    _open_files[path].write(json.dumps(record) + "\n")


def log_checkout(order_id: int, key: str, customer: str) -> None:
    """Record a 201 in ARCHLAB_CHECKOUT_LOG (for the client/server reconciliation)."""
    path = os.environ.get("ARCHLAB_CHECKOUT_LOG")
    if path:
        append_line(path, {"order_id": order_id, "key": key, "customer": customer,
                           "ts": time.time()})


def log_degraded(name: str, what: str) -> None:
    """Record a degraded answer in ARCHLAB_DEGRADED_LOG: it counts as a success in
    Locust's figures, so the report counts it apart (goodput leaves it out). Called
    before the request's event fires, so the open loop keeps the answer apart too."""
    path = os.environ.get("ARCHLAB_DEGRADED_LOG")
    if path:
        append_line(path, {"name": name, "what": what, "ts": time.time()})
    openloop.note_degraded()


def saved_tokens() -> dict[str, str]:
    """Tokens an earlier run against the same stack saved in ARCHLAB_TOKEN_CACHE: the
    warm-up logs in, the measured run reuses those logins, so no password check (~0.12 s
    of server CPU each) falls into the measured phase."""
    path = os.environ.get("ARCHLAB_TOKEN_CACHE")
    if not path or not os.path.exists(path):
        return {}
    with open(path) as f:
        return {r["email"]: r["token"] for r in map(json.loads, f) if r.get("token")}


_tokens = saved_tokens()


def error_text(resp) -> str:
    """'<status> <error code>' from a contract error body, else '<status>' (0: no answer)."""
    if resp.status_code == 0:
        return f"no answer: {resp.error}"
    try:
        code = resp.json().get("error")
    except (ValueError, AttributeError):
        code = None
    return f"{resp.status_code} {code}" if code else f"HTTP {resp.status_code}"


def json_body(resp, status: int = 200):
    """The JSON body when the status is `status`; otherwise marks the failure, None."""
    if resp.status_code != status:
        resp.failure(error_text(resp))
        return None
    try:
        return resp.json()
    except ValueError:
        resp.failure("body is not JSON")
        return None


def expect(resp, ok: bool, what: str) -> bool:
    """Mark the response failed with `what` unless `ok`."""
    if not ok:
        resp.failure(f"wrong body: {what}")
    return ok


def expect_page(resp, marker: str, what: str) -> None:
    """An HTML page: 200 and `marker` somewhere in it."""
    if resp.status_code != 200:
        resp.failure(error_text(resp))
        return
    expect(resp, marker in (resp.text or ""), what)


class ShopUser(FastHttpUser):
    """What every persona shares: timeouts, think time and the catalogue reads."""

    abstract = True
    wait_time = think_time()
    network_timeout = 30.0
    connection_timeout = 10.0

    def view_product_api(self) -> None:
        product_id = random.randint(1, PRODUCT_COUNT)
        with self.client.get(f"/api/products/{product_id}", name="/api/products/[id]",
                             catch_response=True) as resp:
            body = json_body(resp)
            if body is not None and expect(resp, body.get("id") == product_id
                                           and "stock" in body,
                                           f"product {product_id} with its stock"):
                if answers.product_degraded(body):
                    log_degraded("/api/products/[id]", "stock unknown")

    def view_product_page(self) -> None:
        product_id = random.randint(1, PRODUCT_COUNT)
        with self.client.get(f"/products/{product_id}", name="/products/[id]",
                             catch_response=True) as resp:
            expect_page(resp, f'data-product-id="{product_id}"', f"product {product_id} page")
            if resp.status_code == 200 and answers.page_degraded(resp.text or ""):
                log_degraded("/products/[id]", "stock unknown")

    def search_api(self) -> None:
        word = random.choice(SEARCH_WORDS)
        with self.client.get(f"/api/products?q={word}", name="/api/products?q=[word]",
                             catch_response=True) as resp:
            body = json_body(resp)
            if body is not None:
                expect(resp, body.get("total", 0) > 0 and bool(body.get("items")),
                       f"products matching {word!r}")

    def login(self) -> None:
        """Log in once (a password check costs ~0.12 s of CPU: never per task)."""
        self.email = next_customer_email()
        if self.email in _tokens:
            self.auth = {"Authorization": f"Bearer {_tokens[self.email]}"}
            return
        with self.client.post("/api/auth/login", name="/api/auth/login", catch_response=True,
                              json={"email": self.email, "password": LOADTEST_PASSWORD}) as resp:
            body = json_body(resp)
            if body is not None and expect(resp, bool(body.get("token")), "a token"):
                self.auth = {"Authorization": f"Bearer {body['token']}"}
                _tokens[self.email] = body["token"]
                if os.environ.get("ARCHLAB_TOKEN_CACHE"):
                    append_line(os.environ["ARCHLAB_TOKEN_CACHE"],
                                {"email": self.email, "token": body["token"]})

    def checkout(self) -> int | None:
        """Buy 1-3 random products with a fresh Idempotency-Key; the order id on 201."""
        items = [{"product_id": pid, "quantity": random.randint(1, 3)}
                 for pid in random.sample(range(1, PRODUCT_COUNT + 1), random.randint(1, 3))]
        key = uuid.uuid4().hex
        with self.client.post("/api/orders", name="/api/orders", catch_response=True,
                              json={"items": items, "card": CARD},
                              headers=self.auth | {"Idempotency-Key": key}) as resp:
            body = json_body(resp, 201)
            if body is None or not expect(resp, body.get("status") == "PAID" and "id" in body,
                                          "a PAID order"):
                return None
        log_checkout(body["id"], key, self.email)
        return body["id"]

    def read_invoice(self, order_id: int) -> None:
        with self.client.get(f"/api/orders/{order_id}/invoice",
                             name="/api/orders/[id]/invoice", headers=self.auth,
                             catch_response=True) as resp:
            body = json_body(resp)
            if body is not None:
                expect(resp, body.get("order_id") == order_id and bool(body.get("number")),
                       f"the invoice of order {order_id}")


class BrowserUser(ShopUser):
    """Someone looking around: catalogue pages and the API behind a shop front."""

    @task(2)
    def home(self) -> None:
        with self.client.get("/", name="/", catch_response=True) as resp:
            expect_page(resp, 'id="products"', "the product grid")

    @task(2)
    def search(self) -> None:
        self.search_api()

    @task(1)
    def search_page(self) -> None:
        word = random.choice(SEARCH_WORDS)
        with self.client.get(f"/?q={word}", name="/?q=[word]", catch_response=True) as resp:
            expect_page(resp, "data-product-id=", f"products matching {word!r}")

    @task(1)
    def category(self) -> None:
        slug = random.choice(CATEGORY_SLUGS)
        with self.client.get(f"/api/products?category={slug}",
                             name="/api/products?category=[slug]", catch_response=True) as resp:
            body = json_body(resp)
            if body is not None:
                items = body.get("items") or []
                expect(resp, bool(items) and all(p.get("category") == slug for p in items),
                       f"products of category {slug!r}")

    @task(1)
    def category_page(self) -> None:
        slug = random.choice(CATEGORY_SLUGS)
        with self.client.get(f"/?category={slug}", name="/?category=[slug]",
                             catch_response=True) as resp:
            expect_page(resp, "data-product-id=", f"products of category {slug!r}")

    @task(4)
    def product(self) -> None:
        self.view_product_api()

    @task(2)
    def product_page(self) -> None:
        self.view_product_page()

    @task(1)
    def categories(self) -> None:
        with self.client.get("/api/categories", name="/api/categories",
                             catch_response=True) as resp:
            body = json_body(resp)
            if body is not None:
                expect(resp, len(body.get("items") or []) == len(CATEGORY_SLUGS),
                       f"{len(CATEGORY_SLUGS)} categories")


class BuyerUser(ShopUser):
    """Someone who came to buy: logs in once, looks a little, checks out, reads the
    invoice."""

    def on_start(self) -> None:
        self.auth = {}
        self.login()

    @task(3)
    def product(self) -> None:
        self.view_product_api()

    @task(2)
    def search(self) -> None:
        self.search_api()

    @task(2)
    def buy(self) -> None:
        order_id = self.checkout()
        if order_id is not None:
            self.read_invoice(order_id)


class CheckoutUser(ShopUser):
    """Someone who only buys: logs in once, looks at a product, checks out - and does
    not read the invoice (so it runs where invoices are not served)."""

    def on_start(self) -> None:
        self.auth = {}
        self.login()

    @task(1)
    def product(self) -> None:
        self.view_product_api()

    @task(1)
    def buy(self) -> None:
        self.checkout()


class AccountHolderUser(ShopUser):
    """A returning customer: lists their orders, opens an invoice, e-mails it."""

    def on_start(self) -> None:
        self.auth = {}
        self.order_ids: list[int] = []
        self.login()
        self.list_orders()
        if not self.order_ids:
            order_id = self.checkout()
            if order_id is not None:
                self.order_ids.append(order_id)

    @task(3)
    def list_orders(self) -> None:
        with self.client.get("/api/orders", name="/api/orders", headers=self.auth,
                             catch_response=True) as resp:
            body = json_body(resp)
            if body is not None and expect(resp, isinstance(body.get("items"), list),
                                           "a page of orders"):
                self.order_ids = [order["id"] for order in body["items"]]

    @task(2)
    def invoice(self) -> None:
        if self.order_ids:
            self.read_invoice(random.choice(self.order_ids))

    @task(1)
    def email_invoice(self) -> None:
        if not self.order_ids:
            return
        order_id = random.choice(self.order_ids)
        with self.client.post(f"/api/orders/{order_id}/invoice/email",
                              name="/api/orders/[id]/invoice/email", headers=self.auth,
                              catch_response=True) as resp:
            body = json_body(resp, 202)
            if body is not None:
                expect(resp, body.get("status") == "accepted", "the e-mail accepted")


PERSONAS = (BrowserUser, BuyerUser, AccountHolderUser)

_weights = persona_weights()
for _persona in PERSONAS:
    _persona.weight = _weights.get(_persona.__name__, 0 if _weights else 1)


if os.environ.get("ARCHLAB_SHAPE"):

    class StagesShape(LoadTestShape):
        """Follows the stage table ARCHLAB_SHAPE names in loadtests.shapes."""

        stages = shapes.SHAPES[os.environ["ARCHLAB_SHAPE"]]

        def tick(self):
            stage = shapes.stage_at(self.stages, self.get_run_time())
            return None if stage is None else (stage.users, stage.spawn_rate)


class NullUser(ShopUser):
    """The measurement's own floor (archlab/bench/floor.py): GET /readyz of a floor app,
    which answers {"status": "ok"} and does nothing else. Only an open loop sends it, when
    ARCHLAB_PERSONAS names it; it is never a Locust user of its own."""

    abstract = True

    @task
    def readyz(self) -> None:
        with self.client.get("/readyz", name="/readyz", catch_response=True) as resp:
            body = json_body(resp)
            if body is not None:
                expect(resp, body.get("status") == "ok", "status ok")


if os.environ.get("ARCHLAB_ARRIVAL"):
    from loadtests.openloop import open_loop_user

    OpenLoop = open_loop_user(
        {cls: _weights.get(cls.__name__, 0 if _weights else 1)
         for cls in (BrowserUser, BuyerUser, CheckoutUser, AccountHolderUser)}
        | {NullUser: _weights.get(NullUser.__name__, 0)})
