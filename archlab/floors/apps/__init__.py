"""Floors: the least a web app can do here to answer the same requests.

A floor runs the identical SQL (shopdata, the queries the architectures run) on the same
pool under the same gunicorn configuration (plumbing), with the same number of HTTP hops
and the same inter-service client and service tokens (microservices.common), but with no
service layer, no validation, no error handling and no logging. What an architecture
loses against its floor is the cost of its own code; what is left is this machine's limit
for that shape of system.

These modules may import only shopdata, plumbing, microservices.common, flask and the
standard library (tests/unit/test_floor_imports.py): never an architecture's own code.
"""

import os

from flask import Flask, request

from plumbing.db import PoolHolder
from shopdata.catalog import CatalogQueries, product_summary

SEARCH_PAGE = 20


def floor_app(name: str) -> tuple[Flask, PoolHolder | None]:
    """A bare Flask app with a readiness probe and, given DATABASE_URL, a pool."""
    app = Flask(name)
    dsn = os.environ.get("DATABASE_URL", "")
    pools = PoolHolder(dsn, int(os.environ.get("WEB_THREADS", "8")), name) if dsn else None

    @app.get("/readyz")
    def readyz():
        return {"status": "ok" if pools is None or pools.get().ping() else "unavailable"}

    return app, pools


def search_page(pools) -> dict:
    """One page of search results (?q=) with the shared SQL: what both floors serve."""
    with pools.get().connection() as conn, conn.cursor() as cur:
        rows, total = CatalogQueries(cur).search(request.args.get("q"), None, SEARCH_PAGE, 0)
    return {"items": [product_summary(p) for p in rows], "total": total}
