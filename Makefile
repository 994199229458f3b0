# payments-cdktf: every target bootstraps what it needs and is a no-op when that is done.
#   make synth     synthesize the `dev` stack to cdktf.out/ (no AWS account needed)
#   make test      the whole test suite (unit, synth, terraform validate, checkov, rehearsal)
# Settings: ENVIRONMENT_SUFFIX, PAYMENTS_* (README "Settings"); PAYMENTS_PROVIDER_MIRROR names an
# offline Terraform provider mirror (unset: the public registry).

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

.PHONY: deps synth synth-cli test bench rehearse release clean

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
	$(PY) -m pytest $(PYTEST_ARGS)

bench: deps
	$(PY) -m scripts.bench

rehearse: deps
	$(PY) -m scripts.rehearse

clean:
	rm -rf cdktf.out build .pytest_cache

release: deps
	$(PY) -m scripts.release
