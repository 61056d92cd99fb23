from dataclasses import dataclass

import pytest

from shop.catalog import Product
from shop.errors import NotFound, ValidationError
from shop.money import Totals
from shop.orders import (
    MAX_LINES,
    MAX_QUANTITY,
    OrderLine,
    PricedLine,
    parse_items,
    price_order,
)


def item(product_id=1, quantity=1):
    return {"product_id": product_id, "quantity": quantity}


def rejected_field(raw):
    with pytest.raises(ValidationError) as caught:
        parse_items(raw)
    assert caught.value.code == "validation_error"
    assert caught.value.message
    return caught.value.details["field"]


def test_limits():
    assert (MAX_LINES, MAX_QUANTITY) == (50, 100)


def test_parses_and_sorts_by_product_id():
    lines = parse_items([item(9, 2), item(3, 1), item(5, 100)])
    assert lines == [OrderLine(3, 1), OrderLine(5, 100), OrderLine(9, 2)]


def test_accepts_the_maximum_basket():
    lines = parse_items([item(n, MAX_QUANTITY) for n in range(MAX_LINES, 0, -1)])
    assert [line.product_id for line in lines] == list(range(1, MAX_LINES + 1))


@pytest.mark.parametrize("raw", [None, {}, item(), "items", 5, True])
def test_rejects_a_non_list(raw):
    assert rejected_field(raw) == "items"


def test_rejects_an_empty_list():
    assert rejected_field([]) == "items"


def test_rejects_too_many_lines():
    assert rejected_field([item(n) for n in range(1, MAX_LINES + 2)]) == "items"


@pytest.mark.parametrize("line", [None, 5, "x", [1, 1], True])
def test_rejects_a_non_object_line(line):
    assert rejected_field([item(1), item(2), item(3), line]) == "items[3]"


@pytest.mark.parametrize(
    ("line", "field"),
    [
        ({"quantity": 1}, "items[3].product_id"),
        ({"product_id": 4}, "items[3].quantity"),
        ({}, "items[3].product_id"),
        ({**item(4), "price_cents": 1}, "items[3].price_cents"),
        ({**item(4), "note": "gift"}, "items[3].note"),
    ],
)
def test_rejects_missing_and_extra_keys(line, field):
    assert rejected_field([item(1), item(2), item(3), line]) == field


@pytest.mark.parametrize("product_id", [0, -1, True, False, 1.5, "4", None, [4]])
def test_rejects_a_bad_product_id(product_id):
    field = rejected_field([item(1), item(2), item(3), item(product_id)])
    assert field == "items[3].product_id"


@pytest.mark.parametrize("quantity", [0, MAX_QUANTITY + 1, -1, True, False, 1.5, "1", None])
def test_rejects_a_bad_quantity(quantity):
    assert rejected_field([item(1), item(2), item(3), item(4, quantity)]) == "items[3].quantity"


def test_rejects_duplicate_products():
    assert rejected_field([item(1), item(2), item(1, 5)]) == "items[2].product_id"


def test_message_names_the_problem():
    with pytest.raises(ValidationError, match=r"items\[0\]\.quantity.*1 to 100"):
        parse_items([item(1, 101)])


@dataclass(frozen=True)
class StockRecord:
    """A product-like record as another service might hold it (not a catalog.Product)."""

    id: int
    sku: str
    name: str
    price_cents: int


PRODUCTS = {
    1: Product(1, "RCK-00001", "Rack", "racks", "A rack.", 100_00, 10),
    2: StockRecord(2, "CBL-00002", "Cable", 2_49),
}


def test_price_order():
    order = price_order([OrderLine(1, 2), OrderLine(2, 3)], PRODUCTS)
    assert order.lines == (
        PricedLine(1, "RCK-00001", "Rack", 2, 100_00, 200_00),
        PricedLine(2, "CBL-00002", "Cable", 3, 2_49, 7_47),
    )
    assert order.totals == Totals(subtotal_cents=207_47, vat_cents=43_57, total_cents=251_04)


def test_price_order_names_missing_products():
    with pytest.raises(NotFound) as caught:
        price_order([OrderLine(1, 1), OrderLine(7, 1), OrderLine(3, 1)], PRODUCTS)
    assert caught.value.details == {"product_ids": [3, 7]}
