"""The command every database package runs as `python -m <package>.seed`: create the
package's tables (--schema), load its seed, or raise its stock (--restock MIN), on the
database DATABASE_URL names.

Each seed module ends with a call of `main` giving its own name, schema file, reseed
function and, where its database holds the shop's stock table, its restock function. The
lab's local platform runs these commands, and so does a one-shot container per database,
so both prepare a database the same way.

Exit codes: 0 done, 1 failed (no DATABASE_URL, the database unreachable, a statement
refused), 2 a usage error. A failure is one line on stderr, never a traceback.
"""

import argparse
import os
import sys
import time
from collections.abc import Callable, Sequence
from contextlib import closing
from pathlib import Path

import psycopg2

USAGE = 2
FAILED = 1
# How long a connection attempt may take before the command gives up: an address that
# swallows packets would otherwise hang it for minutes (libpq's default is no limit).
CONNECT_TIMEOUT_SECONDS = "10"


# Whether the database has tables already: a schema is applied in one transaction, so
# any table means all of them (a command restarted after it applied the schema).
HAS_TABLES = ("SELECT EXISTS (SELECT 1 FROM information_schema.tables"
              " WHERE table_schema = current_schema())")


def apply_schema(dsn: str, schema: Path) -> bool:
    """Run the SQL file `schema` in one transaction unless the database has tables
    already; whether it ran."""
    text = schema.read_text()
    with closing(psycopg2.connect(dsn)) as conn:
        with conn, conn.cursor() as cur:
            cur.execute(HAS_TABLES)
            if cur.fetchone()[0]:
                return False
            cur.execute(text)
    return True


def command_name() -> str:
    """How this command was run, for its usage line: `python -m <module>` when run so."""
    spec = getattr(sys.modules["__main__"], "__spec__", None)
    return f"python -m {spec.name}" if spec else os.path.basename(sys.argv[0])


def parser(name: str) -> argparse.ArgumentParser:
    """The command line every seed command takes."""
    parse = argparse.ArgumentParser(
        prog=command_name(),
        description=f"Seed the {name} database that DATABASE_URL names: empty its tables "
                    "and load the deterministic seed.")
    action = parse.add_mutually_exclusive_group()
    action.add_argument("--schema", action="store_true",
                        help="create the tables first (skipped when the database has "
                             "tables already)")
    action.add_argument("--restock", metavar="MIN", type=non_negative,
                        help="instead of seeding, raise every product's available stock "
                             "to at least MIN units (sold and reserved stay)")
    return parse


def non_negative(text: str) -> int:
    """A whole number >= 0, for argparse."""
    try:
        number = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if number < 0:
        raise argparse.ArgumentTypeError(f"{number} is below 0")
    return number


def one_line(exc: BaseException) -> str:
    """An error's message on one line (libpq's span several, with tabs)."""
    return " ".join(str(exc).split()) or type(exc).__name__


def main(argv: Sequence[str] | None = None, *, name: str, schema: Path,
         reseed: Callable[[str], None],
         restock: Callable[[str, int], int] | None = None) -> int:
    """Run the seed command of database `name` (see the module docstring); its exit code."""
    args = parser(name).parse_args(argv)
    if args.restock is not None and restock is None:
        print(f"{name}: --restock refused: the {name} database holds no stock table",
              file=sys.stderr)
        return USAGE
    dsn = os.environ.get("DATABASE_URL")
    if not dsn:
        print(f"{name}: DATABASE_URL is not set; give it the database's URL, e.g. "
              "postgresql://ROLE:PASSWORD@HOST:PORT/DATABASE", file=sys.stderr)
        return FAILED
    os.environ.setdefault("PGCONNECT_TIMEOUT", CONNECT_TIMEOUT_SECONDS)
    started = time.monotonic()
    try:
        if args.restock is not None:
            raised = restock(dsn, args.restock)
            done = f"restocked {raised} products to at least {args.restock} units"
        else:
            done = "seeded"
            if args.schema:
                done = ("schema applied, seeded" if apply_schema(dsn, schema) else
                        "schema already there (the database has tables), not applied "
                        "again; seeded")
            reseed(dsn)
    except (psycopg2.Error, OSError) as exc:
        print(f"{name}: failed: {one_line(exc)}", file=sys.stderr)
        return FAILED
    print(f"{name}: {done} in {time.monotonic() - started:.1f} s")
    return 0
