# qpay-graph: `make run` serves with the embedded defaults; `make check` is CI.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
RUNTIME := $(VENV)/.installed-runtime
DEV := $(VENV)/.installed-dev

.PHONY: help install run check lint fmt test test-fast schema bench clean

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | sed 's/:.*## /\t/'

$(RUNTIME): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e .
	touch $@

$(DEV): pyproject.toml $(RUNTIME)
	$(BIN)/python -m pip install --quiet -e ".[dev]"
	touch $@

install: $(DEV) ## create .venv with everything (runtime and dev tools)

run: $(RUNTIME) ## install and serve on 127.0.0.1:8000 (embedded PostgreSQL, QPay simulator)
	$(BIN)/qpay-graph serve

check: lint test ## install and run the whole check: lint, types, tests

lint: $(DEV) ## ruff (format + lint), mypy --strict, import layers
	$(BIN)/ruff format --check .
	$(BIN)/ruff check .
	$(BIN)/mypy .
	$(BIN)/lint-imports

fmt: $(DEV) ## format and autofix
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

# The floor is for the code whose every line moves money: the use cases and
# the rules (domain/) and what stores them (persistence/).
COVERAGE := --cov=domain --cov=persistence --cov-report=term:skip-covered --cov-fail-under=90

test: $(DEV) ## every tier, with the coverage floor (TEST_DATABASE_URL, or an embedded PostgreSQL)
	$(BIN)/pytest $(COVERAGE)

test-fast: $(DEV) ## unit and integration tiers only (about a minute): the loop while coding
	$(BIN)/pytest tests/unit tests/integration

bench: $(DEV) ## the full benchmarks (minutes); figures go to bench/results/
	$(BIN)/python -m pip install --quiet -e ".[dev,bench]"
	@command -v wrk >/dev/null || DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk >/dev/null 2>&1 \
	  || echo "wrk is not installed: settle_throughput's load then comes from Python, on the same CPU"
	$(BIN)/python -m bench.push_latency
	$(BIN)/python -m bench.poller_only
	$(BIN)/python -m bench.subscriber_capacity
	$(BIN)/python -m bench.settle_throughput
	$(BIN)/python -m bench.startup
	$(BIN)/python -m bench.plot

schema: $(DEV) ## regenerate schema.graphql from the code
	$(BIN)/python -c "from strawberry.printer import print_schema; from graph.schema import build_schema; open('schema.graphql', 'w').write(print_schema(build_schema(production=False)) + '\n')"

clean: ## remove the virtualenv and caches (not .data)
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache
