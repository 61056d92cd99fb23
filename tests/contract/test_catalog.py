"""Browsing: categories, search, paging and one product, on every architecture."""

import pytest
import requests

from shop.seed import generate_products

SEEDED = {p.id: p for p in generate_products()}

pytestmark = pytest.mark.capability("browse")


def get(arch, path, **kw):
    return requests.get(arch.base_url + path, timeout=30, **kw)


def test_probes_answer(arch):
    assert get(arch, "/healthz").json()["status"] == "ok"
    assert get(arch, "/readyz").status_code == 200


def test_categories_cover_the_catalogue(arch):
    cats = get(arch, "/api/categories").json()["items"]
    assert len(cats) == 8
    assert sum(c["product_count"] for c in cats) == 1000
    assert {"racks", "servers", "ups"} <= {c["slug"] for c in cats}


def test_paging_walks_the_whole_category(arch):
    seen, page = [], 1
    while True:
        body = get(arch, "/api/products", params={"category": "servers", "per_page": 50,
                                                   "page": page}).json()
        seen += [p["id"] for p in body["items"]]
        if not body["items"]:
            break
        page += 1
    assert len(seen) == len(set(seen)) == body["total"] == 125


def test_search_needs_every_word(arch):
    body = get(arch, "/api/products", params={"q": "rack", "per_page": 100}).json()
    assert body["total"] > 0
    narrower = get(arch, "/api/products", params={"q": "rack enclosed"}).json()
    assert 0 < narrower["total"] < body["total"]
    assert get(arch, "/api/products", params={"q": "zzzunknownzzz"}).json()["total"] == 0


@pytest.mark.parametrize("word, category", [("rack", "racks"), ("switch", "switches"),
                                           ("server", "servers")])
def test_search_ranks_the_category_first(arch, word, category):
    # "rack" is in the names and descriptions of servers, switches, UPS units and
    # cooling too, "server" in the names of racks (product 1 is a server rack); the
    # products of the category the word names come first.
    body = get(arch, "/api/products", params={"q": word, "per_page": 50}).json()
    assert body["total"] > 10
    assert [p["category"] for p in body["items"][:10]] == [category] * 10
    # Paging follows the same order: page 2 of 10 continues page 1 of 10.
    first = get(arch, "/api/products", params={"q": word, "per_page": 10}).json()
    second = get(arch, "/api/products", params={"q": word, "per_page": 10, "page": 2}).json()
    assert [p["id"] for p in first["items"] + second["items"]] == \
        [p["id"] for p in body["items"][:20]]


def test_a_search_for_rack_lists_every_rack_before_anything_else(arch):
    # Network cabinets do not say "rack" in their name or description: their category
    # does, so the search finds them too.
    pages = [get(arch, "/api/products", params={"q": "rack", "per_page": 100, "page": n})
             .json() for n in (1, 2)]
    items = pages[0]["items"] + pages[1]["items"]
    racks = sum(1 for p in SEEDED.values() if p.category == "racks")
    assert pages[0]["total"] > racks
    assert {p["category"] for p in items[:racks]} == {"racks"}
    assert items[racks]["category"] != "racks"


def test_without_words_products_are_in_id_order(arch):
    body = get(arch, "/api/products", params={"category": "racks", "per_page": 10}).json()
    assert [p["id"] for p in body["items"]] == [1 + 8 * i for i in range(10)]


def test_unknown_category_is_an_empty_page(arch):
    body = get(arch, "/api/products", params={"category": "toasters"}).json()
    assert body == {"items": [], "page": 1, "per_page": 20, "total": 0}


@pytest.mark.parametrize("params", [{"page": "0"}, {"page": "x"}, {"per_page": "101"},
                                    {"q": "x" * 101}, {"q": "a\x00b"}])
def test_bad_query_parameters_are_422(arch, params):
    resp = get(arch, "/api/products", params=params)
    assert resp.status_code == 422
    assert resp.json()["error"] == "validation_error"


def test_product_has_stock(arch):
    body = get(arch, "/api/products/17").json()
    assert body["id"] == 17 and body["currency"] == "EUR"
    assert body["stock"] == {"available": SEEDED[17].initial_stock, "status": "in_stock"}
    assert 20 <= SEEDED[17].initial_stock <= 400


def test_missing_product_is_404_json(arch):
    resp = get(arch, "/api/products/99999")
    assert resp.status_code == 404
    assert resp.json()["error"] == "not_found"


def test_unknown_path_and_method_are_json_errors(arch):
    assert get(arch, "/api/nothing-here").json()["error"] == "not_found"
    resp = requests.delete(arch.base_url + "/api/products", timeout=30)
    assert resp.status_code == 405
    assert resp.json()["error"] == "method_not_allowed"
    assert "GET" in resp.headers["Allow"]
