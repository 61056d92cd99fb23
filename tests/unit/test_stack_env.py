"""A stack's processes get an explicit environment: the few host variables a process needs
to run at all, then what the lab passes. A shell variable that is not a stack setting
changes nothing; every knob of a stack is a recorded stack setting or fixed in code."""

import importlib
import json
import re
import sys
import time

import pytest

from archlab import config
from archlab.errors import LabError
from archlab.platforms.local import (
    HOST_VARIABLES,
    SECRET_MARK,
    LocalPlatform,
    environment_record,
    host_environment,
    sizing_plan,
)
from archlab.platforms.supervisor import Child
from archlab.stacks import get_stack
from monolith.services import invoicing
from monolith.web.app import config_from_env
from tests import ports

# Variables that changed a stack when they were set in the shell that started it.
STRAY = {"WEB_KEEPALIVE": "1", "WEB_LOGLEVEL": "debug", "MONOLITH_MAILER": "broken-value",
         "ARCHLAB_ACCESS_LOG": "0", "GUNICORN_CMD_ARGS": "--workers 9",
         "PGOPTIONS": "-c statement_timeout=1", "PYTHONPATH": "/elsewhere",
         "ARCHLAB_DATABASE_URL": "postgresql://postgres:pw@127.0.0.1:1/postgres"}


@pytest.fixture
def shell(monkeypatch):
    """A shell environment full of variables that must not reach a stack."""
    for name, value in STRAY.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("PATH", "/usr/bin:/bin")
    monkeypatch.setenv("TZ", "Europe/Vienna")
    monkeypatch.delenv("LD_LIBRARY_PATH", raising=False)


def a_state(platform: LocalPlatform, stack, settings: dict | None = None) -> dict:
    """What `up` has recorded by the time it builds the processes' environments."""
    return {"run_id": f"{platform.ports.base}-test", "admin_token": "admin-t0ken",
            "secret_key": "s3cret-key", "settings": config.stack_settings(settings),
            "test_hooks": None,
            "sizing": {"cores": 2, "web_workers": 2, "web_threads": 8,
                       "plan": sizing_plan(stack, 2).to_dict()},
            "databases": [{"name": d.name, "dsn": f"postgresql://r:pw-{d.name}@127.0.0.1:1/d"}
                          for d in stack.databases]}


def test_only_the_allow_listed_host_variables_are_taken(shell):
    host = host_environment()
    assert host["PATH"] == "/usr/bin:/bin" and host["TZ"] == "Europe/Vienna"
    assert set(host) <= set(HOST_VARIABLES)
    assert "LD_LIBRARY_PATH" not in host  # not set here: not invented either


@pytest.mark.parametrize("architecture", ["monolith", "microservices"])
def test_each_process_gets_the_host_variables_the_lab_and_nothing_else(shell, architecture):
    platform = LocalPlatform(ports.PROVENANCE[0])
    stack = get_stack(architecture, platform.ports)
    state = a_state(platform, stack, {"WEB_KEEPALIVE": "20"})

    envs = platform._process_env(stack, state)

    assert set(envs) == {p.name for p in stack.processes}
    for spec in stack.processes:
        env = envs[spec.name]
        assert env["PATH"] == "/usr/bin:/bin" and env["TZ"] == "Europe/Vienna"
        # The stack settings, as given, not as the shell said.
        process_settings = config.process_settings(state["settings"])
        assert {k: env[k] for k in process_settings} == process_settings
        assert not config.PLATFORM_SETTINGS & set(env)  # the supervisor's, not theirs
        assert env["WEB_KEEPALIVE"] == "20" and env["ARCHLAB_ACCESS_LOG"] == "1"
        for name in ("WEB_LOGLEVEL", "MONOLITH_MAILER", "GUNICORN_CMD_ARGS", "PGOPTIONS",
                     "PYTHONPATH", "ARCHLAB_DATABASE_URL"):
            assert name not in env, name
        assert env["ARCHLAB_RUN_ID"] == state["run_id"]
        assert env["ARCHLAB_PROCESS_NAME"] == spec.name
        assert ("DATABASE_URL" in env) == (spec.database is not None)
        assert ("PORT" in env) == (spec.port is not None)


def test_the_record_shows_every_variable_but_not_the_secrets(shell):
    platform = LocalPlatform(ports.PROVENANCE[0])
    stack = get_stack("monolith", platform.ports)
    state = a_state(platform, stack)
    host = host_environment()
    envs = platform._process_env(stack, state, host)

    record = environment_record(host, envs)

    assert record["host"] == host
    for name, env in envs.items():
        recorded = record["processes"][name]
        # Every variable is named; the host's are given once, under "host".
        assert set(recorded) | set(host) == set(env)
        assert not set(recorded) & set(host)
    worker = record["processes"]["monolith-worker"]
    assert worker["ARCHLAB_ADMIN_TOKEN"] == worker["ARCHLAB_SECRET_KEY"] == SECRET_MARK
    assert worker["DATABASE_URL"] == SECRET_MARK
    assert worker["INVOICE_PRINTER"] == "spool"
    # A background worker's size is fixed (archlab/sizing.py); a web process's is the plan's.
    assert "WEB_THREADS" not in worker
    assert record["processes"]["monolith"]["WEB_WORKERS"] == "2"
    text = json.dumps(record)
    for secret in ("admin-t0ken", "s3cret-key", "pw-monolith", "pw-cardprocessor"):
        assert secret not in text


def test_the_supervisor_gives_a_child_only_its_own_environment(shell, tmp_path, monkeypatch):
    monkeypatch.setenv("ARCHLAB_PROBE", "from-the-shell")
    out = tmp_path / "env.json"
    script = f"import json, os; open({str(out)!r}, 'w').write(json.dumps(dict(os.environ)))"
    child = Child(name="probe", argv=[sys.executable, "-c", script],
                  env={"ONLY": "this", "PATH": "/usr/bin:/bin"}, cwd=str(tmp_path),
                  log=tmp_path / "probe.log", restart="no")

    child.start()
    child.popen.wait(10)

    seen = json.loads(out.read_text())
    assert seen["ONLY"] == "this"
    for name in ("ARCHLAB_PROBE", *STRAY):
        assert name not in seen, name


def test_the_new_stack_settings_are_checked():
    settings = config.stack_settings({"WEB_KEEPALIVE": 5, "ARCHLAB_ACCESS_LOG": 0})
    assert settings["WEB_KEEPALIVE"] == "5" and settings["ARCHLAB_ACCESS_LOG"] == "0"
    assert config.stack_settings()["WEB_KEEPALIVE"] == "75"
    with pytest.raises(LabError, match="ARCHLAB_ACCESS_LOG must be one of 1, 0"):
        config.stack_settings({"ARCHLAB_ACCESS_LOG": "off"})
    with pytest.raises(LabError, match="WEB_KEEPALIVE must be a number"):
        config.stack_settings({"WEB_KEEPALIVE": "-1"})
    with pytest.raises(LabError, match="unknown stack setting"):
        config.stack_settings({"MONOLITH_MAILER": "offline"})


@pytest.mark.parametrize("settings,says", [
    ({"LIVENESS_PERIOD_SECONDS": "0.1"}, "from 0.5 to 60 s"),
    ({"LIVENESS_TIMEOUT_SECONDS": "3"}, "at most the period (2 s)"),
    ({"LIVENESS_FAILURES": "2.5"}, "a whole number from 1 to 20"),
    ({"LIVENESS_FAILURES": "1"}, "at least 3 s"),   # 2 s x 1: one slow moment restarts
    ({"MEMORY_LIMIT_MIB": "100.5"}, "whole number of MiB"),
])
def test_liveness_and_memory_settings_outside_their_range_are_refused(settings, says):
    with pytest.raises(LabError, match=re.escape(says)):
        config.stack_settings(settings)


def test_the_liveness_settings_reach_the_supervisor():
    settings = config.stack_settings({"LIVENESS_PERIOD_SECONDS": "1",
                                      "LIVENESS_TIMEOUT_SECONDS": "0.5",
                                      "LIVENESS_FAILURES": "4"})
    assert config.liveness_settings(settings) == {
        "period": 1.0, "timeout": 0.5, "failures": 4,
        "start_grace": config.LIVENESS_START_GRACE_SECONDS}


def test_gunicorn_takes_the_keepalive_setting_and_a_fixed_log_level(monkeypatch):
    monkeypatch.setenv("WEB_KEEPALIVE", "2.6")
    monkeypatch.setenv("WEB_LOGLEVEL", "debug")
    import plumbing.gunicorn_conf as conf
    try:
        conf = importlib.reload(conf)
        assert conf.keepalive == 3
        assert conf.loglevel == "warning"
    finally:
        monkeypatch.delenv("WEB_KEEPALIVE")
        importlib.reload(conf)


def test_the_monolith_mailer_is_not_read_from_the_environment(monkeypatch):
    monkeypatch.setenv("MONOLITH_MAILER", "offline")
    assert config_from_env()["MAILER"] == "mailbox"
    with pytest.raises(RuntimeError, match="mailer must be one of mailbox, offline"):
        invoicing.mailer_from_config("broken-value")


def test_a_supervised_child_is_restarted_with_the_same_environment(tmp_path):
    marker = tmp_path / "runs"
    script = (f"import os; open({str(marker)!r}, 'a').write(os.environ['ONLY'] + '\\n');"
              "raise SystemExit(1)")
    child = Child(name="failing", argv=[sys.executable, "-c", script], env={"ONLY": "again"},
                  cwd=str(tmp_path), log=tmp_path / "failing.log", restart="on-failure")
    child.start()
    child.popen.wait(10)
    child.check(time.monotonic())          # notices the exit, schedules the restart
    child.check(child.restart_at)          # restarts
    child.popen.wait(10)
    assert marker.read_text().split() == ["again", "again"]
