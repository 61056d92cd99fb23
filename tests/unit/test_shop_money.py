import pytest

from shop.money import CURRENCY, VAT_PERCENT, Totals, format_eur, totals, vat_cents


def test_currency_and_rate():
    assert (CURRENCY, VAT_PERCENT) == ("EUR", 21)


@pytest.mark.parametrize(
    ("net", "vat"),
    [
        (0, 0),
        (100, 21),
        (2, 0),  # 0.42 rounds down
        (3, 1),  # 0.63 rounds up
        (50, 11),  # exactly 10.5: half-up
        (150, 32),  # exactly 31.5: half-up
        (99_999_999, 20_999_999 + 1),  # 20,999,999.79 rounds up; no float drift at scale
        (-50, -11),  # refunds round symmetrically
    ],
)
def test_vat_cents_rounds_half_up(net, vat):
    result = vat_cents(net)
    assert result == vat
    assert type(result) is int


@pytest.mark.parametrize(
    ("cents", "text"),
    [
        (0, "€0.00"),
        (5, "€0.05"),
        (100, "€1.00"),
        (123456, "€1,234.56"),
        (100_000_000, "€1,000,000.00"),
        (-100, "-€1.00"),
        (-123456, "-€1,234.56"),
    ],
)
def test_format_eur(cents, text):
    assert format_eur(cents) == text


def test_totals_add_vat_to_subtotal():
    assert totals(10_000) == Totals(subtotal_cents=10_000, vat_cents=2_100, total_cents=12_100)


def test_totals_of_nothing():
    assert totals(0) == Totals(0, 0, 0)
