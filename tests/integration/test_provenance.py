"""What a stack ran with, as the running processes and the running server show it.

A variable in the shell that starts a stack does not reach its processes (read from
/proc/<pid>/environ), while a stack setting given to `up` does, and state.json records
both what each process got and the PostgreSQL version the server itself answered.

Stacks here run at two port bases of their own (tests/ports.py), clear of a developer's
stack (8000) and of the other test stacks.
"""

import json
import sys
from contextlib import closing

import psutil
import psycopg2
import pytest

from archlab.db import make_dsn
from archlab.platforms.local import HOST_VARIABLES, SECRET_MARK, LocalPlatform
from archlab.platforms.statefiles import read_json
from archlab.stacks import DatabaseSpec, ProcessSpec, Stack
from tests import ports
from tests.integration.servicekit import bare_server

# Set in the shell of the process that calls `up`; none of them may reach the stack.
SHELL = {"WEB_KEEPALIVE": "1", "WEB_LOGLEVEL": "debug", "MONOLITH_MAILER": "broken-value",
         "ARCHLAB_ACCESS_LOG": "0", "ARCHLAB_PROVENANCE_PROBE": "from-the-shell"}
# Given to `up`: these must reach every process.
SETTINGS = {"WEB_KEEPALIVE": "20", "CARD_PROCESSOR_LATENCY_MS": "7"}


def free_platform(skip: int | None = None) -> LocalPlatform:
    """A platform on this module's first port block, or its second when `skip` (a stack
    this module has up) holds the first."""
    first, second = ports.PROVENANCE
    return ports.free_platform(second if skip == first else first)


def environ(pid: int) -> dict[str, str]:
    return psutil.Process(pid).environ()


def stack_pids(platform: LocalPlatform) -> dict[str, list[int]]:
    """Each supervised process's pid and its children's (a gunicorn master's workers)."""
    live = read_json(platform.state_dir / "processes.json")
    pids = {}
    for name, process in live["processes"].items():
        leader = psutil.Process(process["pid"])
        pids[name] = [leader.pid] + [child.pid for child in leader.children(recursive=True)]
    return pids


def server_says(dsn: str) -> tuple[str, str]:
    with closing(psycopg2.connect(dsn, connect_timeout=5)) as conn, conn.cursor() as cur:
        cur.execute("SHOW server_version")
        (short,) = cur.fetchone()
        cur.execute("SELECT version()")
        (full,) = cur.fetchone()
    return short, full


@pytest.fixture(scope="module")
def monolith():
    """A monolith stack started from a shell holding SHELL, with SETTINGS."""
    platform = free_platform()
    with pytest.MonkeyPatch.context() as shell:
        for name, value in SHELL.items():
            shell.setenv(name, value)
        info = platform.up("monolith", settings=SETTINGS)
    try:
        yield platform, info
    finally:
        platform.down()


@pytest.mark.timeout(120)
def test_shell_variables_do_not_reach_the_stack_and_settings_do(monolith):
    platform, _ = monolith
    state = read_json(platform.state_file)
    pids = stack_pids(platform)
    assert set(pids) == {"card-processor", "monolith", "monolith-worker"}
    assert len(pids["monolith"]) > 1  # the gunicorn master and its workers

    for name, group in pids.items():
        for pid in group:
            env = environ(pid)
            for variable in ("WEB_LOGLEVEL", "MONOLITH_MAILER", "ARCHLAB_PROVENANCE_PROBE"):
                assert variable not in env, f"{variable} reached {name} (pid {pid})"
            assert env["WEB_KEEPALIVE"] == "20", name
            assert env["ARCHLAB_ACCESS_LOG"] == "1", name
            assert env["CARD_PROCESSOR_LATENCY_MS"] == "7", name
            # Exactly what state.json says the process ran with, and nothing else.
            host, recorded = state["environment"]["host"], state["environment"]["processes"][name]
            assert set(env) == set(recorded) | set(host), name
            shown = {k: v for k, v in recorded.items() if v != SECRET_MARK} | host
            assert {k: env[k] for k in shown} == shown, name

    supervisor = environ(state["pids"]["supervisor"])
    assert set(supervisor) <= set(HOST_VARIABLES) | {"ARCHLAB_RUN_ID"}
    assert supervisor["ARCHLAB_RUN_ID"] == state["run_id"]


@pytest.mark.timeout(60)
def test_state_records_the_environment_without_its_secrets(monolith):
    platform, info = monolith
    state = read_json(platform.state_file)
    record = state["environment"]

    assert set(record["host"]) <= set(HOST_VARIABLES)
    web = record["processes"]["monolith"]
    assert web["WEB_KEEPALIVE"] == "20" and web["CARD_PROCESSOR_LATENCY_MS"] == "7"
    assert web["PORT"] == str(platform.ports.monolith)
    assert web["ARCHLAB_ADMIN_TOKEN"] == web["DATABASE_URL"] == SECRET_MARK
    assert state["settings"]["WEB_KEEPALIVE"] == "20"
    text = json.dumps(record)
    assert info.admin_token not in text and state["secret_key"] not in text
    for database in state["databases"]:
        assert database["dsn"] not in text


@pytest.mark.timeout(60)
def test_the_recorded_server_version_is_the_running_servers(monolith):
    platform, info = monolith
    state = read_json(platform.state_file)
    recorded = state["database"]["server_version"]

    short, full = server_says(state["databases"][0]["dsn"])

    assert recorded["server_version"] == short
    assert recorded["version"] == full
    assert str(recorded["server_version_num"]).startswith(short.split(".")[0])
    assert info.database_server_version == recorded
    assert platform.info().database_server_version == recorded


@pytest.fixture(scope="module")
def external_server():
    """A PostgreSQL server the lab did not start, on a port outside every stack's block."""
    yield from bare_server(max_connections=30)


@pytest.mark.timeout(120)
def test_an_external_servers_version_is_recorded_too(monolith, external_server,
                                                     monkeypatch):
    sleeper = ProcessSpec("sleeper", [sys.executable, "-c", "import time; time.sleep(300)"],
                          database="notes")
    stack = Stack("notes", databases=[DatabaseSpec("notes", "notes")],
                  processes=[sleeper], entrypoint="sleeper")
    platform = free_platform(skip=monolith[0].ports.base)
    monkeypatch.setenv("ARCHLAB_DATABASE_URL", external_server.admin_dsn)
    try:
        info = platform.up(stack)
        state = read_json(platform.state_file)
        recorded = state["database"]["server_version"]
        assert state["database"]["mode"] == "external"

        short, full = server_says(make_dsn("postgres", external_server.password, "127.0.0.1",
                                           external_server.port, "postgres"))

        assert (recorded["server_version"], recorded["version"]) == (short, full)
        assert info.database_server_version == recorded
        pid = read_json(platform.state_dir / "processes.json")["processes"]["sleeper"]["pid"]
        assert "ARCHLAB_DATABASE_URL" not in environ(pid)  # the superuser URL stays ours
    finally:
        platform.down()
