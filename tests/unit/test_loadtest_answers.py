from pathlib import Path

from loadtests import answers

MACROS = Path(__file__).parents[2] / "webui" / "templates" / "_macros.html"


def test_a_product_without_a_stock_figure_is_degraded():
    assert answers.product_degraded({"id": 7, "stock": {"available": None,
                                                        "status": "unknown"}})
    assert not answers.product_degraded({"id": 7, "stock": {"available": 0,
                                                            "status": "out_of_stock"}})
    assert not answers.product_degraded({"id": 7, "stock": {"available": 12,
                                                            "status": "in_stock"}})


def test_the_page_marker_is_what_the_template_shows():
    # If the template's wording changes, the generator must not silently stop counting.
    assert answers.STOCK_UNKNOWN in MACROS.read_text()
    assert answers.page_degraded(f'<span id="stock">{answers.STOCK_UNKNOWN}</span>')
    assert not answers.page_degraded('<span id="stock">In stock: 12</span>')
