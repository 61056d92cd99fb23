import datetime

from shop.invoices import InvoiceData, invoice_number, render_html, render_text
from shop.money import totals
from shop.orders import PricedLine

CREATED = datetime.datetime(2026, 11, 25, 14, 30, tzinfo=datetime.UTC)
LONG_NAME = "Ampere P119 2200 VA Online Double-Conversion UPS, Rack-Mount"
INVOICE = InvoiceData(
    order_id=123,
    created_at=CREATED,
    customer_name="Ada Lovelace",
    customer_email="customer1@rackshop.test",
    lines=(
        PricedLine(17, "RCK-00017", "Northwind 42U Open Frame Rack", 2, 1_199_99, 2_399_98),
        PricedLine(6, "UPS-00006", LONG_NAME, 1, 2_058_99, 2_058_99),
    ),
    totals=totals(4_458_97),
    card_last4="4242",
)


def test_invoice_number():
    assert invoice_number(123, CREATED) == "RS-2026-000123"
    assert invoice_number(1_234_567, CREATED) == "RS-2026-1234567"


def test_text_has_every_figure():
    text = render_text(INVOICE)
    for expected in [
        "Rackshop B.V.",
        "Amsterdam",
        "RS-2026-000123",
        "2026-11-25",
        "Ada Lovelace <customer1@rackshop.test>",
        "RCK-00017",
        "Northwind 42U Open Frame Rack",
        "€1,199.99",
        "€2,399.98",
        "Subtotal",
        "€4,458.97",
        "VAT 21%",
        "€936.38",
        "Total",
        "€5,395.35",
        "Paid by card •••• 4242",
    ]:
        assert expected in text


def test_text_is_fixed_width():
    lines = render_text(INVOICE).splitlines()
    assert max(len(line) for line in lines) <= 80
    # Amounts line up in one right-hand column.
    amounts = [line for line in lines if line.endswith(("€2,399.98", "€4,458.97", "€5,395.35"))]
    assert len(amounts) == 3 and len({len(line) for line in amounts}) == 1
    # The long name wraps inside its column without losing words.
    assert " ".join(lines).count("Double-Conversion") == 1
    assert "Rack-Mount" in render_text(INVOICE)


def test_html_is_a_self_contained_article():
    page = render_html(INVOICE)
    assert page.startswith('<article class="invoice">')
    assert page.rstrip().endswith("</article>")
    assert "<table" in page and "RS-2026-000123" in page and "€5,395.35" in page
    assert "Paid by card •••• 4242" in page
    for external in ("<script", "<link", "src=", "href=", "http"):
        assert external not in page


def test_html_escapes_every_value():
    hostile = "<script>alert(1)</script>"
    invoice = InvoiceData(
        order_id=1,
        created_at=CREATED,
        customer_name=hostile,
        customer_email='"a"@example.test',
        lines=(PricedLine(1, "X&Y", hostile, 1, 100, 100),),
        totals=totals(100),
        card_last4="4242",
    )
    page = render_html(invoice)
    assert "<script" not in page
    assert page.count("&lt;script&gt;alert(1)&lt;/script&gt;") == 2
    assert "X&amp;Y" in page and "&quot;a&quot;@example.test" in page
