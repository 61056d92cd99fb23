"""Empty the card processor's database: a run starts with no charges on record."""

import psycopg2


def reseed(dsn: str) -> None:
    """Remove every charge (tombstones included), in one transaction."""
    conn = psycopg2.connect(dsn, connect_timeout=5)
    try:
        with conn, conn.cursor() as cur:
            cur.execute("TRUNCATE charges")
    finally:
        conn.close()
