"""A cart's items priced with fresh names and prices from the backend."""

from dataclasses import dataclass

from shop.money import Totals, totals

from .backend import BackendError, ShopBackend


@dataclass(frozen=True)
class Line:
    """One priced line; `available` is None when stock cannot be read right now."""

    product_id: int
    sku: str
    name: str
    quantity: int
    unit_price_cents: int
    available: int | None

    @property
    def line_total_cents(self) -> int:
        """Unit price times quantity."""
        return self.unit_price_cents * self.quantity

    @property
    def short(self) -> bool:
        """True when fewer units are available than this line wants."""
        return self.available is not None and self.available < self.quantity


@dataclass(frozen=True)
class Summary:
    """Priced lines, their totals, and the ids of products that no longer exist."""

    lines: list[Line]
    totals: Totals
    gone: list[int]


def price(backend: ShopBackend, items: list[dict]) -> Summary:
    """Price items through backend.product; unknown products are left out and listed
    in `gone`, any other failure (e.g. 503) raises BackendError."""
    lines, gone = [], []
    for item in items:
        try:
            p = backend.product(item["product_id"])
        except BackendError as exc:
            if exc.status != 404:
                raise
            gone.append(item["product_id"])
            continue
        lines.append(Line(p["id"], p["sku"], p["name"], item["quantity"], p["price_cents"],
                          p["stock"]["available"]))
    return Summary(lines, totals(sum(line.line_total_cents for line in lines)), gone)
