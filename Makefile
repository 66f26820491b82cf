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

.PHONY: install dev test lint format typecheck unit integration infrastructure e2e bench synth layer clean browser demo-js

$(UV):
	$(PYTHON) -m venv $(TOOLS)
	$(TOOLS)/bin/pip install --quiet uv==$(UV_VERSION)

$(VENV)/.synced: uv.lock pyproject.toml | $(UV)
	$(UV) sync --frozen --compile-bytecode --python $(PYTHON)
	touch $@

install: $(VENV)/.synced ## create .venv exactly from uv.lock

dev: install demo-js ## run the local stack (moto + local API Gateway) on 127.0.0.1:8080, demo on :5173/demo
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
e2e: install browser demo-js
	$(BIN)/pytest tests/e2e

test: lint browser demo-js ## lint, types, then unit, integration (moto), infrastructure (CDK) and e2e (local stack) suites
	$(BIN)/pytest tests/unit tests/integration tests/infrastructure tests/e2e

browser: ## Debian's chromium-headless-shell for the browser e2e tests (apt, as root; no upgrades)
	@command -v chromium-headless-shell >/dev/null || { \
		apt-get update && apt-get install -y --no-install-recommends chromium-headless-shell; }

# The browser client (clients/js) and the demo page's bundle, served by `wiresocket local` at /demo. Rebuilt when a
# source is newer than the bundle; `npm ci` (from package-lock.json) only when node_modules is missing or stale.
CLIENT_JS := clients/js
DEMO_BUNDLE := $(CLIENT_JS)/dist/demo.js
$(DEMO_BUNDLE): $(CLIENT_JS)/package.json $(CLIENT_JS)/package-lock.json $(CLIENT_JS)/build.mjs \
		$(wildcard $(CLIENT_JS)/src/*.js $(CLIENT_JS)/demo/*)
	cd $(CLIENT_JS) && { [ node_modules/.package-lock.json -nt package-lock.json ] || npm ci --no-audit --no-fund; }
	cd $(CLIENT_JS) && npm run build

demo-js: $(DEMO_BUNDLE) ## build the browser client and the demo page bundle (npm ci + esbuild)

bench: install ## benchmarks: one JSON line per result on stdout
	$(BIN)/python -m tests.bench

synth: install ## cdk synth: REGIONS (comma-separated license regions), optional PRIMARY and ISSUER_BASE
	npx --yes aws-cdk@2 synth -c regions=$(REGIONS) $(if $(PRIMARY),-c primaryRegion=$(PRIMARY)) \
		$(if $(ISSUER_BASE),-c issuerBase=$(ISSUER_BASE)) --quiet

layer: install ## build the Lambda layer into build/layer (manylinux wheels, no Docker)
	$(BIN)/python scripts/build_layer.py

clean:
	rm -rf $(VENV) $(TOOLS) cdk.out build .mypy_cache .ruff_cache .pytest_cache
