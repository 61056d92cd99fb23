"""The pages for people, the same on every architecture: stock wording, search order,
paging past the end, the icon and the security headers."""

import re

import pytest
import requests

from shop.seed import STOCK_UNITS, generate_products
from webui.rendering import LOW_STOCK

pytestmark = pytest.mark.capability("browse")

SEEDED = {p.id: p for p in generate_products()}
PER_PAGE = 20
PAGES = -(-len(SEEDED) // PER_PAGE)


def page(arch, path: str, **kw) -> requests.Response:
    resp = requests.get(arch.base_url + path, timeout=30, **kw)
    assert resp.status_code == 200, resp.text[:500]
    assert resp.headers["Content-Type"].startswith("text/html")
    return resp


def stock_text(arch, product_id: int) -> str:
    html = page(arch, f"/products/{product_id}").text
    return re.search(r'id="stock">([^<]*)<', html).group(1)


def card_ids(html: str) -> list[int]:
    return [int(i) for i in re.findall(r'class="product-card" data-product-id="(\d+)"', html)]


def test_a_product_page_shows_its_seeded_stock(arch):
    units = SEEDED[17].initial_stock
    assert STOCK_UNITS[0] <= units <= STOCK_UNITS[1]
    assert stock_text(arch, 17) == f"In stock: {units}"
    assert "1000000" not in page(arch, "/products/17").text


def test_a_seeded_product_that_is_nearly_gone_says_so(arch):
    low = next(p for p in SEEDED.values() if p.initial_stock <= LOW_STOCK)
    assert stock_text(arch, low.id) == f"Only {low.initial_stock} left"


@pytest.mark.parametrize("units, text", [(3, "Only 3 left"), (LOW_STOCK, f"Only {LOW_STOCK} left"),
                                         (LOW_STOCK + 1, f"In stock: {LOW_STOCK + 1}"),
                                         (0, "Out of stock")])
def test_the_stock_wording_follows_the_units_left(arch, units, text):
    arch.set_stock(17, units)
    assert stock_text(arch, 17) == text


def test_the_search_page_lists_the_best_matches_first(arch):
    api = requests.get(arch.base_url + "/api/products", params={"q": "rack"}, timeout=30).json()
    ids = card_ids(page(arch, "/", params={"q": "rack"}).text)
    assert ids == [p["id"] for p in api["items"]]
    assert {SEEDED[i].category for i in ids[:10]} == {"racks"}


def test_a_page_past_the_last_says_which_page_it_is_and_the_way_back(arch):
    html = page(arch, "/", params={"page": 999}).text
    assert f"Page 999 of {PAGES} — there are no products on this page" in html
    assert f'href="/?page={PAGES}"' in html and 'id="first-page"' in html
    assert "No products found" not in html
    assert card_ids(html) == []


def test_a_category_page_past_its_last_page(arch):
    racks = sum(1 for p in SEEDED.values() if p.category == "racks")
    pages = -(-racks // PER_PAGE)
    html = page(arch, "/", params={"category": "racks", "page": pages + 2}).text
    assert f"Page {pages + 2} of {pages} — there are no products on this page" in html
    assert f"{racks} products on {pages} pages" in html


def test_the_pager_says_page_n_of_m(arch):
    html = page(arch, "/", params={"page": 2}).text
    assert re.search(rf'id="page-info">Page 2 of {PAGES}<', html)
    assert card_ids(html) == list(range(PER_PAGE + 1, 2 * PER_PAGE + 1))


def test_a_search_without_matches_is_not_a_page_past_the_end(arch):
    html = page(arch, "/", params={"q": "zzzunknownzzz", "page": 3}).text
    assert "No products found" in html and "there are no products on this page" not in html


def test_the_icon_is_served_and_linked(arch):
    icon = requests.get(arch.base_url + "/favicon.ico", timeout=30)
    assert icon.status_code == 200
    assert icon.headers["Content-Type"].startswith("image/svg+xml")
    assert icon.text.lstrip().startswith("<svg")
    svg = requests.get(arch.base_url + "/static/shop/favicon.svg", timeout=30)
    assert svg.status_code == 200 and svg.content == icon.content
    assert '<link rel="icon" type="image/svg+xml" href="/static/shop/favicon.svg">' in \
        page(arch, "/").text


@pytest.mark.parametrize("path", ["/", "/?q=rack", "/products/17", "/login", "/cart",
                                  "/nothing-here"])
def test_every_page_carries_the_security_headers(arch, path):
    resp = requests.get(arch.base_url + path, timeout=30)
    assert resp.status_code == (404 if path == "/nothing-here" else 200)
    policy = resp.headers["Content-Security-Policy"]
    assert "frame-ancestors 'none'" in policy and "default-src 'self'" in policy
    assert resp.headers["X-Content-Type-Options"] == "nosniff"
    assert resp.headers["Referrer-Policy"] == "strict-origin-when-cross-origin"


def test_the_api_answers_are_not_sniffed_either(arch):
    resp = requests.get(arch.base_url + "/api/products", timeout=30)
    assert resp.headers["X-Content-Type-Options"] == "nosniff"
