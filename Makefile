# The two commands of the README: `make start` and `make test`. Everything else is what they need.
SHELL := /bin/bash
PYTHON ?= python3.13
VENV := .venv
BIN := $(VENV)/bin
SAM_VENV := .venv-sam
SAM := $(SAM_VENV)/bin/sam
SAM_CLI_VERSION := 1.170.0
# checkov and awslabs' serverless-rules pin many packages of their own: a third venv.
CHECKS_VENV := .venv-checks
CHECKOV_VERSION := 3.3.30
CFN_LINT_SERVERLESS_VERSION := 0.3.6
LAYER_DIR := .build/layer
LAYER_SOURCES := layers/shared/requirements.txt layers/shared/Makefile $(shell find layers/shared/nexus -type f -not -path '*/__pycache__/*' 2>/dev/null)
PORT ?= 3000
export SAM_CLI_TELEMETRY := 0
# Python caches what it compiles (__pycache__), once per module, in every venv and process that
# make starts: uv installs no .pyc, and without the cache each test's subprocesses (moto, the
# emulated Lambda workers) compiled moto and botocore again at every start.
unexport PYTHONDONTWRITEBYTECODE

.PHONY: install install-run system-deps openapi start test backfill lint format typecheck layer sam-build sam-check checks pytest bench clean

# uv (pinned, from PyPI) builds both venvs in seconds where pip took minutes.
UV_VERSION := 0.13.9
UV_DIR := .build/uv
UV := $(UV_DIR)/bin/uv

# Each set-up step prints one line: what it did and how long it took.
# $(call timed,what,command)
define timed
@t0=$$(date +%s%N); { $(2); } || exit $$?; \
  printf '  %-56s %6.1f s\n' "$(1)" "$$(( ($$(date +%s%N) - t0) / 1000000 ))e-3"
endef

# The venvs at once: they share nothing but uv's cache. `make start` needs only the first two.
RUN_VENVS := $(VENV)/.installed $(SAM_VENV)/.installed
# Under a parallel make (`make test`) the jobserver already runs them side by side.
parallel = $(if $(findstring jobserver,$(MAKEFLAGS)),,-j$(1))
install: $(UV)
	@$(MAKE) -s --no-print-directory $(call parallel,3) $(RUN_VENVS) $(CHECKS_VENV)/.installed

install-run: $(UV)
	@$(MAKE) -s --no-print-directory $(call parallel,2) $(RUN_VENVS)

$(UV):
	$(call timed,uv $(UV_VERSION) from PyPI,$(PYTHON) -m pip install --quiet --disable-pip-version-check \
	  --no-warn-script-location --target $(UV_DIR) uv==$(UV_VERSION) 2>/dev/null)

# From Debian: `file` checks the built layer's architecture; the cache contract tests run redis-server;
# the inbox page's test drives chromium through chromedriver.
system-deps:
	@missing=""; \
	command -v file >/dev/null || missing="$$missing file"; \
	command -v redis-server >/dev/null || missing="$$missing redis-server"; \
	command -v chromium >/dev/null || missing="$$missing chromium"; \
	command -v chromedriver >/dev/null || missing="$$missing chromium-driver"; \
	if [ -n "$$missing" ]; then \
	  echo "installing from Debian:$$missing"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null; \
	fi

# The app's venv: the layer's dependencies plus the tools that check and test it.
$(VENV)/.installed: pyproject.toml layers/shared/requirements.txt | $(UV)
	$(call timed,app venv $(VENV) (layer deps + dev tools),$(UV) venv --quiet --allow-existing \
	  --python $(PYTHON) $(VENV) && $(UV) pip install --quiet --python $(BIN)/python --group dev)
	@touch $@

# aws-sam-cli pins older boto3/pydantic, so it lives in its own venv.
$(SAM_VENV)/.installed: | $(UV)
	$(call timed,sam venv $(SAM_VENV) (aws-sam-cli $(SAM_CLI_VERSION)),$(UV) venv --quiet --allow-existing \
	  --python $(PYTHON) $(SAM_VENV) && $(UV) pip install --quiet --python $(SAM_VENV)/bin/python \
	  aws-sam-cli==$(SAM_CLI_VERSION))
	@touch $@

$(CHECKS_VENV)/.installed: | $(UV)
	$(call timed,checks venv $(CHECKS_VENV) (checkov $(CHECKOV_VERSION) + serverless-rules),$(UV) venv --quiet \
	  --allow-existing --python $(PYTHON) $(CHECKS_VENV) && $(UV) pip install --quiet --python $(CHECKS_VENV)/bin/python \
	  checkov==$(CHECKOV_VERSION) cfn-lint-serverless==$(CFN_LINT_SERVERLESS_VERSION) cfn-lint==1.58.0)
	@touch $@

# The layer for this machine's architecture (the local runner and the event tests use it);
# `sam build` makes the arm64 one that is deployed. Both run layers/shared/Makefile, so
# neither ships boto3/botocore: the runtime provides them (locally: .build/runtime, the venv's).
layer: $(LAYER_DIR)/.built
$(LAYER_DIR)/.built: $(VENV)/.installed $(LAYER_SOURCES)
	@rm -rf $(LAYER_DIR)
	$(call timed,layer for this machine ($(LAYER_DIR)),$(MAKE) --no-print-directory -s -f layers/shared/Makefile \
	  build-SharedLayer ARTIFACTS_DIR=$(abspath $(LAYER_DIR)) PLATFORM=host PYTHON=$(abspath $(BIN)/python) \
	  UV=$(abspath $(UV)))
	@touch $@

# docs/openapi.json: the OpenAPI document of the routes, from the functions' own resolvers. It is
# committed; tests/e2e/test_openapi.py fails when it differs from what the code generates.
openapi: install-run layer
	$(BIN)/python -m local openapi --out docs/openapi.json

# make start CONFLICT_RATE=0.2 TRANSACTION_MS=20: DynamoDB's transaction conflicts, as a fault.
CONFLICT_RATE ?= 0
TRANSACTION_MS ?= 0
# make start DEBUG=GetUserFunction [DEBUG_PORT=5678]: that function's worker runs under debugpy.
DEBUG ?=
DEBUG_PORT ?= 5678
# make start PERSIST=1: start from the data the last such start saved when it stopped (local/README.md).
PERSIST ?=
start: install-run layer
	$(BIN)/python -m local start --port $(PORT) --conflict-rate $(CONFLICT_RATE) --transaction-ms $(TRANSACTION_MS) \
	  $(if $(filter-out 0 no false,$(PERSIST)),--persist) $(if $(DEBUG),--debug $(DEBUG) --debug-port $(DEBUG_PORT))

# Issue 23's migration: index a users table written before index entries (docs/OPERATIONS.md).
# make backfill TABLE=<the stack's UsersTable> [ARGS="--start-after <key> --list-shards N"]
backfill: install-run
	@test -n "$(TABLE)" || { echo "usage: make backfill TABLE=<UsersTable physical name>"; exit 2; }
	PYTHONPATH=layers/shared $(BIN)/python -m nexus.users.backfill --table "$(TABLE)" $(ARGS)

format: $(VENV)/.installed
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

lint: $(VENV)/.installed
	$(BIN)/ruff format --check .
	$(BIN)/ruff check .

typecheck: $(VENV)/.installed
	$(BIN)/mypy

sam-build: install-run
	PYTHON=$(abspath $(BIN)/python) UV=$(abspath $(UV)) $(SAM) build --cached --parallel
	@# sam build --cached reuses a layer built before: one without bytecode (an older build with
	@# another python3) or for another architecture is built again, never deployed as it is.
	@if ! $(BIN)/python .ci/check_layer.py .aws-sam/build/SharedLayer/python; then \
	  echo "rebuilding the layer without sam's cache"; \
	  PYTHON=$(abspath $(BIN)/python) UV=$(abspath $(UV)) $(SAM) build --parallel && \
	  $(BIN)/python .ci/check_layer.py .aws-sam/build/SharedLayer/python; \
	fi

sam-check: install-run
	$(BIN)/cfn-lint template.yaml
	$(SAM) validate --lint --region us-east-1

# serverless-rules and checkov, both cache modes, skips only from .ci/skipped-checks.yaml.
checks: install
	$(BIN)/python .ci/checks.py

# The local runner's tests use the Lambda runtime interface emulator that aws-sam-cli ships.
pytest: install-run layer
	$(BIN)/pytest -n 2 --dist loadfile --no-loadscope-reorder --cov --cov-report=term

# The checks before pytest share nothing: two at a time, each one's output kept together.
test: system-deps install
	@$(MAKE) --no-print-directory -j2 --output-sync=target lint typecheck sam-check checks sam-build
	@$(MAKE) --no-print-directory pytest

# Cold start, AWS calls, warm overhead, layer size, scale (docs/PERFORMANCE.md). Not part of `test`.
bench: install-run layer sam-build
	$(BIN)/python -m bench

clean:
	rm -rf .build .aws-sam .pytest_cache .mypy_cache .ruff_cache .coverage
