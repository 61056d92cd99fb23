"""Load the shared shop seed into the monolith's database (truncate, then bulk load)."""

import psycopg2
from psycopg2.extras import execute_values

from shop.catalog import CATEGORIES
from shop.seed import generate_customers, generate_products

TABLES = ("mailbox", "print_spool", "invoices", "idempotency_keys", "payments",
          "order_lines", "orders", "stock", "customers", "products", "categories")


def reseed(dsn: str) -> None:
    """Empty every table and load the deterministic seed, in one transaction."""
    products = generate_products()
    customers = generate_customers()
    conn = psycopg2.connect(dsn)
    try:
        with conn, conn.cursor() as cur:
            cur.execute(f"TRUNCATE {', '.join(TABLES)} RESTART IDENTITY")
            execute_values(cur, "INSERT INTO categories (slug, name, position) VALUES %s",
                           [(slug, name, i) for i, (slug, name) in enumerate(CATEGORIES)])
            execute_values(
                cur,
                "INSERT INTO products (id, sku, name, category, description, price_cents)"
                " VALUES %s",
                [(p.id, p.sku, p.name, p.category, p.description, p.price_cents)
                 for p in products], page_size=1000)
            execute_values(cur, "INSERT INTO stock (product_id, initial, available, sold)"
                                " VALUES %s",
                           [(p.id, p.initial_stock, p.initial_stock, 0) for p in products],
                           page_size=1000)
            execute_values(cur, "INSERT INTO customers (id, email, name, password_hash)"
                                " VALUES %s",
                           [(c.id, c.email, c.name, c.password_hash) for c in customers])
        # Fresh statistics so the planner picks the same plans right after a reseed.
        conn.autocommit = True
        with conn.cursor() as cur:
            cur.execute("ANALYZE")
    finally:
        conn.close()
