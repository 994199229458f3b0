"""CI identities: ``CiRoles`` (one environment's plan and deploy roles, each trusted from one GitHub
environment of one repository) and ``CiIdentities`` (the GitHub OIDC provider, the deploy boundary and
the roles of the environments that live in the account). tests/test_ci_identities.py judges the
synthesized policies with a policy evaluator."""

import json

import pytest
from cdktf import Testing
from cdktf_cdktf_provider_aws.iam_openid_connect_provider import IamOpenidConnectProvider
from cdktf_cdktf_provider_aws.iam_policy import IamPolicy
from cdktf_cdktf_provider_aws.iam_role import IamRole
from cdktf_cdktf_provider_aws.iam_role_policy import IamRolePolicy
from cdktf_cdktf_provider_aws.iam_role_policy_attachment import IamRolePolicyAttachment

from modules.ci_identities import CiIdentities, CiIdentitiesProps, CiRoles, CiRolesProps, Protected
from tests.constructs.conftest import ACCOUNT, Scoped, scoped

REPOSITORY = "acme/payments-cdktf"
PROVIDER_ARN = f"arn:aws:iam::{ACCOUNT}:oidc-provider/token.actions.githubusercontent.com"
STATE_BUCKET_ARN = f"arn:aws:s3:::payments-terraform-state-{ACCOUNT}-us-east-1"
PROTECTED = Protected(
    account_id=ACCOUNT, partition="aws", provider_arn=PROVIDER_ARN,
    boundary_arn=f"arn:aws:iam::{ACCOUNT}:policy/payment-deploy-boundary",
    role_arns=(f"arn:aws:iam::{ACCOUNT}:role/payment-ci-*",),
    trail_arn=f"arn:aws:cloudtrail:us-east-1:{ACCOUNT}:trail/payment-object-access-trail",
    trail_bucket_arn=f"arn:aws:s3:::payment-trail-logs-{ACCOUNT}", state_bucket_arn=STATE_BUCKET_ARN,
    state_region="us-east-1")


@pytest.fixture(scope="module")
def staging_roles() -> Scoped:
    return scoped(lambda scope: CiRoles(scope, "staging", CiRolesProps(
        repository=REPOSITORY, environment="staging", state_bucket_arn=STATE_BUCKET_ARN, protected=PROTECTED)))


def trust_of(roles: Scoped, name: str) -> dict:
    (role,) = [r for r in roles.resources(IamRole.TF_RESOURCE_TYPE).values() if r["name"] == name]
    (statement,) = json.loads(role["assume_role_policy"])["Statement"]
    return statement


def policy_of(roles: Scoped, role) -> dict:
    (policy,) = [json.loads(p["policy"]) for p in roles.resources(IamRolePolicy.TF_RESOURCE_TYPE).values()
                 if p["role"] == roles.ref(role.name)]
    return {s["Sid"]: s for s in policy["Statement"]}


def test_each_role_is_assumable_from_one_github_environment_only(staging_roles):
    plan, deploy = trust_of(staging_roles, "payment-ci-plan-staging"), trust_of(staging_roles, "payment-ci-deploy-staging")
    assert plan["Principal"] == {"Federated": PROVIDER_ARN}
    assert plan["Action"] == ["sts:AssumeRoleWithWebIdentity"]
    assert plan["Condition"] == {"StringEquals": {
        "token.actions.githubusercontent.com:aud": "sts.amazonaws.com",
        "token.actions.githubusercontent.com:sub": f"repo:{REPOSITORY}:environment:plan-staging"}}
    assert deploy["Condition"]["StringEquals"]["token.actions.githubusercontent.com:sub"] == \
        f"repo:{REPOSITORY}:environment:staging"


def test_plan_role_reads_its_own_state_only_and_no_secret_or_data(staging_roles):
    assert Testing.to_have_resource_with_properties(
        staging_roles.synthesized, IamRolePolicyAttachment.TF_RESOURCE_TYPE, {
            "policy_arn": "arn:aws:iam::aws:policy/ReadOnlyAccess",
            "role": staging_roles.ref(staging_roles.construct.plan_role.name)})
    plan = policy_of(staging_roles, staging_roles.construct.plan_role)
    own = f"{STATE_BUCKET_ARN}/payments/staging/terraform.tfstate"
    assert plan["ReadOwnState"]["Resource"] == [own]
    assert plan["DenyObjectReadsButOwnState"]["NotResource"] == [own, f"{own}.tflock"]
    assert "cognito-idp:DescribeUserPoolClient" in plan["DenySecretAndDataReads"]["Action"]
    assert plan["DenyApiKeyValues"]["Resource"][0] == "arn:aws:apigateway:*::/apikeys"
    assert plan["UseStateKeyThroughS3"]["Condition"]["ForAnyValue:StringEquals"] == {
        "kms:ResourceAliases": "alias/payment-terraform-state"}


def test_deploy_role_is_fenced_by_denies_that_name_itself(staging_roles):
    deploy = policy_of(staging_roles, staging_roles.construct.deploy_role)
    assert deploy["DenyRolesWithoutTheBoundary"]["Condition"] == {
        "StringNotEquals": {"iam:PermissionsBoundary": PROTECTED.boundary_arn}}
    assert deploy["DenyChangingAccountIdentities"]["Resource"] == [*PROTECTED.role_arns, PROVIDER_ARN]
    # Their states and their standbys' (payments/<env>-<dr_region>/), never its own.
    assert sorted(deploy["DenyOtherStates"]["Resource"]) == sorted(
        f"{STATE_BUCKET_ARN}/payments/{env}{suffix}/*" for env in ("dev", "prod", "state", "account")
        for suffix in ("", "-*"))


def test_ci_identities_make_roles_for_the_accounts_environments_only():
    built = scoped(lambda scope: CiIdentities(scope, "ci", CiIdentitiesProps(
        repository=REPOSITORY, environments=("prod",), state_bucket_arn=STATE_BUCKET_ARN,
        protected_trail_arn=PROTECTED.trail_arn, protected_trail_bucket_arn=PROTECTED.trail_bucket_arn,
        protected_role_arns=(), account_id=ACCOUNT, partition="aws", state_region="us-east-1")))
    assert Testing.to_have_resource_with_properties(built.synthesized, IamOpenidConnectProvider.TF_RESOURCE_TYPE, {
        "url": "https://token.actions.githubusercontent.com", "client_id_list": ["sts.amazonaws.com"]})
    assert Testing.to_have_resource_with_properties(built.synthesized, IamPolicy.TF_RESOURCE_TYPE, {
        "name": "payment-deploy-boundary"})
    assert sorted(r["name"] for r in built.resources(IamRole.TF_RESOURCE_TYPE).values()) == \
        ["payment-ci-deploy-prod", "payment-ci-plan-prod"]
