"""Browsing in a real browser: catalogue, search, categories, paging, product, cart."""

import pytest
from selenium.webdriver.common.by import By

from shop.money import VAT_PERCENT, format_eur, totals
from shop.seed import PRODUCT_COUNT, generate_products

pytestmark = [pytest.mark.slow, pytest.mark.timeout(120), pytest.mark.capability("browse")]

PRODUCTS = {p.id: p for p in generate_products()}
PER_PAGE = 20


def card_ids(shop) -> list[int]:
    return [int(c.get_attribute("data-product-id")) for c in shop.find_all(".product-card")]


def test_catalogue_search_categories_paging(arch, shop):
    shop.open("/")
    shop.shot("home")
    assert card_ids(shop) == list(range(1, PER_PAGE + 1))
    assert shop.text("#page-info") == f"Page 1 of {-(-PRODUCT_COUNT // PER_PAGE)}"
    first = shop.find(".product-card").text
    assert PRODUCTS[1].name in first and PRODUCTS[1].sku in first
    assert f"{format_eur(PRODUCTS[1].price_cents)} excl. VAT" in first

    wanted = PRODUCTS[12]
    shop.type(".search input[name=q]", wanted.name)
    shop.click_and_wait(".search button")
    shop.shot("search")
    found = card_ids(shop)
    assert 12 in found
    assert int(shop.text("#result-count").split()[0]) < PRODUCT_COUNT

    shop.click_and_wait('#categories a[data-slug="cables"]')
    shop.shot("category")
    cables = [p.id for p in PRODUCTS.values() if p.category == "cables"]
    assert shop.text("#result-count") == f"{len(cables)} products"
    assert card_ids(shop) == cables[:PER_PAGE]
    assert all(c.find_element(By.CSS_SELECTOR, ".chip").text == "Cables"
               for c in shop.find_all(".product-card"))

    shop.click_and_wait("#next-page")
    shop.shot("category-page-2")
    assert card_ids(shop) == cables[PER_PAGE:2 * PER_PAGE]
    assert shop.text("#page-info") == f"Page 2 of {-(-len(cables) // PER_PAGE)}"
    shop.click_and_wait("#prev-page")
    assert card_ids(shop) == cables[:PER_PAGE]


def test_product_page_and_cart(arch, shop):
    arch.set_stock(7, 9)
    arch.set_stock(8, 0)
    product = PRODUCTS[7]
    shop.open("/")
    shop.click_and_wait('.product-card[data-product-id="7"] a')
    shop.shot("product")
    assert shop.path == "/products/7"
    assert shop.text("#product-name") == product.name
    assert shop.text("#stock") == "Only 9 left"  # few enough to say so
    assert shop.text("#price-net") == f"{format_eur(product.price_cents)} excl. VAT"
    gross = totals(product.price_cents).total_cents
    assert shop.text("#price-gross") == f"{format_eur(gross)} incl. {VAT_PERCENT}% VAT"

    shop.type("#quantity", "2")
    shop.click_and_wait("#add-to-cart")
    shop.shot("cart")
    assert shop.path == "/cart"
    assert f"Added 2 × {product.name}" in shop.alerts()
    line = shop.find('.cart-line[data-product-id="7"]')
    assert product.name in line.text
    assert line.find_element(By.CSS_SELECTOR, ".qty").get_attribute("value") == "2"
    assert shop.text(".cart-line .line-total") == format_eur(2 * product.price_cents)
    expected = totals(2 * product.price_cents)
    assert shop.text("#subtotal") == format_eur(expected.subtotal_cents)
    assert shop.text("#vat") == format_eur(expected.vat_cents)
    assert shop.text("#total") == format_eur(expected.total_cents)
    assert shop.text("#cart-count") == "2"

    shop.open("/products/8")
    shop.shot("product-out-of-stock")
    assert shop.text("#stock") == "Out of stock"
    assert not shop.find("#add-to-cart").is_enabled()
