"""Invoice rendering: the same figures as printable plain text and as an HTML fragment."""

import datetime
import html
import textwrap
from dataclasses import dataclass

from shop.cards import mask
from shop.money import VAT_PERCENT, Totals, format_eur
from shop.orders import PricedLine

SELLER_NAME = "Rackshop B.V."
SELLER_ADDRESS = ("Datacenterweg 42", "1101 AB Amsterdam", "The Netherlands")
SELLER_VAT_ID = "NL862734519B01"

# Plain-text column widths; together they fit an 80-column printer.
_SKU_W, _NAME_W, _QTY_W, _MONEY_W = 10, 38, 5, 13
_WIDTH = _SKU_W + _NAME_W + _QTY_W + 2 * _MONEY_W


@dataclass(frozen=True)
class InvoiceData:
    """Everything an invoice shows; `created_at` is an aware UTC datetime."""

    order_id: int
    created_at: datetime.datetime
    customer_name: str
    customer_email: str
    lines: tuple[PricedLine, ...]
    totals: Totals
    card_last4: str


def invoice_number(order_id: int, created_at: datetime.datetime) -> str:
    """Return the invoice number, e.g. "RS-2026-000123" for order 123 placed in 2026."""
    return f"RS-{created_at.year}-{order_id:06d}"


def _text_row(sku: str, name: str, qty: str, unit: str, amount: str) -> str:
    return (
        f"{sku:<{_SKU_W}}{name:<{_NAME_W}}{qty:>{_QTY_W}}{unit:>{_MONEY_W}}{amount:>{_MONEY_W}}"
    ).rstrip()


def _text_total(label: str, cents: int) -> str:
    return f"{label:>{_WIDTH - _MONEY_W}}{format_eur(cents):>{_MONEY_W}}"


def render_text(inv: InvoiceData) -> str:
    """Render a printable fixed-width plain-text invoice."""
    out = [SELLER_NAME, *SELLER_ADDRESS, f"VAT ID {SELLER_VAT_ID}", ""]
    out += [
        f"INVOICE {invoice_number(inv.order_id, inv.created_at)}",
        f"Date:     {inv.created_at.date().isoformat()}",
        f"Customer: {inv.customer_name} <{inv.customer_email}>",
        "",
        _text_row("SKU", "Description", "Qty", "Unit price", "Amount"),
        "-" * _WIDTH,
    ]
    for line in inv.lines:
        # Long product names wrap inside their column rather than push the figures right.
        name_parts = textwrap.wrap(line.name, _NAME_W - 2, break_on_hyphens=False) or [""]
        out.append(
            _text_row(
                line.sku,
                name_parts[0],
                str(line.quantity),
                format_eur(line.unit_price_cents),
                format_eur(line.line_total_cents),
            )
        )
        out += [_text_row("", part, "", "", "") for part in name_parts[1:]]
    out += [
        "-" * _WIDTH,
        _text_total("Subtotal", inv.totals.subtotal_cents),
        _text_total(f"VAT {VAT_PERCENT}%", inv.totals.vat_cents),
        _text_total("Total", inv.totals.total_cents),
        "",
        f"Paid by card {mask(inv.card_last4)}",
    ]
    return "\n".join(out) + "\n"


# Inline styles only: the fragment must print the same wherever it is embedded, with no
# stylesheet or other external resource to fetch.
_RIGHT = ' style="text-align:right"'


def _html_row(cells: list[str], numeric_from: int, tag: str = "td") -> str:
    html_cells = "".join(
        f"<{tag}{_RIGHT if i >= numeric_from else ''}>{html.escape(cell)}</{tag}>"
        for i, cell in enumerate(cells)
    )
    return f"<tr>{html_cells}</tr>"


def _html_total(label: str, cents: int) -> str:
    return (
        f'<tr><td colspan="4"{_RIGHT}>{html.escape(label)}</td>'
        f"<td{_RIGHT}>{html.escape(format_eur(cents))}</td></tr>"
    )


def render_html(inv: InvoiceData) -> str:
    """Render a standalone, printable HTML fragment; every value is HTML-escaped."""
    esc = html.escape
    seller = "<br>".join(esc(part) for part in (SELLER_NAME, *SELLER_ADDRESS))
    out = [
        '<article class="invoice">',
        f"<h1>Invoice {esc(invoice_number(inv.order_id, inv.created_at))}</h1>",
        f'<p class="seller">{seller}<br>VAT ID {esc(SELLER_VAT_ID)}</p>',
        f'<p>Date: <time datetime="{esc(inv.created_at.isoformat())}">'
        f"{esc(inv.created_at.date().isoformat())}</time></p>",
        f"<p>Customer: {esc(inv.customer_name)} &lt;{esc(inv.customer_email)}&gt;</p>",
        '<table style="border-collapse:collapse;width:100%">',
        "<thead>",
        _html_row(["SKU", "Description", "Qty", "Unit price", "Amount"], 2, tag="th"),
        "</thead>",
        "<tbody>",
    ]
    out += [
        _html_row(
            [
                line.sku,
                line.name,
                str(line.quantity),
                format_eur(line.unit_price_cents),
                format_eur(line.line_total_cents),
            ],
            2,
        )
        for line in inv.lines
    ]
    out += [
        "</tbody>",
        "<tfoot>",
        _html_total("Subtotal", inv.totals.subtotal_cents),
        _html_total(f"VAT {VAT_PERCENT}%", inv.totals.vat_cents),
        _html_total("Total", inv.totals.total_cents),
        "</tfoot>",
        "</table>",
        f'<p class="payment">Paid by card {esc(mask(inv.card_last4))}</p>',
        "</article>",
    ]
    return "\n".join(out) + "\n"
