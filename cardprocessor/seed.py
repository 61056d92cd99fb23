"""Empty the card processor's database: a run starts with no charges on record.

`python -m cardprocessor.seed [--schema]` runs it on DATABASE_URL (plumbing.seedcli).
"""

from pathlib import Path

import psycopg2

from plumbing.seedcli import main


def reseed(dsn: str) -> None:
    """Remove every charge (tombstones included), in one transaction."""
    conn = psycopg2.connect(dsn, connect_timeout=5)
    try:
        with conn, conn.cursor() as cur:
            cur.execute("TRUNCATE charges")
    finally:
        conn.close()


if __name__ == "__main__":
    raise SystemExit(main(name="cardprocessor", schema=Path(__file__).with_name("schema.sql"),
                          reseed=reseed))
