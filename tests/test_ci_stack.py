"""payments-ci: GitHub OIDC roles per environment, each trusting one GitHub environment only."""

from __future__ import annotations

import json

import pytest

from scripts import terraform
from tests.support import ACCOUNT, BUCKET, REPOSITORY, Synthesized, statement, synthesized

ENVIRONMENTS = ("dev", "staging", "prod")
OIDC = "token.actions.githubusercontent.com"


@pytest.fixture(scope="module")
def ci(account_synth) -> Synthesized:
    return synthesized(account_synth, "payments-ci")


def test_no_ci_stack_without_a_repository(synth_root):
    assert not (synth_root / "stacks" / "payments-ci").exists()


def test_oidc_provider_is_github_for_sts(ci):
    provider = ci.one("aws_iam_openid_connect_provider")
    assert provider["url"] == f"https://{OIDC}" and provider["client_id_list"] == ["sts.amazonaws.com"]


@pytest.mark.parametrize("env", ENVIRONMENTS)
@pytest.mark.parametrize("kind, github_environment", [("plan", "plan-{env}"), ("deploy", "{env}"),
                                                     ("reconcile", "reconcile-{env}")])
def test_role_trusts_one_github_environment_of_one_repository(ci, env, kind, github_environment):
    role = ci.one("aws_iam_role", name=f"payment-ci-{kind}-{env}")
    (trust,) = ci.policy(role, "assume_role_policy")["Statement"]
    assert trust["Action"] == ["sts:AssumeRoleWithWebIdentity"] and trust["Effect"] == "Allow"
    assert trust["Principal"] == {"Federated": ci.ref("aws_iam_openid_connect_provider", "arn")}
    assert trust["Condition"] == {"StringEquals": {
        f"{OIDC}:aud": "sts.amazonaws.com",
        f"{OIDC}:sub": f"repo:{REPOSITORY}:environment:{github_environment.format(env=env)}"}}


def policies_of(ci: Synthesized, role_name: str) -> dict:
    ref = ci.ref("aws_iam_role", "name", name=role_name)
    inline = [ci.policy(p) for p in ci.resources("aws_iam_role_policy").values() if p["role"] == ref]
    managed = [a["policy_arn"] for a in ci.resources("aws_iam_role_policy_attachment").values() if a["role"] == ref]
    return {"inline": inline, "managed": managed}


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_plan_role_reads_only_its_own_state_and_writes_only_its_lock_file(ci, env):
    policies = policies_of(ci, f"payment-ci-plan-{env}")
    assert policies["managed"] == ["arn:${data.aws_partition.partition.partition}:iam::aws:policy/ReadOnlyAccess"]
    (inline,) = policies["inline"]
    prefix = f"arn:${{data.aws_partition.partition.partition}}:s3:::{BUCKET}/payments/{env}/terraform.tfstate"
    assert statement(inline, "ReadOwnState")["Resource"] == [prefix]
    lock = statement(inline, "WriteOwnLockFile")
    assert lock["Resource"] == [f"{prefix}.tflock"] and set(lock["Action"]) == {"s3:PutObject", "s3:DeleteObject"}
    deny = statement(inline, "DenyObjectReadsButOwnState")
    assert deny["Effect"] == "Deny" and deny["NotResource"] == [prefix, f"{prefix}.tflock"]
    data = statement(inline, "DenyDataReads")
    assert data["Effect"] == "Deny" and {"dynamodb:Scan", "dynamodb:GetItem", "secretsmanager:GetSecretValue"} <= set(data["Action"])
    key = statement(inline, "UseStateKeyThroughS3")
    assert key["Condition"]["ForAnyValue:StringEquals"] == {"kms:ResourceAliases": "alias/payment-terraform-state"}
    assert key["Condition"]["StringEquals"] == {"kms:ViaService": "s3.us-east-1.amazonaws.com"}


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_deploy_role_cannot_touch_another_environments_state(ci, env):
    (inline,) = policies_of(ci, f"payment-ci-deploy-{env}")["inline"]
    deny = statement(inline, "DenyOtherStates")
    others = {r.rsplit("/payments/", 1)[1] for r in deny["Resource"]}
    assert others == {f"{e}/*" for e in (*ENVIRONMENTS, "state", "ci") if e != env}


def test_ci_stack_is_valid_terraform(account_synth):
    workdir = account_synth / "payments-ci"
    terraform.run(workdir, ["init", "-backend=false", "-input=false", "-no-color"])
    result = json.loads(terraform.run(workdir, ["validate", "-no-color", "-json"]).stdout)
    assert result["valid"] is True, result["diagnostics"]


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_reconcile_role_only_reads_its_environments_ledger_and_trail(ci, env):
    policies = policies_of(ci, f"payment-ci-reconcile-{env}")
    assert policies["managed"] == []
    (inline,) = policies["inline"]
    actions = {a for st in inline["Statement"] for a in st["Action"]}
    assert actions == {"ssm:GetParameters", "dynamodb:Scan", "s3:ListBucket", "s3:GetObject", "kms:Decrypt"}
    assert all(st["Effect"] == "Allow" and st["Resource"] for st in inline["Statement"])
    account = "${data.aws_caller_identity.caller.account_id}"
    assert statement(inline, "ReadTheLedger")["Resource"] == [
        f"arn:${{data.aws_partition.partition.partition}}:dynamodb:us-east-1:{account}:table/payment-transactions-{env}"]
    bucket = f"arn:${{data.aws_partition.partition.partition}}:s3:::payment-audit-logs-{env}-{account}"
    assert statement(inline, "ReadTheTrail")["Resource"] == [f"{bucket}/audit/*"]
    assert statement(inline, "ListTheTrail")["Condition"] == {"StringLike": {"s3:prefix": ["audit/*"]}}
    key = statement(inline, "DecryptThroughS3AndDynamodb")["Condition"]
    assert key["ForAnyValue:StringEquals"] == {"kms:ResourceAliases": f"alias/payment-key-{env}"}
    # never Terraform state, never another environment
    text = json.dumps(inline)
    assert "terraform" not in text and all(other not in text for other in ENVIRONMENTS if other != env)


def test_reconcile_workflow_runs_in_the_github_environment_the_role_trusts():
    from modules.ci_stack import reconcile_environment
    from tests.test_workflows import load
    job = load("reconcile.yml")["jobs"]["reconcile"]
    assert job["environment"] == reconcile_environment("${{ matrix.environment }}")
