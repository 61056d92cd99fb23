"""compose/monolith.yml and compose/microservices.yml against archlab/stacks.py, without a
Docker engine: each file is what `docker-compose config` accepts; its databases, seed
containers and long-running services are the stack's; each process gets the environment
the local platform gives it; only the entry point is published; every container has a CPU
and a memory limit, and the two files' limits add up to the same totals. And the image's
build (compose/Dockerfile, .dockerignore) copies every package the processes import.

The structure is checked twice where a compose command exists: on the file as written
(PyYAML resolves its anchors and merge keys; `${VAR:-default}` is filled in here) and on
what `docker-compose config` makes of it. The real engine runs them in tests/engine."""

import ast
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import yaml

from archlab import limits, sizing
from archlab.config import (
    STACK_SETTINGS,
    Ports,
    liveness_settings,
    process_settings,
    project_root,
)
from archlab.platforms.compose import ComposePlatform, env_prefix
from archlab.platforms.local import liveness_check
from archlab.stacks import ARCHITECTURES, get_stack
from plumbing.worker import HEARTBEAT_VAR

ROOT = project_root()
COMPOSE = ROOT / "compose"
FILES = {arch: COMPOSE / f"{arch}.yml" for arch in ARCHITECTURES}
STACKS = {arch: get_stack(arch, Ports.from_base(8000)) for arch in ARCHITECTURES}
# What compose/new-env.sh or `archlab up --platform compose` would give: every variable
# a file requires (`${VAR:?...}`) set, nothing else.
DUMMY = "dummy-secret"
# Where a worker container's heartbeat file is (its own /tmp: one file per container, so
# each replica of a worker has its own, as each local replica has).
HEARTBEAT_FILE = "/tmp/archlab-heartbeat"
INTERPOLATION = re.compile(r"\$\{(?P<name>\w+)(?:(?P<op>:?[-?])(?P<arg>[^}]*))?\}")


def required_variables(text: str) -> set[str]:
    """The variables a compose file cannot do without (`${VAR:?message}`)."""
    return {m["name"] for m in INTERPOLATION.finditer(text) if m["op"] in (":?", "?")}


def interpolate(value, env: dict[str, str]):
    """`value` with compose's `${VAR}`, `${VAR:-default}` and `${VAR:?err}` filled in."""
    if isinstance(value, dict):
        return {k: interpolate(v, env) for k, v in value.items()}
    if isinstance(value, list):
        return [interpolate(v, env) for v in value]
    if not isinstance(value, str):
        return value

    def one(m):
        if m["name"] in env and (env[m["name"]] or m["op"] in ("-", "?")):
            return env[m["name"]]
        if m["op"] in (":-", "-"):
            return m["arg"]
        if m["op"] in (":?", "?"):
            raise AssertionError(f"{m['name']} is required: {m['arg']}")
        return ""
    return INTERPOLATION.sub(one, value)


def dummy_env(arch: str) -> dict[str, str]:
    return dict.fromkeys(required_variables(FILES[arch].read_text()), DUMMY)


def as_written(arch: str) -> dict:
    """The file as PyYAML reads it (anchors and merge keys resolved), interpolated."""
    data = yaml.safe_load(FILES[arch].read_text())
    return {key: value for key, value in interpolate(data, dummy_env(arch)).items()
            if not key.startswith("x-")}


def compose_commands() -> dict[str, list[str]]:
    """The compose command lines found here: Debian's docker-compose 1.29, Compose v2."""
    found = {}
    if shutil.which("docker-compose"):
        found["docker-compose"] = ["docker-compose"]
    docker = shutil.which("docker")
    if docker and subprocess.run([docker, "compose", "version"], capture_output=True,
                                 timeout=60).returncode == 0:
        found["docker compose"] = [docker, "compose"]
    return found


COMMANDS = compose_commands()
NO_COMPOSE = "neither docker-compose nor `docker compose` is installed here"


def without_compose() -> None:
    """Skip a test that needs a compose command, or fail it where the run requires one
    (ARCHLAB_REQUIRE_COMPOSE=1, set by make test-engine, which installs it): there a skip
    would let the files go unvalidated with every line green."""
    if os.environ.get("ARCHLAB_REQUIRE_COMPOSE") == "1":
        pytest.fail(f"{NO_COMPOSE}, and ARCHLAB_REQUIRE_COMPOSE=1 requires one")
    pytest.skip(NO_COMPOSE)


def run_config(command: list[str], path: Path, env: dict[str, str], tmp_path: Path,
               *args: str) -> subprocess.CompletedProcess:
    # An empty env file of our own: a person's compose/.env must not decide the outcome.
    empty = tmp_path / "empty.env"
    empty.write_text("")
    return subprocess.run([*command, "--env-file", str(empty), "--file", str(path),
                           "--project-name", "archlabunit", "config", *args],
                          env={"PATH": os.environ.get("PATH", ""), **env},
                          capture_output=True, text=True, timeout=120)


@pytest.fixture(scope="module")
def configured(tmp_path_factory) -> dict[str, dict]:
    """What the first compose command found makes of each file (`config`), parsed."""
    if not COMMANDS:
        return {}
    command = next(iter(COMMANDS.values()))
    tmp = tmp_path_factory.mktemp("compose")
    out = {}
    for arch, path in FILES.items():
        done = run_config(command, path, dummy_env(arch), tmp)
        assert done.returncode == 0, done.stderr
        out[arch] = yaml.safe_load(done.stdout)
    return out


SOURCES = ["as-written", "config"]


@pytest.fixture(params=SOURCES)
def compose_file(request, configured):
    """(arch, services) for each file, as written and as `config` resolves it."""
    def get(arch):
        if request.param == "as-written":
            return as_written(arch)["services"]
        if not configured:
            without_compose()
        return configured[arch]["services"]
    return get


def memory_mib(value) -> float:
    """A compose memory size ("256M", "1g", 268435456) in MiB."""
    text = str(value).strip().lower().removesuffix("b")
    units = {"k": 1 / 1024, "m": 1, "g": 1024}
    if text and text[-1] in units:
        return float(text[:-1]) * units[text[-1]]
    return float(text) / 2**20


def limits_of(service: dict) -> tuple[float, float]:
    limits = ((service.get("deploy") or {}).get("resources") or {}).get("limits") or {}
    assert "cpus" in limits and "memory" in limits, limits
    return float(limits["cpus"]), memory_mib(limits["memory"])


def long_running(services: dict) -> dict:
    return {name: s for name, s in services.items() if str(s.get("restart")) != "no"}


def depends(service: dict) -> dict[str, str]:
    found = service.get("depends_on") or {}
    if isinstance(found, list):
        return dict.fromkeys(found, "service_started")
    return {name: (spec or {}).get("condition", "service_started") for name, spec in found.items()}


def environment(service: dict) -> dict[str, str]:
    env = service.get("environment") or {}
    if isinstance(env, list):
        env = dict(item.split("=", 1) for item in env)
    return {k: "" if v is None else str(v) for k, v in env.items()}


# -- the files as compose reads them --------------------------------------------------


@pytest.mark.parametrize("arch_name", FILES)
def test_each_file_validates_with_every_compose_command_here(arch_name, tmp_path):
    if not COMMANDS:
        without_compose()
    for name, command in COMMANDS.items():
        done = run_config(command, FILES[arch_name], dummy_env(arch_name), tmp_path, "-q")
        assert done.returncode == 0, f"{name}: {done.stderr}"


@pytest.mark.parametrize("arch_name", FILES)
def test_a_missing_secret_is_refused_with_where_it_comes_from(arch_name, tmp_path):
    if not COMMANDS:
        without_compose()
    env = dummy_env(arch_name)
    del env["ARCHLAB_SECRET_KEY"]
    done = run_config(next(iter(COMMANDS.values())), FILES[arch_name], env, tmp_path, "-q")
    assert done.returncode != 0
    assert "compose/new-env.sh" in done.stderr


@pytest.mark.parametrize("arch_name", FILES)
def test_no_version_key(arch_name):
    assert "version" not in yaml.safe_load(FILES[arch_name].read_text())


# -- what runs ---------------------------------------------------------------------------


@pytest.mark.parametrize("arch_name", FILES)
def test_databases_seeds_and_processes_are_the_stacks(arch_name, compose_file):
    services, stack = compose_file(arch_name), STACKS[arch_name]
    databases = [d.name for d in stack.databases]
    postgres = services["postgres"]
    assert sorted(environment(postgres)["ARCHLAB_DATABASES"].split()) == sorted(databases)
    seeds = {name for name in services if name.startswith("seed-")}
    assert seeds == {f"seed-{d}" for d in databases}
    assert set(long_running(services)) == {p.name for p in stack.processes} | {"postgres"}
    for spec in stack.databases:
        seed = services[f"seed-{spec.name}"]
        module = spec.seed.partition(":")[0]
        assert seed["command"] == ["python", "-m", module, "--schema"], spec.name
        assert str(seed["restart"]) == "no"
        assert depends(seed) == {"postgres": "service_healthy"}
        dsn = urlsplit(environment(seed)["DATABASE_URL"])
        assert (dsn.username, dsn.hostname, dsn.port, dsn.path) == (
            spec.role, "postgres", 5432, f"/{spec.name}")
        assert environment(postgres)[f"{env_prefix(spec.name)}_DB_PASSWORD"] == dsn.password


@pytest.mark.parametrize("arch_name", FILES)
def test_each_process_runs_its_command_with_the_local_platforms_environment(arch_name,
                                                                            compose_file):
    services, stack = compose_file(arch_name), STACKS[arch_name]
    ports = Ports.from_base(8000)
    # 127.0.0.1:<port> locally is <service>:8000 in the stack's network.
    where = {getattr(ports, p.name.replace("-", "_")): p.name
             for p in stack.processes if p.port is not None}
    plan = sizing.plan(sizing.shape_of(stack), 2, "equal-total")
    for spec in stack.processes:
        service = services[spec.name]
        # gunicorn's app, or the worker's module, as archlab/stacks.py runs it.
        wanted = spec.argv[spec.argv.index("gunicorn") + 1:] if "gunicorn" in spec.argv \
            else spec.argv[1:]
        assert service["command"][-len(wanted):] == wanted, spec.name
        assert str(service["restart"]) == "on-failure", spec.name
        env = environment(service)
        expected = {"ARCHLAB_PROCESS_NAME": spec.name, "ARCHLAB_RUN_ID": "compose",
                    "ARCHLAB_TEST_HOOKS": "", "ARCHLAB_ADMIN_TOKEN": DUMMY,
                    "ARCHLAB_SECRET_KEY": DUMMY, **process_settings(STACK_SETTINGS)}
        for name, url in spec.env.items():
            port = urlsplit(url).port
            expected[name] = f"http://{where[port]}:8000"
        if spec.port is not None:
            expected |= {"PORT": "8000", "BIND_HOST": "0.0.0.0"}
        # The local platform gives a process a heartbeat file where its liveness is one
        # (a background worker, archlab/platforms/local.py); a container gets its own.
        local_check = liveness_check({"name": spec.name, "health_url": spec.health_url},
                                     Path("/heartbeats"))
        if "heartbeat" in local_check:
            expected[HEARTBEAT_VAR] = HEARTBEAT_FILE
        # Its size, as whole numbers (a background worker's is fixed in its module).
        if plan.processes[spec.name].kind != "background":
            for key in plan.processes[spec.name].env():
                assert env.get(key, "").isdigit(), (spec.name, key, env.get(key))
                expected[key] = env[key]
        assert set(env) - {"DATABASE_URL"} == set(expected), spec.name
        assert {k: env[k] for k in expected} == expected, spec.name
        if spec.database is None:
            assert "DATABASE_URL" not in env
        else:
            dsn = urlsplit(env["DATABASE_URL"])
            assert (dsn.username, dsn.hostname, dsn.path) == (
                spec.database, "postgres", f"/{spec.database}"), spec.name


@pytest.mark.parametrize("arch_name", FILES)
def test_sizing_defaults_are_named_after_each_process(arch_name):
    text = FILES[arch_name].read_text()
    stack = STACKS[arch_name]
    for spec in stack.processes:
        size = sizing.plan(sizing.shape_of(stack), 2, "equal-total").processes[spec.name]
        for key in (size.env() if size.kind != "background" else {}):
            assert f"{key}: \"${{{env_prefix(spec.name)}_{key}:-" in text, (spec.name, key)


@pytest.mark.parametrize("arch_name", FILES)
def test_the_files_defaults_are_what_the_lab_writes_for_two_cpus(arch_name, tmp_path,
                                                                monkeypatch):
    # What a person gets by hand is what `archlab up --platform compose` gives on 2 CPUs
    # and 3072 MiB: the same sizes and limits (archlab/sizing.py, archlab/limits.py).
    monkeypatch.setenv("ARCHLAB_STATE_DIR", str(tmp_path))
    platform = ComposePlatform(8000)
    env, _ = platform.stack_env(STACKS[arch_name], {"admin_token": "t", "run_id": "r"}, None,
                                limits.DEFAULT_CPUS, limits.DEFAULT_MEMORY_MIB,
                                {"policy": "equal-total"})
    defaults = {m["name"]: m["arg"] for m in INTERPOLATION.finditer(FILES[arch_name].read_text())
                if m["op"] == ":-"}
    sized = {k: v for k, v in env.items()
             if k.endswith(("_CPUS", "_MEMORY", "_WEB_WORKERS", "_WEB_THREADS",
                            "_FANOUT_THREADS", "_DB_POOL_SIZE"))}
    assert sized and {k: defaults.get(k) for k in sized} == sized


@pytest.mark.parametrize("arch_name", FILES)
def test_start_order_waits_on_health_and_on_the_seeds(arch_name, compose_file):
    services, stack = compose_file(arch_name), STACKS[arch_name]
    for spec in stack.processes:
        wants = depends(services[spec.name])
        if spec.database:
            assert wants["postgres"] == "service_healthy", spec.name
            assert wants[f"seed-{spec.database}"] == "service_completed_successfully", spec.name
        for name in spec.env:
            if name == "CARD_PROCESSOR_URL" and spec.name in ("monolith", "monolith-worker",
                                                              "payments"):
                assert wants["card-processor"] == "service_healthy", spec.name
        if spec.name == stack.entrypoint:
            upstream = [p.name for p in stack.processes
                        if p.port is not None and p.name != spec.name and not p.external]
            assert all(wants.get(name) == "service_healthy" for name in upstream), wants


def seconds(duration) -> float:
    """A compose duration ("2s", "1m30s", or `config`'s nanoseconds) in seconds."""
    if isinstance(duration, int | float):
        return duration / 1e9
    parts = re.findall(r"(\d+(?:\.\d+)?)(ms|s|m|h)", str(duration))
    assert parts and "".join(n + u for n, u in parts) == str(duration), duration
    return sum(float(n) * {"ms": 0.001, "s": 1, "m": 60, "h": 3600}[u] for n, u in parts)


@pytest.mark.parametrize("arch_name", FILES)
def test_every_process_and_postgres_have_health_checks(arch_name, compose_file):
    """A web process is ready when its /readyz answers (start order, `archlab up`'s
    wait; nothing restarts on it); a background worker is alive while its heartbeat
    file is fresh, with the local supervisor's liveness bounds."""
    services, stack = compose_file(arch_name), STACKS[arch_name]
    assert "pg_isready" in services["postgres"]["healthcheck"]["test"]
    liveness = liveness_settings(STACK_SETTINGS)
    for spec in stack.processes:
        check = services[spec.name].get("healthcheck")
        test = check["test"]
        assert test[:2] == ["CMD", "python"], spec.name
        compile(test[-1], spec.name, "exec")
        if spec.port is not None:
            assert "/readyz" in test[-1], spec.name
            continue
        # The file the worker touches, named by the variable it reads, stale after the
        # local supervisor's bound: period + timeout.
        assert f"os.environ['{HEARTBEAT_VAR}']" in test[-1], spec.name
        assert f"> {liveness['period'] + liveness['timeout']:g})" in test[-1], spec.name
        assert seconds(check["interval"]) == liveness["period"], spec.name
        assert seconds(check["timeout"]) == liveness["timeout"], spec.name
        assert check["retries"] == liveness["failures"], spec.name
        assert seconds(check["start_period"]) == liveness["start_grace"], spec.name


def test_the_heartbeat_check_fails_on_a_stale_or_missing_file(tmp_path):
    """The workers' check, run here as the engine runs it in a container."""
    check = as_written("microservices")["services"]["orders-worker"]["healthcheck"]
    heartbeat = tmp_path / "heartbeat"

    def passes() -> bool:
        return subprocess.run([sys.executable, *check["test"][2:]], timeout=30,
                              env={HEARTBEAT_VAR: str(heartbeat)}).returncode == 0
    assert not passes()  # no heartbeat yet
    heartbeat.touch()
    assert passes()
    stale = time.time() - 4.5
    os.utime(heartbeat, (stale, stale))
    assert not passes()


@pytest.mark.parametrize("arch_name", FILES)
def test_only_the_entry_point_is_published(arch_name, compose_file):
    services = compose_file(arch_name)
    published = {name: s["ports"] for name, s in services.items() if s.get("ports")}
    assert list(published) == [STACKS[arch_name].entrypoint]
    (port,) = published[STACKS[arch_name].entrypoint]
    if isinstance(port, dict):  # Compose v2's long form
        port = f"{port.get('host_ip')}:{port.get('published')}:{port.get('target')}"
    assert str(port).removesuffix("/tcp").split(":") == ["127.0.0.1", "8000", "8000"]


@pytest.mark.parametrize("arch_name", FILES)
def test_project_services_use_one_image_built_by_one_of_them(arch_name, compose_file):
    services = compose_file(arch_name)
    project = {name: s for name, s in services.items() if name != "postgres"}
    assert {s["image"] for s in project.values()} == {"archlab:latest"}
    builders = [name for name, s in project.items() if s.get("build")]
    assert len(builders) == 1, builders
    # docker-compose 1.29's `up` ensures images in start order and pulls a missing one
    # unless its service builds it: the builder must come first (right after postgres).
    order = list(yaml.safe_load(FILES[arch_name].read_text())["services"])
    assert order[:2] == ["postgres", builders[0]]
    assert depends(project[builders[0]]) == {"postgres": "service_healthy"}


def test_postgres_runs_as_the_labs_own_cluster_does(compose_file):
    for arch in FILES:
        postgres = compose_file(arch)["postgres"]
        assert postgres["command"] == ["-c", "fsync=off", "-c",
                                       f"max_connections={sizing.MAX_CONNECTIONS}"]
        assert not postgres.get("volumes") or all(
            "postgres-init.sh" in str(v) for v in postgres["volumes"])


# -- limits ---------------------------------------------------------------------------


@pytest.mark.parametrize("arch_name", FILES)
def test_every_container_has_a_cpu_and_a_memory_limit(arch_name, compose_file):
    for name, service in compose_file(arch_name).items():
        cpus, memory = limits_of(service)
        assert cpus > 0 and memory > 0, name


def test_both_stacks_limits_add_up_to_the_same_totals(compose_file):
    """What runs together (PostgreSQL and the long-running containers; the seeds finish
    before the stack serves) gets the same CPUs and memory in both files, and the comment
    at the top of each says how much."""
    totals = {}
    for arch in FILES:
        parts = [limits_of(s) for s in long_running(compose_file(arch)).values()]
        totals[arch] = (round(sum(c for c, _ in parts), 3), round(sum(m for _, m in parts)))
        head = FILES[arch].read_text()[:2000]
        assert (f"limits add up to {totals[arch][0]:g} CPUs and {totals[arch][1]} MiB"
                in " ".join(head.replace("#", " ").split())), (arch, totals[arch])
    assert len(set(totals.values())) == 1, totals


# -- the env file and the image -------------------------------------------------------


def test_new_env_sets_every_required_variable_with_fresh_url_safe_secrets():
    def draw():
        out = subprocess.run(["bash", str(COMPOSE / "new-env.sh")], check=True,
                             capture_output=True, text=True).stdout
        return dict(line.split("=", 1) for line in out.splitlines()
                    if line and not line.startswith("#"))
    first, second = draw(), draw()
    for arch, path in FILES.items():
        assert required_variables(path.read_text()) <= set(first), arch
    assert all(re.fullmatch(r"[A-Za-z0-9_-]{32}", v) for v in first.values()), first
    assert len(set(first.values())) == len(first)
    assert not set(first.values()) & set(second.values())


def first_party() -> set[str]:
    return {p.name for p in ROOT.iterdir() if (p / "__init__.py").is_file()}


def copied_packages() -> set[str]:
    text = (COMPOSE / "Dockerfile").read_text()
    return set(re.findall(r"^COPY (\w+)/ /app/\1/$", text, re.MULTILINE))


def test_the_image_copies_every_package_its_processes_import():
    copied, ours = copied_packages(), first_party()
    for spec in (p for stack in STACKS.values() for p in stack.processes):
        app = spec.argv[-1].partition(":")[0]
        assert app.split(".")[0] in copied, spec.name
    missing = {}
    for package in copied:
        for path in (ROOT / package).rglob("*.py"):
            for node in ast.walk(ast.parse(path.read_text(), str(path))):
                names = ([a.name for a in node.names] if isinstance(node, ast.Import)
                         else [node.module] if isinstance(node, ast.ImportFrom)
                         and node.level == 0 and node.module else [])
                for name in names:
                    top = name.split(".")[0]
                    if top in ours and top not in copied:
                        missing.setdefault(top, []).append(str(path.relative_to(ROOT)))
    assert not missing, missing


def test_dockerignore_keeps_what_the_build_copies_and_drops_secrets():
    patterns = [line.strip() for line in (ROOT / ".dockerignore").read_text().splitlines()
                if line.strip() and not line.startswith("#")]
    kept = copied_packages() | {"compose", "compose/wheelhouse", "compose/Dockerfile",
                                "pyproject.toml", "requirements.lock"}
    assert not kept & {p.rstrip("/") for p in patterns}
    assert "compose/.env" in patterns and ".git" in patterns and ".venv" in patterns
