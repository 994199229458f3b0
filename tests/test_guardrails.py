"""The organisation's guardrails (stack payments-guardrails, modules/guardrails.py): what each SCP
statement denies, to whom (a normal role: denied; the break-glass role: not), what it leaves alone
(previews stay destroyable, global services stay reachable), the 5,120-character limit, the settings,
and an apply against the local endpoint (moto's Organizations) read back policy by policy."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from modules.settings import SettingsError, build_settings
from tests.policy_eval import denied_by
from tests.support import ACCOUNT, GUARDRAIL_SETTINGS, GUARDRAIL_TARGETS, MANAGEMENT_ACCOUNT, Synthesized

SCPS = ("payments-guardrails", "payments-regions")
ROLE = f"arn:aws:iam::{ACCOUNT}:role/payment-ci-deploy-prod"        # an administrator of the account
BREAK_GLASS = f"arn:aws:iam::{ACCOUNT}:role/payments-break-glass"   # the default break-glass pattern's role
KEY = f"arn:aws:kms:us-east-1:{ACCOUNT}:key/11111111-2222-3333-4444-555555555555"
TRAIL = f"arn:aws:cloudtrail:us-east-1:{ACCOUNT}:trail/payment-object-access-trail"
AUDIT = f"arn:aws:s3:::payment-audit-logs-prod-{ACCOUNT}"
TRAIL_LOGS = f"arn:aws:s3:::payment-trail-logs-{ACCOUNT}"


@pytest.fixture(scope="module")
def scps(guardrails_stack: Synthesized) -> dict[str, dict[str, Any]]:
    return {p["name"]: p for p in guardrails_stack.resources("aws_organizations_policy").values()}


@pytest.fixture(scope="module")
def documents(scps) -> list[dict[str, Any]]:
    return [json.loads(p["content"]) for p in scps.values()]


def request(action: str, resource: str = "*", region: str = "us-east-1", **keys: Any) -> dict[str, Any]:
    return {"action": action, "resource": resource, "context": {"aws:RequestedRegion": region, **keys}}


# (the statement that must deny it, the request): one or more per statement.
DENIED = [
    ("DenyLeavingTheOrganization", request("organizations:LeaveOrganization")),
    *(("DenyStoppingOrChangingCloudTrail", request(f"cloudtrail:{a}", TRAIL))
      for a in ("StopLogging", "DeleteTrail", "UpdateTrail", "PutEventSelectors")),
    ("DenyDeletingAuditBuckets", request("s3:DeleteBucket", AUDIT)),
    ("DenyDeletingAuditBuckets", request("s3:DeleteBucketPolicy", AUDIT)),
    ("DenyDeletingAuditBuckets", request("s3:PutBucketObjectLockConfiguration", AUDIT)),
    ("DenyDeletingAuditBuckets", request("s3:DeleteBucket", TRAIL_LOGS)),
    ("DenyDeletingPlatformKeys", request("kms:ScheduleKeyDeletion", KEY, **{"kms:ResourceAliases": ["alias/payment-key-prod"]})),
    ("DenyDeletingPlatformKeys", request("kms:DisableKey", KEY, **{"kms:ResourceAliases": ["alias/payment-card-fingerprint-prod"]})),
    ("DenyDeletingPlatformKeys", request("kms:ScheduleKeyDeletion", KEY, **{"kms:ResourceAliases": ["alias/payment-terraform-state"]})),
    ("DenyDeletingPlatformKeys", request("kms:ScheduleKeyDeletion", KEY, **{"kms:ResourceAliases": ["alias/payment-object-access-trail"]})),
    ("DenyMovingPlatformKeyAliases", request("kms:DeleteAlias", f"arn:aws:kms:us-east-1:{ACCOUNT}:alias/payment-key-prod")),
    ("DenyMovingPlatformKeyAliases", request("kms:UpdateAlias", f"arn:aws:kms:us-east-1:{ACCOUNT}:alias/payment-terraform-state")),
    ("DenyOutsidePlatformRegions", request("ec2:RunInstances", region="eu-west-1")),
    ("DenyOutsidePlatformRegions", request("lambda:CreateFunction", region="ap-southeast-2")),
]
# What the guardrails must leave to a normal role: destroying a preview, deploying, global services
# from anywhere (their one endpoint is us-east-1; a platform elsewhere calls them there).
ALLOWED = [
    request("s3:DeleteBucket", f"arn:aws:s3:::payment-audit-logs-pr42-{ACCOUNT}"),
    request("kms:ScheduleKeyDeletion", KEY, **{"kms:ResourceAliases": ["alias/payment-key-pr42"]}),
    request("kms:DeleteAlias", f"arn:aws:kms:us-east-1:{ACCOUNT}:alias/payment-key-dev"),
    request("lambda:UpdateFunctionCode", f"arn:aws:lambda:us-east-1:{ACCOUNT}:function:payment-process-prod"),
    request("cloudtrail:LookupEvents"),
    request("s3:PutObject", f"{AUDIT}/audit/2026/12/03/x.json"),
    *(request(action, region="eu-west-1") for action in (
        "iam:CreateRole", "sts:AssumeRole", "organizations:DescribeOrganization", "cloudfront:CreateInvalidation",
        "route53:ChangeResourceRecordSets", "support:CreateCase", "budgets:ViewBudget", "waf:GetWebACL",
        "s3:ListAllMyBuckets")),
]


def _ids(cases):
    return [f"{c['action']}@{c['context']['aws:RequestedRegion']}" for c in cases]


@pytest.mark.parametrize("sid, req", DENIED, ids=[f"{sid}-{r['action']}" for sid, r in DENIED])
def test_statement_denies_a_normal_role_and_spares_the_break_glass_role(documents, sid, req):
    as_role = {**req["context"], "aws:PrincipalArn": ROLE}
    as_break_glass = {**req["context"], "aws:PrincipalArn": BREAK_GLASS}
    assert denied_by(documents, req["action"], req["resource"], as_role) == [sid]
    assert denied_by(documents, req["action"], req["resource"], as_break_glass) == []


@pytest.mark.parametrize("req", ALLOWED, ids=_ids(ALLOWED))
def test_guardrails_leave_previews_deploys_and_global_services_alone(documents, req):
    assert denied_by(documents, req["action"], req["resource"], {**req["context"], "aws:PrincipalArn": ROLE}) == []


def test_every_statement_is_exercised_and_exempts_only_the_break_glass_role(documents):
    statements = [s for d in documents for s in d["Statement"]]
    assert {s["Sid"] for s in statements} == {sid for sid, _ in DENIED}
    for s in statements:
        assert s["Effect"] == "Deny" and s["Condition"]["ArnNotLike"] == {
            "aws:PrincipalArn": "arn:aws:iam::*:role/payments-break-glass"}, s["Sid"]


def test_each_scp_is_under_the_5120_character_limit(scps):
    from modules.guardrails import SCP_MAX_CHARACTERS
    assert set(scps) == set(SCPS)
    for name, policy in scps.items():
        assert policy["type"] == "SERVICE_CONTROL_POLICY"
        assert len(policy["content"]) <= SCP_MAX_CHARACTERS == 5120, name
        # Every character counts: no whitespace outside strings.
        assert policy["content"] == json.dumps(json.loads(policy["content"]), separators=(",", ":")), name


def test_region_rule_allows_the_platform_state_and_disaster_recovery_regions_only(documents):
    """prod (whose settings the guardrails stack is synthesized with) has its replicas in us-west-2."""
    [region_rule] = [s for d in documents for s in d["Statement"] if s["Sid"] == "DenyOutsidePlatformRegions"]
    assert region_rule["Condition"]["StringNotEquals"] == {"aws:RequestedRegion": ["us-east-1", "us-west-2"]}
    for service in ("iam:*", "organizations:*", "sts:*", "cloudfront:*", "route53:*", "support:*", "budgets:*",
                    "waf:*"):
        assert service in region_rule["NotAction"]


def test_both_scps_attach_to_every_target(guardrails_stack):
    ids = {guardrails_stack.ref("aws_organizations_policy", "id", name=name): name for name in SCPS}
    attached = {(ids[a["policy_id"]], a["target_id"])
                for a in guardrails_stack.resources("aws_organizations_policy_attachment").values()}
    assert attached == {(name, target) for name in SCPS for target in GUARDRAIL_TARGETS}


def test_stack_runs_only_in_the_management_account_with_its_own_state(guardrails_stack):
    """allowed_account_ids: the provider refuses any other account's credentials when it is configured,
    before any read (an apply against moto costs ~10 s of CPU per plan, so this is read from the JSON)."""
    [provider] = guardrails_stack.json["provider"]["aws"]
    assert provider["allowed_account_ids"] == [MANAGEMENT_ACCOUNT]
    assert provider["default_tags"][0]["tags"]["Environment"] == "organisation"
    backend = guardrails_stack.json["terraform"]["backend"]["s3"]
    assert backend["bucket"] == f"payments-terraform-state-{MANAGEMENT_ACCOUNT}-us-east-1"
    assert backend["key"] == "payments/guardrails/terraform.tfstate"


def test_the_protected_names_are_the_platforms_names(prod_stack, synth_all, documents):
    """The patterns the SCP protects match what the platform creates (a renamed bucket or alias would
    silently fall out of the guardrails otherwise)."""
    from tests.policy_eval import like as _like
    statements = {s["Sid"]: s for d in documents for s in d["Statement"]}
    buckets = statements["DenyDeletingAuditBuckets"]["Resource"]
    aliases = statements["DenyDeletingPlatformKeys"]["Condition"]["ForAnyValue:StringLike"]["kms:ResourceAliases"]
    audits = prod_stack.resources("aws_s3_bucket").values()  # the audit bucket and its DR replica
    names = [a["bucket"].replace("${data.aws_caller_identity.caller.account_id}", ACCOUNT) for a in audits]
    assert len(names) == 2 and all(any(_like(b, "arn:aws:s3:::" + name) for b in buckets) for name in names), names
    prod_aliases = [a["name"] for a in prod_stack.resources("aws_kms_alias").values()]
    assert prod_aliases and all(any(_like(p, a) for p in aliases) for a in prod_aliases)
    # The account-level trail and state key, wherever the account's stacks keep them.
    account_stacks = [Synthesized(p) for p in (synth_all / "prod" / "stacks").glob("*/cdk.tf.json")]
    [trail] = [t for s in account_stacks for t in s.resources("aws_cloudtrail").values()]
    log_bucket = next(b["bucket"] for s in account_stacks for b in s.resources("aws_s3_bucket").values()
                      if trail["s3_bucket_name"] == s.ref("aws_s3_bucket", "bucket", bucket=b["bucket"]))
    assert any(_like(b, "arn:aws:s3:::" + log_bucket.split("${")[0] + ACCOUNT) for b in buckets)
    account_aliases = [a["name"] for s in account_stacks if s.path.parent.name != "payments-prod"
                       for a in s.resources("aws_kms_alias").values()]
    assert {"alias/payment-terraform-state", "alias/payment-object-access-trail"} <= set(account_aliases)
    assert all(any(_like(p, a) for p in aliases) for a in account_aliases)


def test_no_guardrails_stack_without_targets(synth_all):
    assert not (synth_all / "dev" / "stacks" / "payments-guardrails").exists()
    assert (synth_all / "prod" / "stacks" / "payments-guardrails" / "cdk.tf.json").is_file()


# --------------------------------------------------------------------------- settings


@pytest.mark.parametrize("env, setting", [
    ({"PAYMENTS_GUARDRAILS_TARGETS": "ou-ab12-cd34ef56"}, "management_account_id"),
    ({**GUARDRAIL_SETTINGS, "PAYMENTS_GUARDRAILS_TARGETS": "r-ab12"}, "guardrails_targets"),
    ({**GUARDRAIL_SETTINGS, "PAYMENTS_GUARDRAILS_TARGETS": MANAGEMENT_ACCOUNT}, "guardrails_targets"),
    ({**GUARDRAIL_SETTINGS, "PAYMENTS_MANAGEMENT_ACCOUNT_ID": "12345"}, "management_account_id"),
    ({**GUARDRAIL_SETTINGS, "PAYMENTS_BREAK_GLASS_ROLE_ARN": "arn:aws:iam::*:role/*"}, "break_glass_role_arn"),
    ({**GUARDRAIL_SETTINGS, "PAYMENTS_BREAK_GLASS_ROLE_ARN": "payments-break-glass"}, "break_glass_role_arn"),
    ({**GUARDRAIL_SETTINGS, "PAYMENTS_GUARDRAILS_REGIONS": "eu-west-1"}, "guardrails_regions"),
    ({**GUARDRAIL_SETTINGS, "PAYMENTS_GUARDRAILS_REGIONS": "us-east-1,mars-1"}, "guardrails_regions"),
])
def test_guardrail_settings_are_checked(env, setting):
    with pytest.raises(SettingsError) as err:
        build_settings({}, env)
    assert err.value.setting == setting


def test_guardrail_settings_are_typed_and_regions_keep_the_state_region():
    from modules.stacks.guardrails import platform_regions
    s = build_settings({}, {**GUARDRAIL_SETTINGS, "PAYMENTS_GUARDRAILS_REGIONS": "us-east-1, eu-west-1",
                            "PAYMENTS_BREAK_GLASS_ROLE_ARN": f"arn:aws:iam::{ACCOUNT}:role/ops/break-glass-*"})
    assert s.guardrail_targets == GUARDRAIL_TARGETS and s.management_account_id == MANAGEMENT_ACCOUNT
    assert platform_regions(s) == ["eu-west-1", "us-east-1"]
    assert platform_regions(build_settings({}, {"PAYMENTS_AWS_REGION": "eu-west-1"})) == ["eu-west-1", "us-east-1"]
    assert build_settings({}, {}).guardrail_targets == ()


# --------------------------------------------------------------------------- local endpoint


@pytest.fixture(scope="module")
def organisation(tmp_path_factory):
    """A moto server with an organisation (SCPs enabled), an OU and an account in it."""
    import boto3

    from scripts.rehearsal.endpoint import REHEARSAL_KEY, MotoServer, endpoint_env
    from scripts.rehearsal.runners import plugin_cache
    with MotoServer(tmp_path_factory.mktemp("guardrails-moto") / "moto.log", aws_managed_policies=False) as server:
        org = boto3.client("organizations", endpoint_url=server.url, region_name="us-east-1",
                           aws_access_key_id=REHEARSAL_KEY, aws_secret_access_key=REHEARSAL_KEY)
        management = org.create_organization(FeatureSet="ALL")["Organization"]["MasterAccountId"]
        root = org.list_roots()["Roots"][0]["Id"]
        org.enable_policy_type(RootId=root, PolicyType="SERVICE_CONTROL_POLICY")
        ou = org.create_organizational_unit(ParentId=root, Name="payments")["OrganizationalUnit"]["Id"]
        account = org.create_account(Email="prod@example.com", AccountName="payments-prod")["CreateAccountStatus"]
        env = endpoint_env(server.url, "us-east-1")
        env["TF_PLUGIN_CACHE_DIR"] = str(plugin_cache())  # the ~700 MB provider linked, not copied
        yield {"url": server.url, "org": org, "management": management, "ou": ou,
               "account": account["AccountId"], "env": env}


def _synth_against(outdir: Path, url: str, management: str, targets: str) -> Path:
    """The guardrails stack in rehearsal mode (local backend), synthesized in this process."""
    import modules  # noqa: F401  (fast provider import)
    from cdktf import App

    from main import synth
    from modules.stacks.guardrails import STACK_NAME, GuardrailsStack
    settings = build_settings({}, {"PAYMENTS_GUARDRAILS_TARGETS": targets, "PAYMENTS_MANAGEMENT_ACCOUNT_ID": management,
                                   "PAYMENTS_AWS_ENDPOINT": url})
    with pytest.MonkeyPatch.context() as env:
        for var in ("PAYMENTS_STATE_BUCKET", "PAYMENTS_STATE_REGION", "PAYMENTS_STATE_ENDPOINT"):
            env.delenv(var, raising=False)
        env.setenv("PAYMENTS_BACKEND", "local")
        app = App(outdir=str(outdir))
        GuardrailsStack(app, settings)
        synth(app)
    return outdir / "stacks" / STACK_NAME


def test_guardrails_apply_to_the_organisation_and_read_back(organisation, tmp_path):
    from scripts import terraform
    o = organisation
    workdir = _synth_against(tmp_path, o["url"], o["management"], f"{o['ou']},{o['account']}")
    terraform.run(workdir, ["init", "-input=false", "-no-color"], env=o["env"])
    # apply validates the configuration first (terraform validate's checks, then the provider's).
    terraform.run(workdir, ["apply", "-auto-approve", "-input=false", "-no-color"], env=o["env"])
    synthesized = Synthesized(workdir / "cdk.tf.json")
    wanted = {p["name"]: json.loads(p["content"]) for p in synthesized.resources("aws_organizations_policy").values()}
    listed = o["org"].list_policies(Filter="SERVICE_CONTROL_POLICY")["Policies"]
    ours = {p["Name"]: p["Id"] for p in listed if p["Name"] in SCPS}
    assert set(ours) == set(SCPS)
    for name, policy_id in ours.items():
        policy = o["org"].describe_policy(PolicyId=policy_id)["Policy"]
        assert json.loads(policy["Content"]) == wanted[name]
        targets = o["org"].list_targets_for_policy(PolicyId=policy_id)["Targets"]
        assert {t["TargetId"] for t in targets} == {o["ou"], o["account"]}
