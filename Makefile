# payments-cdktf: every target bootstraps what it needs and is a no-op when that is done.
#   make synth     synthesize the `dev` stack to cdktf.out/ (no AWS account needed)
#   make test      the whole test suite (unit, synth, terraform validate, checkov, rehearsal)
# Settings: ENVIRONMENT_SUFFIX, PAYMENTS_* (README "Settings"); PAYMENTS_PROVIDER_MIRROR names an
# offline Terraform provider mirror. Unset, the targets that run Terraform look for a mirror already
# on the machine (scripts/find-provider-mirror) and otherwise use the public registry.

SHELL        := /bin/bash
PYTHON       ?= python3
VENV         := .venv
PY           := $(VENV)/bin/python
NODE_BIN     := $(CURDIR)/node_modules/.bin
# jsii and the cdktf CLI run on the project's Node 22 (the system Node 20 is end-of-life for jsii).
export JSII_NODE := $(NODE_BIN)/node
export PATH      := $(CURDIR)/$(VENV)/bin:$(NODE_BIN):$(PATH)
export PYTHONDONTWRITEBYTECODE := 1
PYTEST_ARGS  ?=
WITH_MIRROR  := PAYMENTS_PROVIDER_MIRROR="$$(scripts/find-provider-mirror)"

.PHONY: deps synth synth-cli test bench rehearse release plan clean

$(VENV)/.installed: requirements.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements.txt
	touch $@

node_modules/.installed: package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	touch $@

deps: $(VENV)/.installed node_modules/.installed

synth: deps
	$(PY) main.py
	@ls -1 cdktf.out/stacks

synth-cli: deps
	cdktf synth

test: deps
	$(WITH_MIRROR) $(PY) -m pytest $(PYTEST_ARGS)

bench: deps
	$(WITH_MIRROR) $(PY) -m scripts.bench

rehearse: deps
	$(WITH_MIRROR) $(PY) -m scripts.rehearse

clean:
	rm -rf cdktf.out build .pytest_cache

release: deps
	$(PY) -m scripts.release

# make plan [ENVIRONMENT_SUFFIX=prod] [ALLOW_DESTROY="addr1 addr2"]: terraform plan of the synthesized
# stack (AWS credentials, or PAYMENTS_AWS_ENDPOINT=<url> for a rehearsal endpoint), then the plan
# summary and its gate on deleting or replacing stateful resources.
ENVIRONMENT_SUFFIX ?= dev
PLAN_DIR := cdktf.out/stacks/payments-$(ENVIRONMENT_SUFFIX)
plan: deps
	ENVIRONMENT_SUFFIX=$(ENVIRONMENT_SUFFIX) $(PY) main.py
	mkdir -p build
	$(WITH_MIRROR) $(PY) -m scripts.terraform $(PLAN_DIR) init -input=false -no-color
	$(WITH_MIRROR) $(PY) -m scripts.terraform $(PLAN_DIR) plan -input=false -no-color -lock-timeout=5m -out=plan.out
	$(WITH_MIRROR) $(PY) -m scripts.terraform $(PLAN_DIR) show -json plan.out > build/plan-$(ENVIRONMENT_SUFFIX).json
	$(PY) -m scripts.plan_summary build/plan-$(ENVIRONMENT_SUFFIX).json $(addprefix --allow-destroy ,$(ALLOW_DESTROY))

# make cutover ENVIRONMENT_SUFFIX=prod [STEP=10|50|100]: move the new API's share of the merchant-facing
# name one rung up, only when every signal is green; make rollback: all traffic back to legacy now.
# README "Migration runbook". PAYMENTS_AWS_ENDPOINT points boto3 at a local endpoint.
.PHONY: cutover rollback
cutover: deps
	$(PY) -m scripts.cutover cutover --environment $(ENVIRONMENT_SUFFIX) $(if $(STEP),--step $(STEP))

rollback: deps
	$(PY) -m scripts.cutover rollback --environment $(ENVIRONMENT_SUFFIX)
