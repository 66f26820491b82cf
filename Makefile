# One-command entry points. Each target installs what it needs first (from uv.lock, reproducibly).
SHELL := /bin/bash
PYTHON ?= python3
UV_VERSION := 0.13.9
TOOLS := .tools
UV := $(TOOLS)/bin/uv
VENV := .venv
BIN := $(VENV)/bin
REGIONS ?= aws-eu-west-1
export JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION := 20
# Bytecode caching on (some machines set PYTHONDONTWRITEBYTECODE): every local stack and CLI subprocess would
# otherwise recompile botocore, moto and rich from source. __pycache__ is git-ignored.
unexport PYTHONDONTWRITEBYTECODE

.PHONY: install dev test lint format typecheck unit integration infrastructure e2e bench synth layer clean browser

$(UV):
	$(PYTHON) -m venv $(TOOLS)
	$(TOOLS)/bin/pip install --quiet uv==$(UV_VERSION)

$(VENV)/.synced: uv.lock pyproject.toml | $(UV)
	$(UV) sync --frozen --compile-bytecode --python $(PYTHON)
	touch $@

install: $(VENV)/.synced ## create .venv exactly from uv.lock

dev: install ## run the local stack (moto + local API Gateway) on 127.0.0.1:8080
	$(BIN)/wiresocket local

lint: install ## ruff (lint + format check) and mypy --strict
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy layers/shared/python functions cdk tests

format: install
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

unit: install
	$(BIN)/pytest tests/unit
integration: install
	$(BIN)/pytest tests/integration
infrastructure: install
	$(BIN)/pytest tests/infrastructure
e2e: install browser
	$(BIN)/pytest tests/e2e

test: lint browser ## lint, types, then unit, integration (moto), infrastructure (CDK) and e2e (local stack) suites
	$(BIN)/pytest tests/unit tests/integration tests/infrastructure tests/e2e

browser: ## Debian's chromium-headless-shell for the browser e2e tests (apt, as root; no upgrades)
	@command -v chromium-headless-shell >/dev/null || { \
		apt-get update && apt-get install -y --no-install-recommends chromium-headless-shell; }

bench: install ## benchmarks: one JSON line per result on stdout
	$(BIN)/python -m tests.bench

synth: install ## cdk synth: REGIONS (comma-separated license regions), optional PRIMARY and ISSUER_BASE
	npx --yes aws-cdk@2 synth -c regions=$(REGIONS) $(if $(PRIMARY),-c primaryRegion=$(PRIMARY)) \
		$(if $(ISSUER_BASE),-c issuerBase=$(ISSUER_BASE)) --quiet

layer: install ## build the Lambda layer into build/layer (manylinux wheels, no Docker)
	$(BIN)/python scripts/build_layer.py

clean:
	rm -rf $(VENV) $(TOOLS) cdk.out build .mypy_cache .ruff_cache .pytest_cache
