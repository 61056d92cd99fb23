"""The monolith's floor: one process, one database, the monolith's SQL (shopdata)."""

from flask import abort

from shopdata.catalog import product_summary
from shopdata.stock import StockQueries

from . import floor_app, search_page

app, pools = floor_app("monolith-floor")


@app.get("/api/products/<int:product_id>")
def product(product_id: int):
    """The product row and its stock."""
    with pools.get().connection() as conn, conn.cursor() as cur:
        found = StockQueries(cur).product_with_stock(product_id)
    if found is None:
        abort(404)
    p, available = found
    return product_summary(p) | {"description": p.description,
                                 "stock": {"available": available}}


@app.get("/api/products")
def search():
    """One page of search results."""
    return search_page(pools)
