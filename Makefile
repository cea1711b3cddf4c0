# lambda-suite: every command a developer or CI needs. `make help` lists them.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
export SAM_CLI_TELEMETRY := 0
export PYTHONPATH := $(CURDIR):$(CURDIR)/layers/common
# Subprocesses (sam, moto) come from the project venv even when it is not activated.
export PATH := $(CURDIR)/$(VENV)/bin:$(PATH)
STACK ?= lambda-suite-dev
FUNCTION_DIRS := $(sort $(wildcard functions/*))
empty :=
space := $(empty) $(empty)
# Tools and benchmarks import function logic modules (never app.py), so all folders can share one path.
ALL_MODULE_PATHS := layers/common:$(subst $(space),:,$(FUNCTION_DIRS))

.PHONY: help setup images lint types test test-unit test-template test-localcloud test-sam \
        demo bench bench-cpu bench-fanout build deploy dlq-list dlq-redrive stream-replay reconcile soak clean

help:  ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | sed 's/:.*## /\t/' | expand -t 18

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(VENV)/.installed: requirements-dev.lock | $(BIN)/python
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -r requirements-dev.lock
	touch $@

setup: $(VENV)/.installed  ## create .venv with the pinned tools (requirements-dev.lock)

images:  ## start a Docker engine and make the Lambda runtime/build images available (root)
	bash .ci/docker-engine.sh
	bash .ci/lambda-images.sh

# checkov pins boto3==1.35.49 (and an old packaging and networkx), which cannot share .venv with
# aws-sam-cli and moto: it runs from its own venv, built from requirements-checkov.lock.
CHECKOV_VENV := .venv-checkov
$(CHECKOV_VENV)/.installed: requirements-checkov.lock
	$(PYTHON) -m venv $(CHECKOV_VENV)
	$(CHECKOV_VENV)/bin/pip install --quiet --upgrade pip
	$(CHECKOV_VENV)/bin/pip install --quiet -r requirements-checkov.lock
	touch $@

lint: setup $(CHECKOV_VENV)/.installed  ## ruff; cfn-lint (+ informational checks, serverless rules); checkov on the translated template
	$(BIN)/ruff check .
	$(BIN)/cfn-lint --include-checks I --append-rules cfn_lint_serverless.rules -- template.yaml
	$(BIN)/python -m tools.translate_template --out .aws-sam/lint/template.json
	$(CHECKOV_VENV)/bin/checkov --quiet --compact --skip-download --framework cloudformation -f .aws-sam/lint/template.json

types: setup  ## mypy (strict) on the layer, the tooling and each function folder on its own
	MYPYPATH=$(ALL_MODULE_PATHS) $(BIN)/mypy layers/common/lambda_toolkit tools localcloud bench
	@for dir in $(FUNCTION_DIRS); do \
	  echo "mypy $$dir"; MYPYPATH=layers/common:$$dir $(BIN)/mypy $$dir || exit 1; \
	done

test-unit: setup  ## unit tests (in-process moto)
	$(BIN)/pytest tests/unit -q -n 2

test-template: setup  ## template rules + sam validate --lint
	$(BIN)/pytest tests/template -q

test-localcloud: setup  ## contract and end-to-end tests on the local cloud
	$(BIN)/pytest tests/localcloud -q

test-sam: setup  ## sam build --use-container + sam local invoke in Docker (needs `make images`)
	$(BIN)/pytest tests/sam -q

test: lint types test-unit test-template test-sam test-localcloud  ## everything CI runs (test-sam builds what the Docker invoker test uses)

demo: setup  ## the whole suite on the local cloud, with a reconciled report
	$(BIN)/python -m localcloud demo

bench: setup  ## local cloud pipeline throughput vs a direct loop
	$(BIN)/python bench/localcloud_pipeline.py

bench-cpu: setup  ## CPU speed-up chart and table (bench/results/)
	$(BIN)/python bench/cpu_speedup.py && $(BIN)/python bench/parallel_map_overhead.py

bench-fanout: setup  ## Map fan-out scaling on the local cloud
	$(BIN)/python bench/fanout_scaling.py

soak: setup  ## orders with injected faults, duplicates and malformed messages on the local cloud, reconciled
	$(BIN)/python -m localcloud soak --orders $${ORDERS:-300}

build: setup  ## sam build in the build container
	$(BIN)/sam build --use-container --skip-pull-image --docker-network host

deploy: build  ## sam deploy (samconfig.toml; ENV=prod for production)
	$(BIN)/sam deploy --config-env $${ENV:-default}

dlq-list: setup  ## list WorkDeadLetterQueue with reasons (STACK=..., or QUEUE_URL=...)
	$(BIN)/python -m tools.dlq list $(if $(QUEUE_URL),--queue-url $(QUEUE_URL),--stack-name $(STACK))

dlq-redrive: setup  ## move WorkDeadLetterQueue back to WorkQueue (STACK=...)
	$(BIN)/python -m tools.dlq redrive --stack-name $(STACK)

stream-replay: setup  ## replay StreamFailureQueue's failed ranges from the stream (STACK=..., DRY_RUN=1)
	$(BIN)/python -m tools.stream_replay --stack-name $(STACK) $(if $(DRY_RUN),--dry-run)

reconcile: setup  ## recompute aggregates from ItemsTable and report differences (STACK=...)
	$(BIN)/python -m tools.reconcile_aggregates --stack-name $(STACK)

clean:  ## remove build output and caches (keeps .venv)
	rm -rf .aws-sam .pytest_cache .mypy_cache .ruff_cache .localcloud
