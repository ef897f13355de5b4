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

.PHONY: help install run up down seed rebuild reconcile train test test-unit lint bench clean

help:
	@echo "make run   - install, start the local stack with demo data and services, follow logs"
	@echo "make test  - install, then run the whole test suite against real servers"
	@echo "make up | down | seed | rebuild | reconcile | train | lint | bench | clean"

$(UV):
	@command -v $(PYTHON) >/dev/null || { echo "need $(PYTHON) on PATH"; exit 1; }
	$(PYTHON) -m venv $(TOOLS)
	$(TOOLS)/bin/pip install --quiet "uv==$(UV_VERSION)"

# The venv is rebuilt whenever the lock or any package manifest changes.
$(VENV)/.synced: $(UV) uv.lock pyproject.toml $(wildcard */pyproject.toml services/*/pyproject.toml deploy/*/pyproject.toml)
	$(UV) sync --frozen --all-packages
	$(PY) -c "import carpages_local.servers as s; s.mariadb_binaries(); s.valkey_binary(); s.tansu_binary()"
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

test: install
	$(PY) -m pytest $(ARGS)

test-unit: install
	$(PY) -m pytest tests/unit $(ARGS)

lint: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/mypy

bench: install
	$(PY) -m bench $(if $(QUICK),--quick,)

clean: down
	rm -rf $(STACK) $(VENV) $(TOOLS) .mypy_cache .ruff_cache .pytest_cache
