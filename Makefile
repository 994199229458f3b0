# payments-cdktf: every target bootstraps what it needs and is a no-op when that is done.
#   make synth     synthesize the `dev` stack to cdktf.out/ (no AWS account needed)
#   make test      the whole test suite (unit, synth, terraform validate, checkov, rehearsal)
#   make docs      regenerate the generated documentation pages (scripts/docs.py)
# Settings: ENVIRONMENT_SUFFIX, PAYMENTS_* (docs/maintainers/settings.md); PAYMENTS_PROVIDER_MIRROR names an
# offline Terraform provider mirror. Unset, the targets that run Terraform look for a mirror already
# on the machine (scripts/find-provider-mirror) and otherwise use the public registry.

SHELL        := /bin/bash
PYTHON       ?= python3
VENV         := .venv
PY           := $(VENV)/bin/python
# checkov lives in its own venv: its exact pins (boto3, packaging) conflict with requirements.txt.
CHECKOV_VENV := .tools/checkov
# CDK Terrain for `make cdktn-readiness` only (requirements-cdktn.txt): constructs <10.8, not .venv's.
CDKTN_VENV   := .tools/cdktn
NODE_BIN     := $(CURDIR)/node_modules/.bin
# jsii and the cdktf CLI run on the project's Node 22 (the system Node 20 is end-of-life for jsii).
export JSII_NODE := $(NODE_BIN)/node
export PATH      := $(CURDIR)/$(VENV)/bin:$(NODE_BIN):$(PATH)
# Python caches compiled modules (__pycache__, gitignored; the asset packaging leaves them out), also
# when the caller's shell says not to: every worker, synth and CLI run of the suite would otherwise
# compile the project's modules and tests again (~4 s of CPU per process, pytest's collection 7 -> 3 s).
export PYTHONDONTWRITEBYTECODE :=
PYTEST_ARGS  ?=
WITH_MIRROR  := PAYMENTS_PROVIDER_MIRROR="$$(scripts/find-provider-mirror)"

.PHONY: deps synth synth-cli test bench rehearse rehearse-dr release plan diff deploy deploy-account cost clean bootstrap merchant-add merchant-remove merchant-list cdktn-readiness docs
.PHONY: merchant-suspend merchant-resume merchant-register merchant-standby canary-onboard fence unfence fence-status failover failback

$(VENV)/.installed: requirements.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements.txt
	touch $@

$(CHECKOV_VENV)/.installed: requirements-checkov.txt
	test -x $(CHECKOV_VENV)/bin/python || $(PYTHON) -m venv $(CHECKOV_VENV)
	$(CHECKOV_VENV)/bin/python -m pip install --quiet --disable-pip-version-check -r requirements-checkov.txt
	touch $@

$(CDKTN_VENV)/.installed: requirements-cdktn.txt
	test -x $(CDKTN_VENV)/bin/python || $(PYTHON) -m venv $(CDKTN_VENV)
	$(CDKTN_VENV)/bin/python -m pip install --quiet --disable-pip-version-check -r requirements-cdktn.txt
	touch $@

node_modules/.installed: package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	touch $@

deps: $(VENV)/.installed $(CHECKOV_VENV)/.installed node_modules/.installed

synth: deps
	$(PY) main.py
	@ls -1 cdktf.out/stacks

synth-cli: deps
	cdktf synth

# make diff|deploy [ENVIRONMENT_SUFFIX=prod]: `cdktf diff|deploy payments-<env>` with the project's
# Terraform CLI config in TF_CLI_CONFIG_FILE (build/terraform-<hash>.rc: the provider mirror when there is
# one, else the public registry). The committed .terraform.lock.hcl is in every synthesized stack, so
# the CLI never runs `terraform providers lock` (which would ignore a mirror).
CDKTF_ENV = ENVIRONMENT_SUFFIX=$(ENVIRONMENT_SUFFIX) CHECKPOINT_DISABLE=1 \
	TF_CLI_CONFIG_FILE="$$($(WITH_MIRROR) $(PY) -m scripts.terraform --cli-config)"
diff: deps
	$(CDKTF_ENV) cdktf diff payments-$(ENVIRONMENT_SUFFIX)

deploy: deps
	$(CDKTF_ENV) cdktf deploy payments-$(ENVIRONMENT_SUFFIX)

# make deploy-account ENVIRONMENT_SUFFIX=<an environment of the account>: the account stack
# (payments-account: API Gateway's logging role, the object trail, the CI identities), once per
# account after `make bootstrap`, before any environment; docs/operators/accounts.md.
deploy-account: deps
	$(CDKTF_ENV) cdktf deploy payments-account

test: deps
	@# Compiled once, before the workers and their subprocesses import the same modules at once.
	$(PY) -m compileall -q -j 0 main.py modules scripts lambdas tests docs/api/client >/dev/null
	$(WITH_MIRROR) $(PY) -m pytest $(PYTEST_ARGS)

bench: deps
	$(WITH_MIRROR) $(PY) -m scripts.bench

rehearse: deps
	$(WITH_MIRROR) $(PY) -m scripts.rehearse

# make rehearse-dr: the DR region's standby applied to a local endpoint, make failover and make failback
# through it (tests/test_rehearsal_dr.py runs scripts/rehearsal/dr.py; docs/operators/disaster-recovery.md
# "Rehearsal"). Not in make test: beside the main rehearsal it takes the suite from ~220 s to 312 s on 2
# cores (the budget is 240 s); CI runs it after make test.
rehearse-dr: deps
	$(WITH_MIRROR) $(PY) -m pytest -m dr_rehearsal -n 0 -s tests/test_rehearsal_dr.py

# make cdktn-readiness: synthesize every environment with CDK Terrain (cdktn + cdktn-provider-aws,
# imports renamed in a temporary copy) and compare with cdktf 0.21; report in build/cdktn-readiness/
# (docs/maintainers/framework-continuity.md). A maintainer's check, not part of `make test`.
cdktn-readiness: $(VENV)/.installed node_modules/.installed $(CDKTN_VENV)/.installed
	$(PY) -m scripts.cdktn_readiness --venv $(CDKTN_VENV)

# make docs: rewrite the generated reference pages (settings, stack outputs, the API contract) from the
# code and the synthesized stacks (scripts/docs.py); tests/test_docs.py fails while one is stale.
docs: deps
	$(PY) -m scripts.docs

clean:
	rm -rf cdktf.out build .pytest_cache

# make bootstrap ENVIRONMENT_SUFFIX=<env> PAYMENTS_ACCOUNT_ID=<12 digits> (or PAYMENTS_ENVIRONMENT_ACCOUNTS):
# once per account, with that account's credentials (the provider refuses any other). Creates the
# state bucket and key (payments-state stack), then moves that stack's own state into the bucket.
bootstrap: deps
	$(PY) main.py
	$(WITH_MIRROR) $(PY) -m scripts.bootstrap cdktf.out/stacks/payments-state

release: deps
	$(PY) -m scripts.release

# make cost [ENVIRONMENT_SUFFIX=prod] [BUDGET=15]: idle monthly cost of the environment's synthesized stacks
# (with dr_region, the standby's too), line by
# line, from the price table scripts/prices.json (docs/maintainers/cost.md); exit 1 over BUDGET.
cost: deps
	ENVIRONMENT_SUFFIX=$(ENVIRONMENT_SUFFIX) $(PY) main.py > /dev/null
	$(PY) -m scripts.cost --environment $(ENVIRONMENT_SUFFIX) $(if $(BUDGET),--budget $(BUDGET))

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

# make merchant-add NAME=acme [ENVIRONMENT_SUFFIX=dev] [SCOPES=payments/validate,payments/process]:
# the merchant's OAuth2 app client, API key and usage plan (docs/operators/merchants.md). Prints the client id
# and the command that fetches the secret once; never the secret. PAYMENTS_AWS_ENDPOINT for moto.
merchant-add: deps
	$(PY) -m scripts.merchants add "$(NAME)" --environment $(ENVIRONMENT_SUFFIX) $(if $(SCOPES),--scopes "$(SCOPES)")

merchant-remove: deps
	$(PY) -m scripts.merchants remove "$(NAME)" --environment $(ENVIRONMENT_SUFFIX)

merchant-list: deps
	$(PY) -m scripts.merchants list --environment $(ENVIRONMENT_SUFFIX)

# make merchant-suspend|merchant-resume NAME=acme [ENVIRONMENT_SUFFIX=dev]: flip the merchant's status in
# the merchant registry (nothing is deleted); the functions refuse / serve it again within 30 s.
# make merchant-register NAME=acme: record a merchant onboarded before the registry existed.
# make merchant-standby NAME=acme ENVIRONMENT_SUFFIX=prod: its client in the DR region's standby (idempotent).
# docs/operators/merchants.md#the-merchant-registry
merchant-suspend merchant-resume merchant-register merchant-standby: merchant-%: deps
	$(PY) -m scripts.merchants $* "$(NAME)" --environment $(ENVIRONMENT_SUFFIX)

# make canary-onboard [ENVIRONMENT_SUFFIX=dev]: onboard the environment's synthetic merchant (the canary's
# credentials, marked synthetic in the registry); nothing when it is onboarded already. docs/operators/canary.md
canary-onboard: deps
	$(PY) -m scripts.merchants canary --environment $(ENVIRONMENT_SUFFIX)

# make fence|unfence REGION=us-east-1 [ENVIRONMENT_SUFFIX=prod] [VIA=us-west-2] [REASON=...]: the region stores
# no payment (503 REGION_FENCED) / stores again; make fence-status. docs/operators/disaster-recovery.md
fence unfence: deps
	$(PY) -m scripts.fence $@ --environment $(ENVIRONMENT_SUFFIX) $(if $(REGION),--region $(REGION)) $(if $(VIA),--via $(VIA)) $(if $(REASON),--reason "$(REASON)")

fence-status: deps
	$(PY) -m scripts.fence status --environment $(ENVIRONMENT_SUFFIX) $(if $(VIA),--via $(VIA))

# make failover|failback [ENVIRONMENT_SUFFIX=prod] [ACCEPT_LAG_SECONDS=30] [SOURCE_LOST=1]: move payments to the
# DR region or back: fence, wait out the lag, promote, open, verify (docs/operators/disaster-recovery.md).
failover failback: deps
	$(PY) -m scripts.failover $@ --environment $(ENVIRONMENT_SUFFIX) $(if $(ACCEPT_LAG_SECONDS),--accept-lag-seconds $(ACCEPT_LAG_SECONDS)) $(if $(SOURCE_LOST),--source-lost)

# make cutover ENVIRONMENT_SUFFIX=prod [STEP=10|50|100]: move the new API's share of the merchant-facing
# name one rung up, only when every signal is green; make rollback: all traffic back to legacy now.
# docs/operators/migration.md. PAYMENTS_AWS_ENDPOINT points boto3 at a local endpoint.
.PHONY: cutover rollback reconcile audit-replay
cutover: deps
	$(PY) -m scripts.cutover cutover --environment $(ENVIRONMENT_SUFFIX) $(if $(STEP),--step $(STEP))

rollback: deps
	$(PY) -m scripts.cutover rollback --environment $(ENVIRONMENT_SUFFIX)

# make reconcile ENVIRONMENT_SUFFIX=prod [SINCE=2026-12-01] [UNTIL=2026-12-02] [JSON=build/reconcile.json]:
# ledger vs audit trail per merchant for the window (default: the 24 hours ending 10 minutes ago);
# exit 1 on any difference. make audit-replay ENVIRONMENT_SUFFIX=prod SINCE=... [UNTIL=...] | DLQ=1 [ACK=1]:
# rebuild missing audit objects from the ledger, create-only. docs/operators/reconciliation.md.
reconcile: deps
	$(PY) -m scripts.reconcile --environment $(ENVIRONMENT_SUFFIX) $(if $(SINCE),--since "$(SINCE)") \
		$(if $(UNTIL),--until "$(UNTIL)") $(if $(JSON),--json "$(JSON)")

audit-replay: deps
	$(PY) -m scripts.audit_replay --environment $(ENVIRONMENT_SUFFIX) $(if $(DLQ),--dlq $(if $(ACK),--ack)) \
		$(if $(SINCE),--since "$(SINCE)") $(if $(UNTIL),--until "$(UNTIL)") $(if $(DRY_RUN),--dry-run)
