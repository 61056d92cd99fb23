import re
from collections import Counter

from shop.catalog import CATEGORIES, Product
from shop.passwords import check_password
from shop.seed import (
    CUSTOMER_COUNT,
    LOADTEST_PASSWORD,
    LOW_STOCK_UNITS,
    PRODUCT_COUNT,
    SEED,
    STOCK_UNITS,
    generate_customers,
    generate_products,
)

PRODUCTS = generate_products()
CUSTOMERS = generate_customers()


def test_categories():
    slugs = [slug for slug, _ in CATEGORIES]
    assert slugs == [
        "racks", "servers", "switches", "routers", "storage", "ups", "cables", "cooling",
    ]  # fmt: skip
    assert dict(CATEGORIES)["ups"] == "UPS units"


def test_products_are_deterministic():
    assert generate_products() == PRODUCTS


def test_first_product_is_pinned():
    # Pinned so any change to the seed (or a platform difference) is noticed: every
    # benchmark and every database depends on this exact data.
    assert PRODUCTS[0] == Product(
        id=1,
        sku="RCK-00001",
        name="Northwind 24U Enclosed Server Rack",
        category="racks",
        description=PRODUCTS[0].description,
        price_cents=72799,
        initial_stock=64,
    )


def test_smaller_seed_is_a_prefix():
    assert generate_products(16) == PRODUCTS[:16]


def test_product_counts_and_ids():
    assert len(PRODUCTS) == PRODUCT_COUNT == 1000
    assert [p.id for p in PRODUCTS] == list(range(1, PRODUCT_COUNT + 1))


def test_categories_are_even():
    counts = Counter(p.category for p in PRODUCTS)
    assert counts == {slug: PRODUCT_COUNT // len(CATEGORIES) for slug, _ in CATEGORIES}


def test_skus_are_unique_and_well_formed():
    assert len({p.sku for p in PRODUCTS}) == len(PRODUCTS)
    assert all(re.fullmatch(r"[A-Z]{3}-\d{5}", p.sku) for p in PRODUCTS)


def test_products_have_text():
    for product in PRODUCTS:
        assert product.name and product.description.endswith(".")


def test_stock_is_a_shelf_of_tens_to_hundreds_with_a_few_nearly_gone():
    stock = [p.initial_stock for p in PRODUCTS]
    low = [units for units in stock if units < STOCK_UNITS[0]]
    assert STOCK_UNITS == (20, 400) and LOW_STOCK_UNITS == (1, 9)
    assert all(LOW_STOCK_UNITS[0] <= units <= STOCK_UNITS[1] for units in stock)
    assert all(units <= LOW_STOCK_UNITS[1] for units in low)
    # A few, not none and not many; and the rest spread over the range, not one figure.
    assert 5 <= len(low) <= 40
    assert len(set(stock)) > 300 and max(stock) > 350 and min(s for s in stock if s >= 20) < 30


def test_stock_is_deterministic_and_apart_from_names_and_prices():
    # The stock has a random stream of its own: the same on every call, and the names
    # and prices are the ones pinned above whatever the stock rule draws.
    assert [p.initial_stock for p in generate_products()] == [p.initial_stock for p in PRODUCTS]
    assert [p.initial_stock for p in PRODUCTS[:8]] == [64, 128, 287, 186, 43, 249, 210, 105]


def test_prices_are_realistic_integer_cents():
    assert all(type(p.price_cents) is int and p.price_cents > 0 for p in PRODUCTS)
    by_category = {
        slug: [p.price_cents for p in PRODUCTS if p.category == slug] for slug, _ in CATEGORIES
    }
    assert max(by_category["cables"]) < 200_00
    assert min(by_category["servers"]) > 1_000_00
    assert max(by_category["cables"]) < min(by_category["racks"])


def test_customers_are_deterministic():
    assert generate_customers() == CUSTOMERS


def test_customer_counts_and_emails():
    assert len(CUSTOMERS) == CUSTOMER_COUNT == 100
    assert [c.id for c in CUSTOMERS] == list(range(1, CUSTOMER_COUNT + 1))
    assert [c.email for c in CUSTOMERS] == [
        f"customer{n}@rackshop.test" for n in range(1, CUSTOMER_COUNT + 1)
    ]
    assert all(re.fullmatch(r"\S+ \S.*", c.name) for c in CUSTOMERS)


def test_customers_share_one_hash_of_the_loadtest_password():
    hashes = {c.password_hash for c in CUSTOMERS}
    assert len(hashes) == 1
    (password_hash,) = hashes
    assert password_hash.startswith(f"scrypt:32768:8:1$rackshop{SEED}$")
    assert LOADTEST_PASSWORD == "rackshop"
    assert check_password(password_hash, LOADTEST_PASSWORD)
    assert not check_password(password_hash, "wrong")
