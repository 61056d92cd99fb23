"""Order lines: validating an untrusted basket and pricing it."""

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from shop.errors import NotFound, ValidationError
from shop.money import Totals, totals
from shop.numbers import whole_number

MAX_LINES = 50
MAX_QUANTITY = 100

_LINE_KEYS = {"product_id", "quantity"}


@dataclass(frozen=True)
class OrderLine:
    """A validated request for `quantity` units of one product."""

    product_id: int
    quantity: int


def _parse_line(index: int, raw: Any) -> OrderLine:
    field = f"items[{index}]"
    if not isinstance(raw, dict):
        raise ValidationError(f"{field} must be an object", {"field": field})
    missing = sorted(_LINE_KEYS - raw.keys())
    if missing:
        raise ValidationError(
            f"{field} is missing {', '.join(missing)}", {"field": f"{field}.{missing[0]}"}
        )
    extra = sorted(str(key) for key in raw.keys() - _LINE_KEYS)
    if extra:
        raise ValidationError(
            f"{field} has unknown field(s) {', '.join(extra)}", {"field": f"{field}.{extra[0]}"}
        )
    product_id, quantity = whole_number(raw["product_id"]), whole_number(raw["quantity"])
    if product_id is None or product_id < 1:
        raise ValidationError(
            f"{field}.product_id must be an integer >= 1", {"field": f"{field}.product_id"}
        )
    if quantity is None or not 1 <= quantity <= MAX_QUANTITY:
        raise ValidationError(
            f"{field}.quantity must be an integer from 1 to {MAX_QUANTITY}",
            {"field": f"{field}.quantity"},
        )
    return OrderLine(product_id=product_id, quantity=quantity)


def parse_items(raw: Any) -> list[OrderLine]:
    """Validate untrusted decoded JSON as order items; return the lines sorted by product id.

    Raises ValidationError with details {"field": "items[3].quantity"} on the first problem.
    """
    if not isinstance(raw, list):
        raise ValidationError("items must be a list", {"field": "items"})
    if not 1 <= len(raw) <= MAX_LINES:
        raise ValidationError(
            f"items must hold 1 to {MAX_LINES} lines, got {len(raw)}", {"field": "items"}
        )
    lines = []
    seen: set[int] = set()
    for index, raw_line in enumerate(raw):
        line = _parse_line(index, raw_line)
        if line.product_id in seen:
            # One line per product keeps stock checks and invoices unambiguous.
            raise ValidationError(
                f"product {line.product_id} appears more than once",
                {"field": f"items[{index}].product_id"},
            )
        seen.add(line.product_id)
        lines.append(line)
    # Callers lock stock rows in this order; a single global order means two concurrent
    # checkouts can never wait on each other's rows in opposite orders (deadlock).
    return sorted(lines, key=lambda line: line.product_id)


class ProductLike(Protocol):
    """What pricing needs from a product: a catalogue Product or any service's record."""

    # Read-only properties, so frozen dataclasses satisfy the protocol too.
    @property
    def id(self) -> int: ...
    @property
    def sku(self) -> str: ...
    @property
    def name(self) -> str: ...
    @property
    def price_cents(self) -> int: ...


@dataclass(frozen=True)
class PricedLine:
    """An order line with the product's name and price frozen at checkout time."""

    product_id: int
    sku: str
    name: str
    quantity: int
    unit_price_cents: int
    line_total_cents: int


@dataclass(frozen=True)
class PricedOrder:
    """Priced lines and the order totals (net subtotal, VAT, gross total)."""

    lines: tuple[PricedLine, ...]
    totals: Totals


def price_order(lines: list[OrderLine], products: Mapping[int, ProductLike]) -> PricedOrder:
    """Price lines against products keyed by id; raise NotFound naming any missing ids."""
    missing = sorted({line.product_id for line in lines if line.product_id not in products})
    if missing:
        raise NotFound(
            "unknown product(s) " + ", ".join(str(i) for i in missing), {"product_ids": missing}
        )
    priced = []
    for line in lines:
        product = products[line.product_id]
        priced.append(
            PricedLine(
                product_id=line.product_id,
                sku=product.sku,
                name=product.name,
                quantity=line.quantity,
                unit_price_cents=product.price_cents,
                line_total_cents=product.price_cents * line.quantity,
            )
        )
    # VAT is computed once on the subtotal, not per line, so rounding happens once.
    subtotal = sum(line.line_total_cents for line in priced)
    return PricedOrder(lines=tuple(priced), totals=totals(subtotal))


def request_fingerprint(body: Any) -> str:
    """A stable hash of a checkout request body, to tell a replay of it from its key
    reused for another request."""
    return hashlib.sha256(json.dumps(body, sort_keys=True, separators=(",", ":"))
                          .encode()).hexdigest()
