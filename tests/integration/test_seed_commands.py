"""Each database package's seed command (`python -m <package>.seed`, plumbing.seedcli) on
fresh databases of a throwaway cluster, run as the local platform and a one-shot container
run it: a subprocess given DATABASE_URL."""

import os
import subprocess
import sys
from contextlib import closing

import psycopg2
import pytest

from archlab.config import project_root
from shop.seed import CUSTOMER_COUNT, PRODUCT_COUNT
from tests.integration.servicekit import bare_server

# Each seed package, its name in its messages, and a table it fills with so many rows
# (0: the package only empties its tables, there is nothing to load).
PACKAGES = {
    "monolith.data.seed": ("monolith", "products", PRODUCT_COUNT),
    "microservices.accounts.seed": ("accounts", "customers", CUSTOMER_COUNT),
    "microservices.catalog.seed": ("catalog", "products", PRODUCT_COUNT),
    "microservices.inventory.seed": ("inventory", "stock", PRODUCT_COUNT),
    "microservices.payments.seed": ("payments", "payments", 0),
    "microservices.notifications.seed": ("notifications", "messages", 0),
    "microservices.invoices.seed": ("invoices", "invoices", 0),
    "microservices.orders.seed": ("orders", "orders", 0),
    "cardprocessor.seed": ("cardprocessor", "charges", 0),
}


@pytest.fixture(scope="module")
def cluster():
    yield from bare_server()


@pytest.fixture
def fresh(cluster, request):
    """A fresh, empty database (and its own role) named after the test."""
    name = "seed_" + request.node.name.split("[")[-1].rstrip("]").replace(".", "_")[-40:]
    return cluster.create_database(name, name, "seed-pw")


def seed(module: str, *args: str, dsn: str | None) -> subprocess.CompletedProcess:
    """Run `python -m module ARGS` with DATABASE_URL=`dsn` (unset when None)."""
    env = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"}
    if dsn is not None:
        env["DATABASE_URL"] = dsn
    return subprocess.run([sys.executable, "-m", module, *args], env=env, cwd=project_root(),
                          capture_output=True, text=True, timeout=60)


def query(dsn: str, statement: str) -> tuple:
    with closing(psycopg2.connect(dsn, connect_timeout=5)) as conn, conn.cursor() as cur:
        cur.execute(statement)
        return cur.fetchone()


def assert_one_line_failure(result: subprocess.CompletedProcess, code: int) -> str:
    assert result.returncode == code, result
    assert "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert result.stdout == ""
    return result.stderr.strip()


@pytest.mark.timeout(60)
@pytest.mark.parametrize("module", list(PACKAGES))
def test_schema_then_seed_on_a_fresh_database_and_again(fresh, module):
    name, table, rows = PACKAGES[module]

    first = seed(module, "--schema", dsn=fresh)

    assert first.returncode == 0, first.stderr
    assert first.stdout.startswith(f"{name}: schema applied, seeded in ")
    assert first.stderr == ""
    assert query(fresh, f"SELECT count(*) FROM {table}") == (rows,)

    # A one-shot container restarted on failure runs it again on the same database.
    again = seed(module, "--schema", dsn=fresh)

    assert again.returncode == 0, again.stderr
    assert again.stdout.startswith(f"{name}: schema already there")
    assert len(again.stdout.splitlines()) == 1
    assert query(fresh, f"SELECT count(*) FROM {table}") == (rows,)


@pytest.mark.timeout(60)
def test_without_schema_it_reseeds_what_changed(fresh):
    module = "microservices.catalog.seed"
    assert seed(module, "--schema", dsn=fresh).returncode == 0
    with closing(psycopg2.connect(fresh)) as conn, conn, conn.cursor() as cur:
        cur.execute("DELETE FROM products WHERE id > 10")

    result = seed(module, dsn=fresh)

    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("catalog: seeded in ")
    assert query(fresh, "SELECT count(*) FROM products") == (PRODUCT_COUNT,)


@pytest.mark.timeout(60)
def test_restock_raises_the_inventorys_stock_and_keeps_what_was_sold(fresh):
    module = "microservices.inventory.seed"
    assert seed(module, "--schema", dsn=fresh).returncode == 0
    with closing(psycopg2.connect(fresh)) as conn, conn, conn.cursor() as cur:
        cur.execute("UPDATE stock SET available = available - 3, sold = 3 WHERE product_id = 1")
    low = query(fresh, "SELECT count(*) FROM stock WHERE available < 1000")[0]

    result = seed(module, "--restock", "1000", dsn=fresh)

    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith(f"inventory: restocked {low} products to at least 1000 "
                                    "units in ")
    assert query(fresh, "SELECT min(available) FROM stock") == (1000,)
    assert query(fresh, "SELECT count(*) FROM stock "
                        "WHERE initial <> available + reserved + sold") == (0,)
    assert query(fresh, "SELECT sold FROM stock WHERE product_id = 1") == (3,)


@pytest.mark.timeout(60)
def test_restock_is_refused_where_there_is_no_stock_table(fresh):
    assert seed("microservices.catalog.seed", "--schema", dsn=fresh).returncode == 0

    result = seed("microservices.catalog.seed", "--restock", "1000", dsn=fresh)

    line = assert_one_line_failure(result, 2)
    assert line == "catalog: --restock refused: the catalog database holds no stock table"
    assert query(fresh, "SELECT count(*) FROM products") == (PRODUCT_COUNT,)


@pytest.mark.timeout(60)
@pytest.mark.parametrize("dsn, says", [
    ("postgresql://nobody:pw@127.0.0.1:1/nothing", "Connection refused"),
    ("not a url", "invalid dsn"),
])
def test_a_bad_database_url_is_one_line_and_exit_1(dsn, says):
    line = assert_one_line_failure(seed("microservices.orders.seed", "--schema", dsn=dsn), 1)
    assert line.startswith("orders: failed: ") and says in line
    assert "pw@" not in line  # the URL's password is not repeated


@pytest.mark.timeout(60)
def test_no_database_url_is_one_line_and_exit_1():
    line = assert_one_line_failure(seed("cardprocessor.seed", dsn=None), 1)
    assert line.startswith("cardprocessor: DATABASE_URL is not set")


@pytest.mark.timeout(60)
def test_a_failing_statement_is_one_line_and_exit_1(fresh):
    # Without --schema on an empty database: the TRUNCATE finds no table.
    line = assert_one_line_failure(seed("monolith.data.seed", dsn=fresh), 1)
    assert line.startswith("monolith: failed: ") and "does not exist" in line
