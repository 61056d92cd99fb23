"""The floor: the least any web app can do to answer `GET /api/products/{id}` here.

A bare Flask app running the monolith's own SQL (its ProductRepository) on the same
pool and under the same gunicorn configuration, with no service layer, no unit of
work and no error handling. What the monolith loses against it is the cost of its
tiers; what is left is this machine's limit.
"""

import os

from flask import Flask, abort

from monolith.data.repositories import ProductRepository
from plumbing.db import PoolHolder

app = Flask(__name__)
pools = PoolHolder(os.environ.get("DATABASE_URL", ""), int(os.environ.get("WEB_THREADS", "8")),
                   "floor")


@app.get("/readyz")
def readyz():
    """Ready when the database answers."""
    return {"status": "ok" if pools.get().ping() else "unavailable"}


@app.get("/api/products/<int:product_id>")
def product(product_id: int):
    """The product row and its stock, as plain JSON."""
    with pools.get().connection() as conn, conn.cursor() as cur:
        found = ProductRepository(cur).get_with_stock(product_id)
    if found is None:
        abort(404)
    p, available = found
    return {"id": p.id, "sku": p.sku, "name": p.name, "category": p.category,
            "description": p.description, "price_cents": p.price_cents,
            "currency": "EUR", "stock": {"available": available}}
