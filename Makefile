# One runner for people and CI. `make demo` and `make test` set themselves up on a fresh machine.
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test test-unit lint format bench bench-lab bench-deploy bench-migrate bench-dr setup system-deps lock clean

demo: setup  ## the main job on embedded defaults (SQLite registry, sample county)
	$(BIN)/python -m cli.demo

test: setup system-deps  ## every test: unit, then registry on SQLite and a real PostgreSQL
	$(BIN)/pytest

test-unit: setup  ## the tests that need no service
	$(BIN)/pytest tests/unit

lint: setup  ## ruff (lint + format), mypy, the layer contracts, yamllint and ansible-lint
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/lint-imports
	$(BIN)/yamllint --strict .
	PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/ansible-lint --strict

format: setup
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

bench: setup  ## benchmarks; record results in docs/benchmarks.md (the lab's need root)
	$(BIN)/python bench/bench_foundation.py
	$(BIN)/python bench/bench_network.py
	$(BIN)/python bench/bench_stacks.py
	$(BIN)/python bench/bench_portal.py
	$(BIN)/python bench/bench_migration_plan.py
	$(BIN)/python bench/bench_portal_signin.py
	@if [ "$$(id -u)" = 0 ]; then $(MAKE) bench-lab bench-deploy bench-migrate bench-dr; else echo "bench-lab, bench-deploy, bench-migrate and bench-dr need root: run them as root"; fi

bench-lab: setup system-deps  ## lab up/down for 5, 20, 50 departments; playbooks on 20 (root)
	$(BIN)/python bench/bench_lab.py

bench-deploy: setup system-deps  ## the sample county's stacks onto the local cloud (root; ~25 min)
	$(BIN)/python bench/bench_deploy.py

bench-migrate: setup system-deps  ## warm vs cold downtime at 1 GB under load; a wave of 10 (root; ~40 min)
	$(BIN)/python bench/bench_migration_lab.py

bench-dr: setup system-deps  ## 5 failovers per tier at 1 GB against a restore; a department drill (root; ~2 h)
	$(BIN)/python bench/bench_dr_lab.py

setup: $(STAMP)

$(STAMP): pyproject.toml requirements/lock.txt
	scripts/install-build-deps
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -r requirements/lock.txt
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --no-deps --no-build-isolation -e .
	touch $@

system-deps:
	scripts/install-system-deps

lock: setup  ## re-pin the whole tree after changing pyproject.toml
	(echo "# The whole dependency tree, pinned. Regenerate with: make lock"; \
	 $(BIN)/python -m pip freeze --all --exclude-editable | grep -E "^(setuptools|wheel)==" ; \
	 $(BIN)/python -m pip freeze --exclude-editable | grep -vi '^govcloud') > requirements/lock.txt

clean:
	rm -rf $(VENV) .govcloud .pytest_cache .mypy_cache .ruff_cache
