"""`archlab tour ARCH`: bring a stack up, buy something through the public API, show
what happened, and bring everything down again - whatever happens in between."""

import time
import uuid

import click
import requests

from archlab.errors import LabError
from archlab.platforms.local import LocalPlatform
from archlab.stacks import CAPABILITIES
from shop.money import format_eur
from shop.seed import LOADTEST_PASSWORD

INVOICE_WAIT_SECONDS = 5.0
CARD = {"number": "4242 4242 4242 4242", "exp_month": 12, "exp_year": 2035, "cvc": "123",
        "holder": "Demo Customer"}


def _call(method: str, url: str, expect: int, **kw) -> dict:
    resp = requests.request(method, url, timeout=30, **kw)
    if resp.status_code != expect:
        raise LabError(f"{method} {url} answered {resp.status_code}: {resp.text[:300]}")
    return resp.json()


def purchase(base_url: str, admin_token: str, echo=click.echo) -> dict:
    """One scripted purchase through the public API; returns the order."""
    api = base_url + "/api"
    login = _call("POST", f"{api}/auth/login", 200,
                  json={"email": "customer1@rackshop.test", "password": LOADTEST_PASSWORD})
    auth = {"Authorization": f"Bearer {login['token']}"}
    echo(f"1. logged in as {login['customer']['name']} <{login['customer']['email']}>")
    rack = _call("GET", f"{api}/products", 200, params={"q": "rack", "per_page": 1})["items"][0]
    cable = _call("GET", f"{api}/products", 200,
                  params={"category": "cables", "per_page": 1})["items"][0]
    product = _call("GET", f"{api}/products/{rack['id']}", 200)
    echo(f"2. found {rack['name']} ({format_eur(rack['price_cents'])} excl. VAT, "
         f"{product['stock']['available']} in stock) and {cable['name']}")
    key = uuid.uuid4().hex
    body = {"items": [{"product_id": rack["id"], "quantity": 1},
                      {"product_id": cable["id"], "quantity": 4}], "card": CARD}
    order = _call("POST", f"{api}/orders", 201, json=body, headers=auth | {"Idempotency-Key": key})
    echo(f"3. bought them: order {order['id']} {order['status']}, total "
         f"{format_eur(order['total_cents'])} incl. {format_eur(order['vat_cents'])} VAT")
    replay = requests.post(f"{api}/orders", json=body, timeout=30,
                           headers=auth | {"Idempotency-Key": key})
    echo(f"4. sent the same checkout again (same Idempotency-Key): {replay.status_code}, "
         f"order {replay.json().get('id')} - bought once")
    # The microservices deliver the invoice after the order is PAID (the outbox): give
    # delivery a few seconds rather than show it pending.
    deadline = time.monotonic() + INVOICE_WAIT_SECONDS
    while True:
        invoice = _call("GET", f"{api}/orders/{order['id']}/invoice", 200, headers=auth)
        if invoice["status"] != "pending" or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    echo(f"5. invoice {invoice['number']}: {invoice['status']}")
    echo("")
    echo(invoice["text"])
    audit = _call("GET", f"{api}/admin/audit", 200,
                  headers={"Authorization": f"Bearer {admin_token}"})
    consistent = all(s["initial"] == s["available"] + s["reserved"] + s["sold"]
                     for s in audit["stock"])
    echo(f"6. audit: {audit['orders']['PAID']} paid order(s), "
         f"{audit['payments']['captured']} captured payment(s), stock "
         f"{'consistent' if consistent else 'INCONSISTENT'} across {len(audit['stock'])} "
         "products")
    return order


def run(arch: str = "monolith", port_base: int | None = None, echo=click.echo) -> dict:
    """Up, purchase, down; the stack is taken down even when the purchase fails."""
    missing = {"checkout", "invoice"} - CAPABILITIES.get(arch, frozenset())
    if missing:
        raise LabError(f"{arch} cannot serve {', '.join(sorted(missing))} yet; "
                       "try `archlab tour monolith`")
    platform = LocalPlatform(port_base)
    platform.check_free(arch)  # refuse before announcing anything
    echo(f"starting {arch} at port base {platform.ports.base} ...")
    info = platform.up(arch)
    echo(f"{arch} is up at {info.base_url} (ready in {info.startup_seconds:.1f} s)")
    try:
        return purchase(info.base_url, info.admin_token, echo)
    finally:
        report = platform.down()
        left = f"; killed leftovers: {report.leftovers}" if report.leftovers else ""
        echo(f"stopped the stack and its database{left}")


@click.command("tour", short_help="Start a stack, make one purchase, stop it.")
@click.argument("arch", default="monolith")
def command(arch: str) -> None:
    """Start ARCH (default: monolith), make one scripted purchase through the public API,
    print what happened (order, invoice, audit figures), and stop everything again."""
    run(arch)
