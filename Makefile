# lambda-suite: every command a developer or CI needs. `make help` lists them.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
export SAM_CLI_TELEMETRY := 0
# Subprocesses (sam, moto) come from the project venv even when it is not activated.
export PATH := $(CURDIR)/$(VENV)/bin:$(PATH)
STACK ?= lambda-suite-dev
FUNCTION_DIRS := $(sort $(wildcard functions/*))

.PHONY: help setup images lint types test test-unit test-template test-localcloud test-sam test-readme \
        demo bench bench-e2e bench-moto bench-cpu bench-fanout bench-cost bench-cold-start memory-sweep memory-sweep-aws build deploy dlq-list dlq-redrive stream-replay reconcile soak clean

help:  ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | sed 's/:.*## /\t/' | expand -t 18

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

# The project installs itself, editable (pyproject.toml): lambda_toolkit, the function modules,
# localcloud, tools and bench then import the same way under make, pytest and a plain shell.
$(VENV)/.installed: requirements-dev.lock pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -r requirements-dev.lock
	$(BIN)/pip install --quiet --no-deps --editable .
	touch $@

setup: $(VENV)/.installed  ## create .venv: the pinned tools (requirements-dev.lock) and this project, editable

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

lint: setup $(CHECKOV_VENV)/.installed  ## ruff (+ mccabe); import-linter contracts; ASL files (statelint); cfn-lint (+ I checks, serverless rules); checkov
	$(BIN)/ruff check .
	$(BIN)/lint-imports
	$(BIN)/python -m tools.asl_lint statemachines/*.asl.json
	$(BIN)/cfn-lint --include-checks I --append-rules cfn_lint_serverless.rules -- template.yaml
	$(BIN)/python -m tools.translate_template --out .aws-sam/lint/template.json
	$(CHECKOV_VENV)/bin/checkov --quiet --compact --skip-download --framework cloudformation -f .aws-sam/lint/template.json

types: setup  ## mypy (strict) on the layer, the tooling and each function folder on its own
	$(BIN)/mypy layers/common/lambda_toolkit layers/common/lambda_platform.py tools localcloud bench
	@# Each function folder on its own: every one has an app.py, as every Lambda /var/task does.
	@for dir in $(FUNCTION_DIRS); do \
	  echo "mypy $$dir"; $(BIN)/mypy $$dir || exit 1; \
	done

test-unit: setup  ## unit tests (in-process moto), with a coverage report and its floor
	$(BIN)/pytest tests/unit -q -n 2 --cov --cov-report=term --cov-fail-under=90

test-template: setup  ## template rules + sam validate --lint
	$(BIN)/pytest tests/template -q

test-localcloud: setup  ## contract and end-to-end tests on the local cloud (4 workers: they mostly wait; CPU-share tests alone after)
	$(BIN)/pytest tests/localcloud -q -n 4 -m "not measures_cpu"
	$(BIN)/pytest tests/localcloud -q -m measures_cpu

test-sam: setup  ## sam build --use-container + sam local invoke in Docker (needs `make images`; 3 workers, one build)
	$(BIN)/pytest tests/sam -q -n 3

test-readme: setup  ## every command of README.md, run in order in a fresh clone of HEAD (commit first)
	$(BIN)/pytest tests/readme -q

test: lint types test-unit test-template test-sam test-localcloud test-readme  ## everything CI runs (test-sam builds what the Docker invoker test uses)

demo: setup  ## the whole suite on the local cloud, with a reconciled report
	$(BIN)/python -m localcloud demo

bench: setup  ## local cloud pipeline throughput vs a direct loop
	$(BIN)/python bench/localcloud_pipeline.py

bench-e2e: setup  ## orders end to end (send -> ItemsTable -> AggregatesTable, reconciled) vs the moto floor in the same run
	$(BIN)/python bench/end_to_end_throughput.py --orders $${ORDERS:-400}

bench-moto: setup  ## one AWS call's cost on moto as shipped vs the local cloud's moto server (cheroot + speed-ups), side by side
	$(BIN)/python bench/moto_server_calls.py

bench-cpu: setup  ## CPU speed-up chart and table (bench/results/)
	$(BIN)/python bench/cpu_speedup.py && $(BIN)/python bench/parallel_map_overhead.py

bench-fanout: setup  ## Map fan-out scaling on the local cloud
	$(BIN)/python bench/fanout_scaling.py

bench-cost: setup  ## AWS cost per million orders from the real handlers' counted calls, before vs after (bench/results/aws_cost.md)
	$(BIN)/python bench/aws_cost.py

bench-cold-start: setup  ## each function's init median vs a bare boto3 and a Powertools handler of the same shape
	$(BIN)/python bench/cold_start.py

# The sweep's own local cloud (its own state folder and port: a cloud already up is left alone), with the
# sandbox's CPU limits on CpuBenchmarkFunction, so each memory size gets the CPU share Lambda gives it.
SWEEP_PORT ?= 4599
SWEEP_STATE := .localcloud/memory-sweep
SWEEP_ENDPOINT := AWS_ENDPOINT_URL=http://127.0.0.1:$(SWEEP_PORT) AWS_ACCESS_KEY_ID=testing \
                  AWS_SECRET_ACCESS_KEY=testing AWS_DEFAULT_REGION=us-east-1

memory-sweep: setup  ## CpuBenchmarkFunction at each memory size on a local cloud (MEMORY=512,1769,3538 EVENT=file OUT=folder): table + chart in bench/results/
	$(BIN)/localcloud up --detach --no-pollers --cpu-limits CpuBenchmarkFunction --state-dir $(SWEEP_STATE) --port $(SWEEP_PORT)
	@# The cloud goes down whatever the sweep's outcome (Ctrl-C too: the sweep restores the memory size first).
	status=0; $(SWEEP_ENDPOINT) $(BIN)/python -m tools.memory_sweep $(if $(MEMORY),--memory $(MEMORY)) $(if $(EVENT),--event $(EVENT)) $(if $(OUT),--out $(OUT)) || status=$$?; \
	  $(BIN)/localcloud down --state-dir $(SWEEP_STATE); exit $$status

memory-sweep-aws: setup  ## the same sweep on AWS: the deployed stack's CpuBenchmarkFunction (STACK=..., MEMORY=..., AWS_PROFILE)
	$(BIN)/python -m tools.memory_sweep --stack-name $(STACK) $(if $(MEMORY),--memory $(MEMORY)) $(if $(EVENT),--event $(EVENT))

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
