"""CI identities in each account stack, read from the synthesized JSON of three accounts and judged by
a policy evaluator (tests/policy_eval.py) with the AWS managed policies taken as "allow everything":
plan roles cannot make any read of modules/ci_denied_reads.py, deploy roles cannot lift their own
fences, create an unbounded role, or reach another account."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from modules.ci_denied_reads import API_KEY_PATHS, DENIED_READS
from scripts import terraform
from tests.policy_eval import ALLOW_EVERYTHING, decide
from tests.support import ACCOUNTS, REPOSITORY, Synthesized, statement, synthesized

ENVIRONMENTS = tuple(ACCOUNTS)
OIDC = "token.actions.githubusercontent.com"
STATE_ALIAS = "alias/payment-terraform-state"
OTHER_KEY_ALIAS = "alias/payment-dev"


def bucket(env: str) -> str:
    return f"payments-terraform-state-{ACCOUNTS[env]}-us-east-1"


def ci(three_accounts: Path, env: str) -> Synthesized:
    return synthesized(three_accounts / env / "stacks", "payments-account")


def resolved(stack: Synthesized, env: str, text: str) -> str:
    """The policy text with the tokens of the account stack replaced by what they are in ``env``'s
    account (partition, account id, the OIDC provider and the trail's log bucket)."""
    account = ACCOUNTS[env]
    text = text.replace("${data.aws_partition.partition.partition}", "aws")
    text = text.replace("${data.aws_caller_identity.caller.account_id}", account)
    text = re.sub(r"\$\{aws_iam_openid_connect_provider\.[\w-]+\.arn\}",
                  f"arn:aws:iam::{account}:oidc-provider/{OIDC}", text)
    return re.sub(r"\$\{aws_s3_bucket\.[\w-]+\.arn\}", f"arn:aws:s3:::payment-trail-logs-{account}", text)


def policies(stack: Synthesized, env: str, role_name: str) -> list[dict]:
    """Every identity policy of the role: its inline policies and, per managed attachment, the
    worst case (everything allowed)."""
    ref = stack.ref("aws_iam_role", "name", name=role_name)
    inline = [json.loads(resolved(stack, env, p["policy"]))
              for p in stack.resources("aws_iam_role_policy").values() if p["role"] == ref]
    managed = [a for a in stack.resources("aws_iam_role_policy_attachment").values() if a["role"] == ref]
    assert inline and managed, role_name
    return [*inline, *(ALLOW_EVERYTHING for _ in managed)]


@pytest.fixture(scope="module", params=ENVIRONMENTS)
def env(request) -> str:
    return request.param


def test_no_ci_identities_without_a_repository(account_stack):
    assert not account_stack.resources("aws_iam_openid_connect_provider")
    assert not [r for r in account_stack.resources("aws_iam_role").values() if r["name"].startswith("payment-ci-")]


def test_each_account_has_the_ci_roles_of_its_own_environment_only(three_accounts, env):
    """No role in one environment's account is assumable by another environment's jobs."""
    stack = ci(three_accounts, env)
    names = {r["name"] for r in stack.resources("aws_iam_role").values() if r["name"].startswith("payment-ci-")}
    assert names == {f"payment-ci-plan-{env}", f"payment-ci-deploy-{env}", f"payment-ci-reconcile-{env}"}
    provider = stack.one("aws_iam_openid_connect_provider")
    assert provider["url"] == f"https://{OIDC}" and provider["client_id_list"] == ["sts.amazonaws.com"]


@pytest.mark.parametrize("kind, github_environment", [("plan", "plan-{env}"), ("deploy", "{env}"),
                                                     ("reconcile", "reconcile-{env}")])
def test_role_trusts_one_github_environment_through_its_own_accounts_provider(three_accounts, env, kind,
                                                                              github_environment):
    stack = ci(three_accounts, env)
    role = stack.one("aws_iam_role", name=f"payment-ci-{kind}-{env}")
    (trust,) = stack.policy(role, "assume_role_policy")["Statement"]
    assert trust["Action"] == ["sts:AssumeRoleWithWebIdentity"] and trust["Effect"] == "Allow"
    assert trust["Principal"] == {"Federated": stack.ref("aws_iam_openid_connect_provider", "arn")}
    assert trust["Condition"] == {"StringEquals": {
        f"{OIDC}:aud": "sts.amazonaws.com",
        f"{OIDC}:sub": f"repo:{REPOSITORY}:environment:{github_environment.format(env=env)}"}}


# ------------------------------------------------------------------------------------------ plan roles

def _key(alias: str, service: str) -> tuple[str, dict]:
    return "arn:aws:kms:us-east-1:{account}:key/1234", {"kms:ResourceAliases": [alias], "kms:ViaService": service}


# Requests that exercise every denied read: (resource, context). ``{account}``/``{bucket}`` are filled.
DENIED_REQUESTS: dict[str, list[tuple[str, dict]]] = {
    "cognito-idp:DescribeUserPoolClient": [("arn:aws:cognito-idp:us-east-1:{account}:userpool/us-east-1_x", {})],
    "apigateway:GET": [(f"arn:aws:apigateway:us-east-1::{path.replace('*', 'k1')}", {}) for path in API_KEY_PATHS],
    "wafv2:GetSampledRequests": [("arn:aws:wafv2:us-east-1:{account}:regional/webacl/payment-api-waf-prod/1", {})],
    "s3:GetObject": [("arn:aws:s3:::payment-audit-logs-prod-{account}/audit/1.json", {}),
                     ("arn:aws:s3:::{bucket}/payments/account/terraform.tfstate", {}),
                     ("arn:aws:s3:::{bucket}/payments/pr42/terraform.tfstate", {})],
    "kms:Decrypt": [_key(OTHER_KEY_ALIAS, "s3.us-east-1.amazonaws.com"),   # another key, even through S3
                    _key(STATE_ALIAS, "ssm.us-east-1.amazonaws.com"),      # the state key, not through S3
                    ("arn:aws:kms:us-east-1:{account}:key/1234", {})],     # called directly
}
for _read in DENIED_READS:
    DENIED_REQUESTS.setdefault(_read.action, [("arn:aws:s3:::any-bucket/any-object" if _read.action.startswith("s3:")
                                               else "arn:aws:logs:us-east-1:{account}:log-group:any:*", {})])


def test_every_denied_read_has_a_reason_and_a_request_here():
    assert {r.action for r in DENIED_READS} == set(DENIED_REQUESTS)
    assert all(len(r.reveals.split()) >= 3 for r in DENIED_READS)
    # What the issue lists at least.
    assert {"cognito-idp:DescribeUserPoolClient", "apigateway:GET", "wafv2:GetSampledRequests", "logs:StartLiveTail",
            "logs:GetLogRecord", "logs:GetQueryResults", "dynamodb:PartiQLSelect", "s3:GetObject",
            "secretsmanager:GetSecretValue", "kms:Decrypt"} <= set(DENIED_REQUESTS)


@pytest.mark.parametrize("action", sorted(DENIED_REQUESTS))
def test_no_plan_role_can_make_a_secret_or_data_read(three_accounts, env, action):
    stack = ci(three_accounts, env)
    plan = policies(stack, env, f"payment-ci-plan-{env}")
    for resource, context in DENIED_REQUESTS[action]:
        resource = resource.format(account=ACCOUNTS[env], bucket=bucket(env))
        assert decide(plan, action, resource, context) == "Deny", (action, resource, context)


def test_plan_role_still_reads_its_state_and_every_resources_configuration(three_accounts, env):
    """The Denies are not blanket: a plan still reads what it needs."""
    stack = ci(three_accounts, env)
    plan = policies(stack, env, f"payment-ci-plan-{env}")
    own = f"arn:aws:s3:::{bucket(env)}/payments/{env}/terraform.tfstate"
    assert decide(plan, "s3:GetObject", own) == "Allow"
    assert decide(plan, "s3:PutObject", own + ".tflock") == "Allow"
    resource, context = _key(STATE_ALIAS, "s3.us-east-1.amazonaws.com")
    assert decide(plan, "kms:Decrypt", resource.format(account=ACCOUNTS[env]), context) == "Allow"
    for action, resource in (("apigateway:GET", "arn:aws:apigateway:us-east-1::/restapis/abc/stages/prod"),
                             ("cognito-idp:DescribeUserPool", "arn:aws:cognito-idp:us-east-1:1:userpool/x"),
                             ("wafv2:GetWebACL", "arn:aws:wafv2:us-east-1:1:regional/webacl/x/1"),
                             ("dynamodb:DescribeTable", "arn:aws:dynamodb:us-east-1:1:table/x"),
                             ("secretsmanager:DescribeSecret", "arn:aws:secretsmanager:us-east-1:1:secret:x")):
        assert decide(plan, action, resource) == "Allow", action


def _types(stack: Synthesized) -> set[str]:
    return set(stack.json.get("resource", {})) | {f"data.{t}" for t in stack.json.get("data", {})}


def test_no_stack_refresh_needs_a_denied_read(three_accounts):
    """A plan refreshes every resource and data source of its stack: none of the types whose refresh
    calls a denied read (``refreshed_by`` of each entry) is in any synthesized stack."""
    present: set[str] = set()
    for env in ENVIRONMENTS:
        for stack_dir in (three_accounts / env / "stacks").iterdir():
            present |= _types(Synthesized(stack_dir / "cdk.tf.json"))
    assert {"aws_api_gateway_rest_api", "aws_cognito_user_pool", "aws_wafv2_web_acl", "aws_dynamodb_table",
            "aws_secretsmanager_secret_rotation", "aws_s3_bucket", "aws_kms_key"} <= present  # the neighbours
    for read in DENIED_READS:
        assert not set(read.refreshed_by) & present, f"{read.action}: {set(read.refreshed_by) & present}"
    # A SecureString parameter's refresh decrypts it (kms:Decrypt through SSM): the platform's are plain.
    for env in ENVIRONMENTS:
        stack = synthesized(three_accounts / env / "stacks", f"payments-{env}")
        assert {p["type"] for p in stack.resources("aws_ssm_parameter").values()} == {"String"}


# ---------------------------------------------------------------------------------------- deploy roles

def deploy(three_accounts: Path, env: str = "dev") -> tuple[list[dict], str]:
    stack = ci(three_accounts, env)
    return policies(stack, env, f"payment-ci-deploy-{env}"), ACCOUNTS[env]


def boundary(account: str) -> str:
    return f"arn:aws:iam::{account}:policy/payment-deploy-boundary"


def test_dev_deploy_role_cannot_lift_its_own_fences(three_accounts):
    dev, account = deploy(three_accounts)
    itself = f"arn:aws:iam::{account}:role/payment-ci-deploy-dev"
    for action in ("iam:DeleteRolePolicy", "iam:PutRolePolicy", "iam:DetachRolePolicy", "iam:UpdateAssumeRolePolicy",
                   "iam:DeleteRole", "iam:PutRolePermissionsBoundary", "iam:TagRole"):
        assert decide(dev, action, itself, {"iam:PermissionsBoundary": boundary(account)}) == "Deny", action
    for other in ("payment-ci-plan-dev", "payment-apigw-cloudwatch-us-east-1", "payment-object-access-trail-logs"):
        assert decide(dev, "iam:UpdateAssumeRolePolicy", f"arn:aws:iam::{account}:role/{other}") == "Deny", other
        assert decide(dev, "sts:AssumeRole", f"arn:aws:iam::{account}:role/{other}") == "Deny", other
    provider = f"arn:aws:iam::{account}:oidc-provider/{OIDC}"
    for action in ("iam:DeleteOpenIDConnectProvider", "iam:UpdateOpenIDConnectProviderThumbprint",
                   "iam:AddClientIDToOpenIDConnectProvider"):
        assert decide(dev, action, provider) == "Deny", action
    assert decide(dev, "iam:CreatePolicyVersion", boundary(account)) == "Deny"


def test_dev_deploy_role_creates_roles_only_with_the_boundary(three_accounts):
    dev, account = deploy(three_accounts)
    role = f"arn:aws:iam::{account}:role/payment-process-dev"
    for action in ("iam:CreateRole", "iam:PutRolePolicy", "iam:AttachRolePolicy", "iam:PutRolePermissionsBoundary"):
        assert decide(dev, action, role) == "Deny", f"{action} without a boundary"
        assert decide(dev, action, role, {"iam:PermissionsBoundary": f"arn:aws:iam::{account}:policy/mine"}) == "Deny"
        assert decide(dev, action, role, {"iam:PermissionsBoundary": boundary(account)}) == "Allow", action
    assert decide(dev, "iam:DeleteRolePermissionsBoundary", role) == "Deny"
    for action in ("iam:CreateUser", "iam:CreateAccessKey"):
        assert decide(dev, action, f"arn:aws:iam::{account}:user/x") == "Deny", action


def test_dev_deploy_role_cannot_touch_the_trail_the_state_bucket_policy_or_the_state_key(three_accounts):
    dev, account = deploy(three_accounts)
    trail = f"arn:aws:cloudtrail:us-east-1:{account}:trail/payment-object-access-trail"
    for action in ("cloudtrail:StopLogging", "cloudtrail:DeleteTrail", "cloudtrail:PutEventSelectors"):
        assert decide(dev, action, trail) == "Deny", action
    for bucket_arn in (f"arn:aws:s3:::{bucket('dev')}", f"arn:aws:s3:::payment-trail-logs-{account}"):
        for action in ("s3:PutBucketPolicy", "s3:DeleteBucketPolicy", "s3:DeleteBucket"):
            assert decide(dev, action, bucket_arn) == "Deny", (action, bucket_arn)
    state_key, context = _key(STATE_ALIAS, "")
    for action in ("kms:PutKeyPolicy", "kms:ScheduleKeyDeletion", "kms:DisableKey"):
        assert decide(dev, action, state_key.format(account=account), context) == "Deny", action
    # Its own environment's keys and buckets stay its to manage.
    other_key, other = _key(OTHER_KEY_ALIAS, "")
    assert decide(dev, "kms:PutKeyPolicy", other_key.format(account=account), other) == "Allow"
    assert decide(dev, "s3:PutBucketPolicy", f"arn:aws:s3:::payment-audit-logs-dev-{account}") == "Allow"
    assert decide(dev, "s3:GetObject", f"arn:aws:s3:::{bucket('dev')}/payments/account/terraform.tfstate") == "Deny"


def test_dev_deploy_role_has_no_right_and_no_trust_in_another_account(three_accounts):
    dev, account = deploy(three_accounts)
    for env in ("staging", "prod"):
        other = ACCOUNTS[env]
        assert other != account
        for role in (f"payment-ci-deploy-{env}", "OrganizationAccountAccessRole"):
            assert decide(dev, "sts:AssumeRole", f"arn:aws:iam::{other}:role/{role}") == "Deny", (env, role)
        # The other account's roles trust that account's OIDC provider only, from that environment.
        stack = ci(three_accounts, env)
        for role in stack.resources("aws_iam_role").values():
            trust = resolved(stack, env, role["assume_role_policy"])
            assert account not in trust and ":environment:dev\"" not in trust, role["name"]


def test_boundary_allows_service_actions_but_no_identity_administration(three_accounts, env):
    stack = ci(three_accounts, env)
    account = ACCOUNTS[env]
    policy = json.loads(resolved(stack, env, stack.one("aws_iam_policy", name="payment-deploy-boundary")["policy"]))
    assert decide([policy], "dynamodb:PutItem", f"arn:aws:dynamodb:us-east-1:{account}:table/t") == "Allow"
    for action in ("iam:CreateRole", "iam:PassRole", "iam:PutRolePolicy", "organizations:LeaveOrganization"):
        assert decide([policy], action, f"arn:aws:iam::{account}:role/x") != "Allow", action
    trail = f"arn:aws:cloudtrail:us-east-1:{account}:trail/payment-object-access-trail"
    assert decide([policy], "cloudtrail:StopLogging", trail) == "Deny"


def test_every_role_of_an_environment_stack_carries_the_deploy_boundary(three_accounts, env):
    stack = synthesized(three_accounts / env / "stacks", f"payments-{env}")
    roles = stack.resources("aws_iam_role")
    assert roles
    wanted = ("arn:${data.aws_partition.partition.partition}:iam::${data.aws_caller_identity.caller.account_id}"
              ":policy/payment-deploy-boundary")
    assert {name: r.get("permissions_boundary") for name, r in roles.items()} == {name: wanted for name in roles}


def test_plan_role_reads_only_its_own_state_and_writes_only_its_lock_file(three_accounts, env):
    stack = ci(three_accounts, env)
    ref = stack.ref("aws_iam_role", "name", name=f"payment-ci-plan-{env}")
    (inline,) = [stack.policy(p) for p in stack.resources("aws_iam_role_policy").values() if p["role"] == ref]
    states = [f"arn:${{data.aws_partition.partition.partition}}:s3:::{bucket(env)}/payments/{env}/terraform.tfstate"]
    if env == "prod":  # and its standby's, in the DR region's state bucket
        states.append(f"arn:${{data.aws_partition.partition.partition}}:s3:::"
                      f"{bucket(env).replace('us-east-1', 'us-west-2')}/payments/prod-us-west-2/terraform.tfstate")
    assert statement(inline, "ReadOwnState")["Resource"] == states
    assert statement(inline, "WriteOwnLockFile")["Resource"] == [f"{s}.tflock" for s in states]
    assert statement(inline, "DenyObjectReadsButOwnState")["NotResource"] == [*states, *(f"{s}.tflock" for s in states)]
    # Decrypting only through S3 of the state buckets' regions.
    regions = ["us-east-1", "us-west-2"] if env == "prod" else ["us-east-1"]
    via = statement(inline, "DenyDecryptButThroughS3")["Condition"]["StringNotEquals"]["kms:ViaService"]
    assert via == [f"s3.{r}.amazonaws.com" for r in regions]


def test_account_stack_is_valid_terraform(account_synth):
    workdir = account_synth / "payments-account"
    terraform.run(workdir, ["init", "-backend=false", "-input=false", "-no-color"])
    result = json.loads(terraform.run(workdir, ["validate", "-no-color", "-json"]).stdout)
    assert result["valid"] is True, result["diagnostics"]


# ------------------------------------------------------------------------------------- reconcile roles

def test_reconcile_role_only_reads_its_environments_ledger_and_trail(three_accounts, env):
    stack = ci(three_accounts, env)
    ref = stack.ref("aws_iam_role", "name", name=f"payment-ci-reconcile-{env}")
    assert not [a for a in stack.resources("aws_iam_role_policy_attachment").values() if a["role"] == ref]
    (inline,) = [json.loads(resolved(stack, env, p["policy"]))
                 for p in stack.resources("aws_iam_role_policy").values() if p["role"] == ref]
    actions = {a for st in inline["Statement"] for a in st["Action"]}
    assert actions == {"ssm:GetParameters", "dynamodb:Scan", "s3:ListBucket", "s3:GetObject", "kms:Decrypt"}
    assert all(st["Effect"] == "Allow" and st["Resource"] for st in inline["Statement"])
    by_sid = {st["Sid"]: st for st in inline["Statement"]}
    account = ACCOUNTS[env]
    assert by_sid["ReadTheLedger"]["Resource"] == [f"arn:aws:dynamodb:us-east-1:{account}:table/payment-transactions-{env}"]
    assert by_sid["ReadTheTrail"]["Resource"] == [f"arn:aws:s3:::payment-audit-logs-{env}-{account}/audit/*"]
    assert by_sid["ListTheTrail"]["Condition"] == {"StringLike": {"s3:prefix": ["audit/*"]}}
    assert by_sid["DecryptThroughS3AndDynamodb"]["Condition"]["ForAnyValue:StringEquals"] == {
        "kms:ResourceAliases": f"alias/payment-key-{env}"}
    text = json.dumps(inline)  # never Terraform state, never another environment
    assert "terraform" not in text and all(other not in text for other in ENVIRONMENTS if other != env)


def test_reconcile_workflow_runs_in_the_github_environment_the_role_trusts():
    from modules.ci_reconcile import reconcile_environment
    from tests.test_workflows import load
    job = load("reconcile.yml")["jobs"]["reconcile"]
    assert job["environment"] == reconcile_environment("${{ matrix.environment }}")


# ------------------------------------------------------------------ the standby's state in the DR region

def test_prod_roles_use_the_standbys_state_in_the_dr_region_and_cannot_weaken_it(three_accounts):
    """prod's standby keeps its state in us-west-2 (modules/stacks/state_stack.py): prod's plan role
    reads it and decrypts it through S3 there only; the deploy role cannot touch that bucket's policy
    or that region's state key, as for the state region's."""
    account = ACCOUNTS["prod"]
    dr_bucket = f"payments-terraform-state-{account}-us-west-2"
    standby_state = f"arn:aws:s3:::{dr_bucket}/payments/prod-us-west-2/terraform.tfstate"
    stack = ci(three_accounts, "prod")
    plan = policies(stack, "prod", "payment-ci-plan-prod")
    assert decide(plan, "s3:GetObject", standby_state) == "Allow"
    assert decide(plan, "s3:PutObject", f"{standby_state}.tflock") == "Allow"
    dr_key = f"arn:aws:kms:us-west-2:{account}:key/5678"
    assert decide(plan, "kms:Decrypt", dr_key, {"kms:ResourceAliases": [STATE_ALIAS],
                                                "kms:ViaService": "s3.us-west-2.amazonaws.com"}) == "Allow"
    assert decide(plan, "kms:Decrypt", dr_key, {"kms:ResourceAliases": [STATE_ALIAS],
                                                "kms:ViaService": "ssm.us-west-2.amazonaws.com"}) == "Deny"
    deploy_prod, _ = deploy(three_accounts, "prod")
    for action in ("s3:PutBucketPolicy", "s3:DeleteBucketPolicy", "s3:DeleteBucket"):
        assert decide(deploy_prod, action, f"arn:aws:s3:::{dr_bucket}") == "Deny", action
    for action in ("kms:PutKeyPolicy", "kms:ScheduleKeyDeletion", "kms:DisableKey"):
        assert decide(deploy_prod, action, dr_key, {"kms:ResourceAliases": [STATE_ALIAS]}) == "Deny", action


def test_a_deploy_role_reads_no_other_environments_state_in_any_regions_bucket(three_accounts):
    """In a single-account sandbox every environment's states share the account's buckets, and the
    account stack may be applied with dev's settings (no dr_region): dev's deploy role is still denied
    prod's standby state in us-west-2, by the bucket name in every region."""
    dev, account = deploy(three_accounts)
    for region in ("us-east-1", "us-west-2", "eu-west-1"):
        bucket_arn = f"arn:aws:s3:::payments-terraform-state-{account}-{region}"
        for key in ("payments/prod/terraform.tfstate", "payments/prod-us-west-2/terraform.tfstate",
                    "payments/staging-us-west-2/terraform.tfstate.tflock"):
            assert decide(dev, "s3:GetObject", f"{bucket_arn}/{key}") == "Deny", (region, key)
    assert decide(dev, "s3:GetObject", f"arn:aws:s3:::payments-terraform-state-{account}-us-west-2"
                                       "/payments/dev-us-west-2/terraform.tfstate") == "Allow"
