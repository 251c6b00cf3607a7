# pgcdc — `make help` lists the targets.
SHELL := /bin/bash
VENV ?= .venv
PYTHON ?= python3
BIN := $(VENV)/bin
PG_MAJOR ?= $(shell pg_config --version 2>/dev/null | sed -E 's/^PostgreSQL ([0-9]+).*/\1/')
PYTEST_ARGS ?=
# `make test` runs the suite on this many pytest-xdist workers (0: in this process, serially).
# Most tests wait on PostgreSQL, subprocesses, terraform or Chromium, so more workers than
# cores pays; tests sharing a costly fixture stay on one worker (tests/conftest.py).
PYTEST_WORKERS ?= 4
XDIST := $(if $(filter-out 0,$(PYTEST_WORKERS)),-n $(PYTEST_WORKERS) --dist loadgroup)

.DEFAULT_GOAL := help
.PHONY: help venv dev tools demo-deps browser-deps system-deps demo demo-down test test-unit lint format clean package
TOOLS ?= .venv-tools
CHECKOV_VERSION ?= 3.3.30

help: ## list the targets
	@grep -E '^[a-zA-Z_-]+:.*## ' $(MAKEFILE_LIST) | sed -E 's/:.*## /\t/' | expand -t 16

# what the demo uses: pgcdc and its dashboard
$(BIN)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dashboard]'
	touch $@

# and the tools of the tests and the linters
$(BIN)/.installed-test: $(BIN)/.installed pyproject.toml
	$(BIN)/pip install --quiet -e '.[test,dashboard]'
	touch $@

venv: $(BIN)/.installed ## create .venv with pgcdc and its dashboard (what the demo uses)

dev: $(BIN)/.installed-test ## .venv plus the test and lint tools (pytest, moto, ruff, mypy)

# checkov pins old boto3/packaging releases, so it lives in a virtualenv of its own
$(TOOLS)/bin/checkov:
	$(PYTHON) -m venv $(TOOLS)
	$(TOOLS)/bin/pip install --quiet --upgrade pip
	$(TOOLS)/bin/pip install --quiet checkov==$(CHECKOV_VERSION)

tools: $(TOOLS)/bin/checkov ## a separate virtualenv with checkov (the infra scan test uses it)

demo-deps: ## install the PostgreSQL server binaries and wal2json (apt, needs root): what the demo uses
	@bindir=$$(pg_config --bindir 2>/dev/null); libdir=$$(pg_config --pkglibdir 2>/dev/null); \
	if [ -x "$$bindir/initdb" ] && [ -f "$$libdir/wal2json.so" ]; then \
	  echo "PostgreSQL $(PG_MAJOR) server and wal2json present"; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
	    postgresql-$(or $(PG_MAJOR),15) postgresql-$(or $(PG_MAJOR),15)-wal2json >/dev/null; \
	else \
	  echo "install the PostgreSQL server and wal2json: sudo apt-get install postgresql-15 postgresql-15-wal2json" >&2; \
	  exit 1; \
	fi

browser-deps: ## install chromium + chromedriver (apt, needs root): only the dashboard's browser test uses them
	@if command -v chromium >/dev/null && command -v chromedriver >/dev/null; then \
	  echo "chromium present"; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
	    chromium chromium-driver >/dev/null; \
	else \
	  echo "install chromium: sudo apt-get install chromium chromium-driver" >&2; \
	  exit 1; \
	fi

system-deps: demo-deps browser-deps ## everything the tests need from apt (both of the above)

demo: demo-deps venv ## local Postgres + demo database + workload (+ the pipeline), end to end
	$(BIN)/pgcdc demo run

demo-down: venv ## stop the demo's local Postgres
	$(BIN)/pgcdc demo down

test: system-deps dev tools ## the whole test suite (real Postgres + wal2json, S3 emulator, terraform)
	PGCDC_CHECKOV=$(abspath $(TOOLS))/bin/checkov $(BIN)/pytest $(XDIST) $(PYTEST_ARGS)

test-unit: dev ## unit tests only (no services)
	$(BIN)/pytest -m unit $(PYTEST_ARGS)

lint: dev ## ruff, ruff format --check, mypy
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

format: dev ## apply ruff's fixes and formatting
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

package: venv ## Lambda zips for python3.12 x86_64: dist/lambda/{pgcdc,dependencies}.zip
	$(BIN)/python infra/package.py

clean: ## stop the demo cluster and remove ./pgcdc-data
	-$(BIN)/pgcdc demo down
	rm -rf pgcdc-data
