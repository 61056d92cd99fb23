"""Money: integer euro cents everywhere, one VAT rate of 21%."""

from dataclasses import dataclass

CURRENCY = "EUR"
VAT_PERCENT = 21


def vat_cents(net_cents: int) -> int:
    """Return the VAT on a net amount, rounded half-up to the cent, in integer arithmetic."""
    # Integer division avoids float rounding surprises; adding 50 before // 100 rounds
    # half-up for non-negative amounts, and mirroring the sign keeps refunds symmetric.
    sign = -1 if net_cents < 0 else 1
    return sign * ((abs(net_cents) * VAT_PERCENT + 50) // 100)


def format_eur(cents: int) -> str:
    """Format cents for people: 123456 -> "€1,234.56", -100 -> "-€1.00"."""
    sign = "-" if cents < 0 else ""
    euros, rest = divmod(abs(cents), 100)
    return f"{sign}€{euros:,}.{rest:02d}"


@dataclass(frozen=True)
class Totals:
    """An order's subtotal (net), VAT and total (gross), all in cents."""

    subtotal_cents: int
    vat_cents: int
    total_cents: int


def totals(subtotal_cents: int) -> Totals:
    """Compute VAT and gross total for a net subtotal."""
    vat = vat_cents(subtotal_cents)
    return Totals(subtotal_cents=subtotal_cents, vat_cents=vat, total_cents=subtotal_cents + vat)
