"""CI identities: ``CiRoles`` (one environment's plan and deploy roles, each trusted from one GitHub
environment of one repository) and ``CiStack`` (the GitHub OIDC provider and the roles of every
environment)."""

import json

import pytest
from cdktf import Testing
from cdktf_cdktf_provider_aws.iam_openid_connect_provider import IamOpenidConnectProvider
from cdktf_cdktf_provider_aws.iam_role import IamRole
from cdktf_cdktf_provider_aws.iam_role_policy import IamRolePolicy
from cdktf_cdktf_provider_aws.iam_role_policy_attachment import IamRolePolicyAttachment

from modules.ci_stack import CiRoles, CiRolesProps, CiStack
from tests.constructs.conftest import ACCOUNT, Scoped, scoped, settings_for, synth_stack

REPOSITORY = "acme/payments-cdktf"
PROVIDER_ARN = f"arn:aws:iam::{ACCOUNT}:oidc-provider/token.actions.githubusercontent.com"
STATE_BUCKET_ARN = f"arn:aws:s3:::payments-terraform-state-{ACCOUNT}-us-east-1"


@pytest.fixture(scope="module")
def staging_roles() -> Scoped:
    return scoped(lambda scope: CiRoles(scope, "staging", CiRolesProps(
        repository=REPOSITORY, environment="staging", provider_arn=PROVIDER_ARN,
        state_bucket_arn=STATE_BUCKET_ARN, state_key_arns=f"arn:aws:kms:us-east-1:{ACCOUNT}:key/*",
        state_region="us-east-1", partition="aws")))


def trust_of(roles: Scoped, name: str) -> dict:
    (role,) = [r for r in roles.resources(IamRole.TF_RESOURCE_TYPE).values() if r["name"] == name]
    (statement,) = json.loads(role["assume_role_policy"])["Statement"]
    return statement


def test_each_role_is_assumable_from_one_github_environment_only(staging_roles):
    plan, deploy = trust_of(staging_roles, "payment-ci-plan-staging"), trust_of(staging_roles, "payment-ci-deploy-staging")
    assert plan["Principal"] == {"Federated": PROVIDER_ARN}
    assert plan["Action"] == ["sts:AssumeRoleWithWebIdentity"]
    assert plan["Condition"] == {"StringEquals": {
        "token.actions.githubusercontent.com:aud": "sts.amazonaws.com",
        "token.actions.githubusercontent.com:sub": f"repo:{REPOSITORY}:environment:plan-staging"}}
    assert deploy["Condition"]["StringEquals"]["token.actions.githubusercontent.com:sub"] == \
        f"repo:{REPOSITORY}:environment:staging"


def test_plan_role_reads_its_own_state_only_and_no_data(staging_roles):
    assert Testing.to_have_resource_with_properties(
        staging_roles.synthesized, IamRolePolicyAttachment.TF_RESOURCE_TYPE, {
            "policy_arn": "arn:aws:iam::aws:policy/ReadOnlyAccess",
            "role": staging_roles.ref(staging_roles.construct.plan_role.name)})
    policies = {(p["role"], p["name"]): json.loads(p["policy"])["Statement"]
                for p in staging_roles.resources(IamRolePolicy.TF_RESOURCE_TYPE).values()}
    plan = {s["Sid"]: s for s in policies[(staging_roles.ref(staging_roles.construct.plan_role.name), "state")]}
    own = f"{STATE_BUCKET_ARN}/payments/staging/terraform.tfstate"
    assert plan["ReadOwnState"]["Resource"] == [own]
    assert plan["DenyObjectReadsButOwnState"]["NotResource"] == [own, f"{own}.tflock"]
    assert plan["DenyDataReads"]["Effect"] == "Deny" and "dynamodb:GetItem" in plan["DenyDataReads"]["Action"]
    assert plan["UseStateKeyThroughS3"]["Condition"]["ForAnyValue:StringEquals"] == {
        "kms:ResourceAliases": "alias/payment-terraform-state"}


def test_deploy_role_cannot_touch_other_environments_states(staging_roles):
    policies = {p["role"]: json.loads(p["policy"])["Statement"]
                for p in staging_roles.resources(IamRolePolicy.TF_RESOURCE_TYPE).values()}
    (deny,) = policies[staging_roles.ref(staging_roles.construct.deploy_role.name)]
    assert deny["Effect"] == "Deny"
    assert sorted(deny["Resource"]) == sorted(f"{STATE_BUCKET_ARN}/payments/{env}/*"
                                              for env in ("dev", "prod", "state", "ci"))


def test_ci_stack_has_one_oidc_provider_and_three_roles_per_environment():
    synthesized = synth_stack(lambda app: CiStack(app, settings_for("dev", github_repository=REPOSITORY)))
    assert Testing.to_have_resource_with_properties(synthesized, IamOpenidConnectProvider.TF_RESOURCE_TYPE, {
        "url": "https://token.actions.githubusercontent.com", "client_id_list": ["sts.amazonaws.com"]})
    assert sorted(r["name"] for r in json.loads(synthesized)["resource"][IamRole.TF_RESOURCE_TYPE].values()) == \
        sorted(f"payment-ci-{kind}-{env}" for kind in ("plan", "deploy", "reconcile")
               for env in ("dev", "staging", "prod"))
    parsed = json.loads(synthesized)
    assert set(parsed["output"]) == {f"{kind}-role-{env}" for kind in ("plan", "deploy", "reconcile")
                                     for env in ("dev", "staging", "prod")}
    assert parsed["terraform"]["backend"]["s3"]["key"] == "payments/ci/terraform.tfstate"
