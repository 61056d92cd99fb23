"""Load the deterministic shop seed (shop.seed) into whichever tables a database has."""

from collections.abc import Callable

import psycopg2
from psycopg2.extras import execute_values

from shop.catalog import CATEGORIES
from shop.seed import generate_customers, generate_products


def load_catalogue(cur) -> None:
    """Categories and products."""
    execute_values(cur, "INSERT INTO categories (slug, name, position) VALUES %s",
                   [(slug, name, i) for i, (slug, name) in enumerate(CATEGORIES)])
    execute_values(
        cur, "INSERT INTO products (id, sku, name, category, description, price_cents) VALUES %s",
        [(p.id, p.sku, p.name, p.category, p.description, p.price_cents)
         for p in generate_products()], page_size=1000)


def load_customers(cur) -> None:
    """Customers with their (shared, precomputed) password hash."""
    execute_values(cur, "INSERT INTO customers (id, email, name, password_hash) VALUES %s",
                   [(c.id, c.email, c.name, c.password_hash) for c in generate_customers()])


def load_stock(cur, *, with_reserved: bool) -> None:
    """Every product's initial stock, all of it available."""
    products = generate_products()
    if with_reserved:
        execute_values(
            cur, "INSERT INTO stock (product_id, initial, available, reserved, sold) VALUES %s",
            [(p.id, p.initial_stock, p.initial_stock, 0, 0) for p in products], page_size=1000)
    else:
        execute_values(
            cur, "INSERT INTO stock (product_id, initial, available, sold) VALUES %s",
            [(p.id, p.initial_stock, p.initial_stock, 0) for p in products], page_size=1000)


# Either architecture's stock table (the monolith's, the inventory service's): available
# goes up to the level and initial with it, so initial = available (+ reserved) + sold
# still holds; what was sold or is reserved stays as it is. One statement per table.
RESTOCK_SQL = ("UPDATE stock SET initial = initial - available + %(level)s,"
               " available = %(level)s WHERE available < %(level)s")


def restock(dsn: str, level: int) -> int:
    """Raise every product's available stock to at least `level`; how many rows rose."""
    conn = psycopg2.connect(dsn)
    try:
        with conn, conn.cursor() as cur:
            cur.execute(RESTOCK_SQL, {"level": level})
            return cur.rowcount
    finally:
        conn.close()


def reseed(dsn: str, tables: tuple[str, ...], loaders: list[Callable], *,
           restart_ids: bool = True) -> None:
    """Truncate `tables` and run the `loaders` (each takes a cursor) in one transaction,
    then refresh the planner's statistics so plans are the same right after a reseed.

    `restart_ids=False` keeps the id sequences going, for ids that other services or
    people may still hold after the reset (an order id in a tombstone, an e-mail's id)."""
    conn = psycopg2.connect(dsn)
    try:
        with conn, conn.cursor() as cur:
            restart = " RESTART IDENTITY" if restart_ids else ""
            cur.execute(f"TRUNCATE {', '.join(tables)}{restart}")
            for load in loaders:
                load(cur)
        conn.autocommit = True
        with conn.cursor() as cur:
            cur.execute("ANALYZE")
    finally:
        conn.close()
