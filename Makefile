# The two commands of the README: `make start` and `make test`. Everything else is what they need.
SHELL := /bin/bash
PYTHON ?= python3.13
VENV := .venv
BIN := $(VENV)/bin
SAM_VENV := .venv-sam
SAM := $(SAM_VENV)/bin/sam
SAM_CLI_VERSION := 1.170.0
LAYER_DIR := .build/layer
LAYER_SOURCES := layers/shared/requirements.txt layers/shared/Makefile $(shell find layers/shared/nexus -type f -not -path '*/__pycache__/*' 2>/dev/null)
PORT ?= 3000
export SAM_CLI_TELEMETRY := 0

.PHONY: install system-deps start test lint format typecheck layer sam-build sam-check pytest bench clean

install: $(VENV)/.installed $(SAM_VENV)/.installed

# From Debian: `file` checks the built layer's architecture; the cache contract tests run redis-server.
system-deps:
	@missing=""; \
	command -v file >/dev/null || missing="$$missing file"; \
	command -v redis-server >/dev/null || missing="$$missing redis-server"; \
	if [ -n "$$missing" ]; then \
	  echo "installing from Debian:$$missing"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null; \
	fi

# The app's venv: the layer's dependencies plus the tools that check and test it.
$(VENV)/.installed: pyproject.toml layers/shared/requirements.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet --group dev
	touch $@

# aws-sam-cli pins older boto3/pydantic, so it lives in its own venv.
$(SAM_VENV)/.installed:
	$(PYTHON) -m venv $(SAM_VENV)
	$(SAM_VENV)/bin/pip install --quiet --upgrade pip
	$(SAM_VENV)/bin/pip install --quiet aws-sam-cli==$(SAM_CLI_VERSION)
	touch $@

# The layer for this machine's architecture (the local runner and the event tests use it);
# `sam build` makes the arm64 one that is deployed. Both run layers/shared/Makefile, so
# neither ships boto3/botocore: the runtime provides them (locally: .build/runtime, the venv's).
layer: $(LAYER_DIR)/.built
$(LAYER_DIR)/.built: $(VENV)/.installed $(LAYER_SOURCES)
	rm -rf $(LAYER_DIR)
	$(MAKE) --no-print-directory -f layers/shared/Makefile build-SharedLayer \
	  ARTIFACTS_DIR=$(abspath $(LAYER_DIR)) PLATFORM=host PYTHON=$(abspath $(BIN)/python)
	touch $@

start: install layer
	$(BIN)/python -m local start --port $(PORT)

format: $(VENV)/.installed
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

lint: $(VENV)/.installed
	$(BIN)/ruff format --check .
	$(BIN)/ruff check .

typecheck: $(VENV)/.installed
	$(BIN)/mypy

sam-build: $(VENV)/.installed $(SAM_VENV)/.installed
	PYTHON=$(abspath $(BIN)/python) $(SAM) build --cached --parallel
	@so=$$(find .aws-sam/build/SharedLayer -name '_pydantic_core*.so' | head -n 1); \
	  file "$$so" | grep -q 'aarch64' || { echo "layer's pydantic_core is not arm64: $$so"; exit 1; }; \
	  echo "arm64 layer ok: $$(basename $$so)"

sam-check: $(VENV)/.installed $(SAM_VENV)/.installed
	$(BIN)/cfn-lint template.yaml
	$(SAM) validate --lint --region us-east-1

# The local runner's tests use the Lambda runtime interface emulator that aws-sam-cli ships.
pytest: $(VENV)/.installed $(SAM_VENV)/.installed layer
	$(BIN)/pytest --cov --cov-report=term

test: system-deps lint typecheck sam-check sam-build pytest

# Cold start, AWS calls, warm overhead, layer size, scale (docs/PERFORMANCE.md). Not part of `test`.
bench: $(VENV)/.installed $(SAM_VENV)/.installed layer sam-build
	$(BIN)/python -m bench

clean:
	rm -rf .build .aws-sam .pytest_cache .mypy_cache .ruff_cache .coverage
