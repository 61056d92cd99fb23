"""The microservices' floor: a gateway hop to a catalog and an inventory, each on its own
database with the services' SQL (shopdata), called in parallel with the services' client.

Three apps: `gateway_app`, `catalog_app`, `inventory_app` (one gunicorn master each).
"""

import os
import threading
from concurrent.futures import ThreadPoolExecutor

from flask import abort, request

from microservices.common.client import ServiceClient
from microservices.common.security import service_token_key
from shopdata.catalog import CatalogQueries, product_summary
from shopdata.stock import StockQueries

from . import floor_app, search_page

THREADS = int(os.environ.get("WEB_THREADS", "8"))

catalog_app, catalog_pools = floor_app("catalog-floor")
inventory_app, inventory_pools = floor_app("inventory-floor")
gateway_app, _ = floor_app("gateway-floor")


@catalog_app.get("/internal/products/<int:product_id>")
def catalog_product(product_id: int):
    with catalog_pools.get().connection() as conn, conn.cursor() as cur:
        p = CatalogQueries(cur).get(product_id)
    if p is None:
        abort(404)
    return product_summary(p) | {"description": p.description}


@catalog_app.get("/internal/products")
def catalog_search():
    return search_page(catalog_pools)


@inventory_app.get("/internal/stock/<int:product_id>")
def inventory_stock(product_id: int):
    with inventory_pools.get().connection() as conn, conn.cursor() as cur:
        row = StockQueries(cur).inventory_row(product_id)
    if row is None:
        abort(404)
    return {"product_id": row[0], "available": row[2]}


class _Clients:
    """Per-process clients (connection pools are never shared across a fork)."""

    lock = threading.Lock()
    pid = None

    @classmethod
    def get(cls):
        if cls.pid != os.getpid():
            with cls.lock:
                if cls.pid != os.getpid():
                    key = service_token_key(os.environ.get("ARCHLAB_SECRET_KEY", "floor"))
                    cls.catalog = ServiceClient("gateway", "catalog", os.environ["CATALOG_URL"],
                                                key, threads=THREADS)
                    cls.inventory = ServiceClient("gateway", "inventory",
                                                  os.environ["INVENTORY_URL"], key,
                                                  threads=THREADS)
                    cls.executor = ThreadPoolExecutor(max_workers=THREADS)
                    cls.pid = os.getpid()
        return cls


@gateway_app.get("/api/products/<int:product_id>")
def gateway_product(product_id: int):
    c = _Clients.get()
    stock = c.executor.submit(c.inventory.get, "/internal/stock/{product_id}",
                              product_id=product_id)
    item = c.catalog.get("/internal/products/{product_id}", product_id=product_id)
    if item.status != 200:
        abort(item.status)
    return item.body | {"stock": {"available": stock.result().body.get("available")}}


@gateway_app.get("/api/products")
def gateway_search():
    reply = _Clients.get().catalog.get("/internal/products", query={"q": request.args.get("q")})
    return reply.body
