# The campaign queue, on one machine. Two commands matter: `make up` and `make test`.
# Each sets up whatever is missing first (virtualenv, Python packages, the Kafka
# broker's jars from Maven Central, redis-server from Debian).

PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
PYTEST_ARGS ?=
# `TOKEN=$(make token)` must capture the token alone, even when run from another make.
MAKEFLAGS += --no-print-directory

.DEFAULT_GOAL := help
.PHONY: help setup up down status logs token test bench lint format schemas vendor lock clean

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-8s %s\n", $$1, $$2}'

$(STAMP): requirements.lock requirements-dev.lock pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements-dev.lock
	$(PY) -m pip install --quiet --disable-pip-version-check --no-deps -e .
	@touch $(STAMP)

setup: $(STAMP) ## create the virtualenv and install the pinned packages

up: $(STAMP) ## start Kafka, Redis, the Twilio sandbox and the four services (CLUSTER=3: three Kafka brokers; REDIS=sentinel: Redis with failover)
	$(PY) -m devstack up --kafka-nodes $(or $(CLUSTER),1) --redis $(or $(REDIS),single)

down: ## stop everything `make up` started
	@test -x $(PY) && $(PY) -m devstack down || true

status: ## what runs and its health
	@$(PY) -m devstack status

logs: ## the last lines of every service's log
	@$(PY) -m devstack logs

token: $(STAMP) ## print a new API token for the running stack (TOKEN_USER=name, TOKEN_ROLE=admin)
	@$(PY) -m devstack token --user $(or $(TOKEN_USER),marketer) --role $(or $(TOKEN_ROLE),marketer)

test: $(STAMP) ## run the tests against a fresh local Kafka, Redis and sandbox
	$(PY) -m devstack test -- $(PYTEST_ARGS)

bench: $(STAMP) ## measure precision, capacity, scale, control and API latency; rewrite BENCHMARKS.md
	$(PY) -m bench

lint: $(STAMP) ## ruff: lint and formatting
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .

format: $(STAMP) ## ruff: fix what can be fixed
	$(PY) -m ruff check --fix .
	$(PY) -m ruff format .

schemas: $(STAMP) ## rewrite the events' JSON Schemas in docs/events
	$(PY) -m shared.events.schemas docs/events

vendor: $(STAMP) ## fetch the vendored uPlot, Swagger UI and ReDoc through npm, check their pinned sha256, rewrite static/vendor
	$(PY) -m devstack.vendor

LOCK_VENV := .cache/lock-venv
lock: ## re-pin every package from pyproject.toml (runtime, then dev tools)
	rm -rf $(LOCK_VENV) && $(PYTHON) -m venv $(LOCK_VENV)
	$(LOCK_VENV)/bin/pip install --quiet .
	{ echo "# Runtime packages, every one pinned. Regenerate with \`make lock\`."; \
	  $(LOCK_VENV)/bin/pip freeze --exclude campaign-queue; } > requirements.lock
	$(LOCK_VENV)/bin/pip install --quiet ".[dev]"
	{ echo "# Development and test tools on top of the runtime set. Regenerate with \`make lock\`."; \
	  echo "-r requirements.lock"; \
	  $(LOCK_VENV)/bin/pip freeze --exclude campaign-queue | grep -vxFf requirements.lock; } > requirements-dev.lock
	rm -rf $(LOCK_VENV) build *.egg-info

clean: down ## remove run state and caches (keeps the virtualenv)
	rm -rf .run .cache .pytest_cache .ruff_cache .hypothesis bench/reference/node_modules
