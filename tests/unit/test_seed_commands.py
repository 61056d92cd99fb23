"""The seed commands (plumbing.seedcli) without a database: their answers to a usage error,
a missing DATABASE_URL and a failing seed; that every database of both stacks names one;
and how the local platform runs them (tests/integration/test_seed_commands.py runs them on
real databases)."""

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import psycopg2
import pytest

from archlab import config
from archlab.errors import LabError
from archlab.platforms import local
from archlab.platforms.local import HOST_VARIABLES, run_seed_commands
from archlab.stacks import ARCHITECTURES
from plumbing import seedcli

PORTS = config.Ports.from_base(config.DEFAULT_PORT_BASE)
DATABASES = {d.name: d for build in ARCHITECTURES.values() for d in build(PORTS).databases}


def never(*_):
    raise AssertionError("must not be called")


def run_main(args, *, reseed=never, restock=None) -> int:
    return seedcli.main(args, name="things", schema=Path("nowhere.sql"),
                        reseed=reseed, restock=restock)


def test_a_reseed_says_what_it_did_in_one_line(monkeypatch, capsys):
    monkeypatch.setenv("DATABASE_URL", "postgresql://r:pw@db:5432/things")
    seeded = []

    assert run_main([], reseed=seeded.append) == 0

    assert seeded == ["postgresql://r:pw@db:5432/things"]
    out, err = capsys.readouterr()
    assert out.startswith("things: seeded in ") and out.endswith(" s\n") and err == ""


def test_restock_calls_the_restock_function_instead_of_reseeding(monkeypatch, capsys):
    monkeypatch.setenv("DATABASE_URL", "postgresql://r:pw@db:5432/things")
    calls = []

    code = run_main(["--restock", "300"], restock=lambda dsn, level: calls.append(level) or 7)

    assert (code, calls) == (0, [300])
    assert capsys.readouterr().out.startswith("things: restocked 7 products to at least 300 ")


def test_restock_is_refused_without_a_restock_function(monkeypatch, capsys):
    monkeypatch.setenv("DATABASE_URL", "postgresql://r:pw@db:5432/things")

    assert run_main(["--restock", "300"]) == 2

    out, err = capsys.readouterr()
    assert out == ""
    assert err == "things: --restock refused: the things database holds no stock table\n"


def test_no_database_url_is_one_line_and_exit_1(monkeypatch, capsys):
    monkeypatch.delenv("DATABASE_URL", raising=False)

    assert run_main(["--schema"]) == 1

    err = capsys.readouterr().err
    assert err.startswith("things: DATABASE_URL is not set") and err.count("\n") == 1


def test_a_database_error_is_one_line_and_exit_1(monkeypatch, capsys):
    monkeypatch.setenv("DATABASE_URL", "postgresql://r:pw@db:5432/things")

    def refused(dsn):
        raise psycopg2.OperationalError('connection to server at "db" failed: refused\n'
                                        "\tIs the server running on that host?\n")

    assert run_main([], reseed=refused) == 1

    assert capsys.readouterr().err == ('things: failed: connection to server at "db" failed: '
                                       "refused Is the server running on that host?\n")


@pytest.mark.parametrize("args", [["--restock", "-1"], ["--restock", "many"],
                                  ["--schema", "--restock", "5"], ["extra"]])
def test_a_usage_error_exits_2(args, capsys):
    with pytest.raises(SystemExit) as stopped:
        run_main(args)
    assert stopped.value.code == 2


@pytest.mark.timeout(60)
@pytest.mark.parametrize("name", sorted(DATABASES))
def test_every_database_has_a_seed_command_that_restocks_where_it_holds_stock(name):
    """Its seed module exists and runs as a command; it takes --restock exactly when the
    stack says the database holds the stock table (no database here, so the one that takes
    it stops at the missing DATABASE_URL, exit 1, and the others refuse, exit 2)."""
    spec = DATABASES[name]
    assert importlib.util.find_spec(spec.seed) is not None
    env = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"}

    result = subprocess.run([sys.executable, "-m", spec.seed, "--restock", "1"], env=env,
                            cwd=config.project_root(), capture_output=True, text=True,
                            timeout=30)

    assert result.returncode == (1 if spec.stock else 2), result.stderr
    assert "Traceback" not in result.stderr


class FakePopen:
    """Records how a seed command would be started; it succeeds at once."""

    started: list = []

    def __init__(self, argv, **kw):
        self.argv, self.kw, self.returncode = argv, kw, 0
        FakePopen.started.append(self)

    def communicate(self, timeout=None):
        return "", ""

    def poll(self):
        return self.returncode


def test_the_platform_runs_each_seed_command_with_its_dsn_and_nothing_else(monkeypatch):
    for name, value in {"PGOPTIONS": "-c statement_timeout=1", "PYTHONPATH": "/elsewhere",
                        "ARCHLAB_DATABASE_URL": "postgresql://postgres:pw@h:1/postgres",
                        "DATABASE_URL": "postgresql://someone:else@h:1/theirs",
                        "TZ": "Europe/Vienna"}.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setattr(FakePopen, "started", [])
    monkeypatch.setattr(local.processes.subprocess, "Popen", FakePopen)
    databases = [{"name": "catalog", "seed": "microservices.catalog.seed",
                  "dsn": "postgresql://catalog:pw@127.0.0.1:1/catalog"},
                 {"name": "inventory", "seed": "microservices.inventory.seed",
                  "dsn": "postgresql://inventory:pw@127.0.0.1:1/inventory"}]

    run_seed_commands(databases, ["--schema"], "8000-run")

    assert [p.argv for p in FakePopen.started] == [
        [sys.executable, "-m", "microservices.catalog.seed", "--schema"],
        [sys.executable, "-m", "microservices.inventory.seed", "--schema"]]
    for process, database in zip(FakePopen.started, databases, strict=True):
        env = process.kw["env"]
        assert env["DATABASE_URL"] == database["dsn"]
        assert env["TZ"] == "Europe/Vienna" and env["ARCHLAB_RUN_ID"] == "8000-run"
        assert set(env) <= set(HOST_VARIABLES) | {"DATABASE_URL", "PYTHONUNBUFFERED",
                                                  "ARCHLAB_RUN_ID"}
        assert process.kw["cwd"] == config.project_root()


@pytest.mark.timeout(60)
def test_a_failing_seed_command_is_named_with_its_last_line():
    databases = [{"name": "catalog", "seed": "microservices.catalog.seed",
                  "dsn": "postgresql://catalog:pw@127.0.0.1:1/catalog"},
                 {"name": "ghost", "seed": "microservices.ghost.seed",
                  "dsn": "postgresql://ghost:pw@127.0.0.1:1/ghost"}]

    with pytest.raises(LabError) as error:
        run_seed_commands(databases, [], "8000-run")

    message = str(error.value)
    assert message.startswith(
        "the catalog database's seed command: `python -m microservices.catalog.seed` exited "
        'with 1: catalog: failed: connection to server at "127.0.0.1", port 1 failed: ')
    assert ("; the ghost database's seed command: "
            "`python -m microservices.ghost.seed` exited with 1: ") in message
    assert message.endswith("No module named 'microservices.ghost')")
    assert "\n" not in message
