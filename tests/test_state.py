"""Terraform state: the backend writes SSE-KMS under the state key, the bucket is named after the
account, its policy refuses state written any other way, and an optional reader allow-list."""

from __future__ import annotations

import json

import pytest

from tests.support import ACCOUNT, ACCOUNTS, BUCKET, READER, Synthesized, statement, synthesized

ALIAS_ARN = f"arn:aws:kms:us-east-1:{ACCOUNT}:alias/payment-terraform-state"


STATE_KEY_ID, STATE_ALIAS_ID = "key", "alias"


def state_bucket_id(stack: Synthesized) -> str:
    [name] = [n for n in stack.resources("aws_s3_bucket") if n.startswith("state_")]
    return name


def bucket_policy(stack: Synthesized) -> dict:
    bucket = f"${{aws_s3_bucket.{state_bucket_id(stack)}.id}}"
    return stack.policy(stack.one("aws_s3_bucket_policy", bucket=bucket))


def state_ref(stack: Synthesized, rtype: str, resource_id: str, attribute: str) -> str:
    assert resource_id in stack.resources(rtype)
    return f"${{{rtype}.{resource_id}.{attribute}}}"


@pytest.mark.parametrize("name, key", [("payments-dev", "payments/dev/terraform.tfstate"),
                                       ("payments-state", "payments/state/terraform.tfstate"),
                                       ("payments-account", "payments/account/terraform.tfstate")])
def test_every_stack_writes_its_state_sse_kms_under_the_state_key(account_synth, name, key):
    backend = synthesized(account_synth, name).json["terraform"]["backend"]["s3"]
    assert backend == {"bucket": BUCKET, "key": key, "region": "us-east-1", "encrypt": True,
                       "kms_key_id": ALIAS_ARN, "use_lockfile": True, "allowed_account_ids": [ACCOUNT]}


def _in_account(three_accounts, env: str, name: str) -> Synthesized:
    return synthesized(three_accounts / env / "stacks", name.format(env=env))


@pytest.mark.parametrize("env", ACCOUNTS)
def test_each_accounts_stacks_use_that_accounts_bucket_and_key_and_refuse_other_credentials(three_accounts, env):
    """Three accounts (PAYMENTS_ENVIRONMENT_ACCOUNTS): every stack synthesized for an environment
    keeps its state in its own account's bucket under its own account's key, and both the backend and
    the provider refuse credentials of any other account."""
    account = ACCOUNTS[env]
    for name in ("payments-{env}", "payments-state", "payments-account"):
        stack = _in_account(three_accounts, env, name)
        backend = stack.json["terraform"]["backend"]["s3"]
        assert backend["bucket"] == f"payments-terraform-state-{account}-us-east-1", name
        assert backend["kms_key_id"] == f"arn:aws:kms:us-east-1:{account}:alias/payment-terraform-state", name
        assert backend["allowed_account_ids"] == [account], name
        # Every provider of the stack, the disaster-recovery region's too (prod's second provider).
        providers = stack.json["provider"]["aws"]
        assert len(providers) == (2 if env == "prod" else 1), name
        assert all(p["allowed_account_ids"] == [account] for p in providers), name
    # make bootstrap creates exactly the bucket the backends name, in that account.
    state = _in_account(three_accounts, env, "payments-state")
    assert state.resources("aws_s3_bucket")[state_bucket_id(state)]["bucket"] == \
        f"payments-terraform-state-{account}-us-east-1"


def test_the_standby_keeps_its_state_in_the_dr_regions_bucket(three_accounts):
    """prod's standby (payments-prod-us-west-2) must be planned and applied while the state region is
    down: its state is in the state bucket of us-west-2, under that region's state key, both made by
    payments-state (each region's key under the same alias); the other environments have no second bucket."""
    account = ACCOUNTS["prod"]
    standby = _in_account(three_accounts, "prod", "payments-prod-us-west-2").json["terraform"]["backend"]["s3"]
    assert (standby["bucket"], standby["region"], standby["key"]) == (
        f"payments-terraform-state-{account}-us-west-2", "us-west-2", "payments/prod-us-west-2/terraform.tfstate")
    assert standby["kms_key_id"] == f"arn:aws:kms:us-west-2:{account}:alias/payment-terraform-state"
    assert standby["allowed_account_ids"] == [account] and standby["use_lockfile"] is True
    state = _in_account(three_accounts, "prod", "payments-state")
    [dr_bucket] = [b for b in state.resources("aws_s3_bucket").values() if b.get("provider") == "aws.dr"]
    assert dr_bucket["bucket"] == standby["bucket"]
    [dr_alias] = [a for a in state.resources("aws_kms_alias").values() if a.get("provider") == "aws.dr"]
    [dr_key] = [k for k in state.resources("aws_kms_key").values() if k.get("provider") == "aws.dr"]
    assert dr_alias["name"] == "alias/payment-terraform-state" and dr_key["enable_key_rotation"] is True
    # The same policy as the primary bucket's: SSE-KMS under that region's key only.
    [policy] = [p for p in state.resources("aws_s3_bucket_policy").values()
                if p.get("provider") == "aws.dr"]
    sids = {s["Sid"] for s in state.policy(policy)["Statement"]}
    assert {"DenyStateWithoutSseKms", "DenyStateUnderAnotherKey"} <= sids
    for env in ("dev", "staging"):
        assert len(_in_account(three_accounts, env, "payments-state").resources("aws_s3_bucket")) == 1


def test_three_accounts_share_no_bucket_key_or_account(three_accounts):
    buckets = {_in_account(three_accounts, env, "payments-state").json["terraform"]["backend"]["s3"]["bucket"]
               for env in ACCOUNTS}
    assert len(buckets) == len(set(ACCOUNTS.values())) == 3


def test_backend_key_is_the_alias_the_state_stack_creates(account_synth):
    state = synthesized(account_synth, "payments-state")
    alias = state.resources("aws_kms_alias")[STATE_ALIAS_ID]
    assert ALIAS_ARN.endswith(":" + alias["name"])
    assert alias["target_key_id"] == state_ref(state, "aws_kms_key", STATE_KEY_ID, "key_id")


def test_state_bucket_is_the_bucket_the_backend_names(account_synth):
    state = synthesized(account_synth, "payments-state")
    assert state.resources("aws_s3_bucket")[state_bucket_id(state)]["bucket"] == BUCKET


def test_without_an_account_id_no_bucket_is_guessed(stack, state_stack):
    """The old fixed name could be registered by anyone first: now there is no default name."""
    assert "bucket" not in stack.json["terraform"]["backend"]["s3"]
    assert stack.json["terraform"]["backend"]["s3"]["kms_key_id"] == "alias/payment-terraform-state"
    # The state stack names its bucket after the account it is applied in.
    assert state_stack.resources("aws_s3_bucket")[state_bucket_id(state_stack)]["bucket"] == (
        "payments-terraform-state-${data.aws_caller_identity.caller.account_id}-us-east-1")


def test_state_bucket_denies_state_written_without_sse_kms(state_stack):
    deny = statement(bucket_policy(state_stack), "DenyStateWithoutSseKms")
    assert (deny["Effect"], deny["Action"], deny["Principal"]) == ("Deny", ["s3:PutObject"], {"AWS": "*"})
    assert deny["Condition"] == {"StringNotEquals": {"s3:x-amz-server-side-encryption": "aws:kms"}}
    assert deny["Resource"][0].endswith("/*.tfstate")


def test_state_bucket_denies_state_written_under_another_key(state_stack):
    deny = statement(bucket_policy(state_stack), "DenyStateUnderAnotherKey")
    assert deny["Effect"] == "Deny" and deny["Action"] == ["s3:PutObject"]
    allowed = deny["Condition"]["StringNotEquals"]["s3:x-amz-server-side-encryption-aws-kms-key-id"]
    assert allowed == [state_ref(state_stack, "aws_kms_key", STATE_KEY_ID, "arn"),
                       state_ref(state_stack, "aws_kms_alias", STATE_ALIAS_ID, "arn"),
                       "alias/payment-terraform-state"]
    # The lock files (no secrets, written by every plan) are not covered; every state object is.
    assert deny["Resource"] == statement(bucket_policy(state_stack), "DenyStateWithoutSseKms")["Resource"]


def test_reader_allow_list_is_off_by_default(state_stack):
    sids = [s["Sid"] for s in bucket_policy(state_stack)["Statement"]]
    assert "DenyStateToUnlistedPrincipals" not in sids


def test_reader_allow_list_denies_everyone_else_but_never_the_account_root(account_synth):
    state = synthesized(account_synth, "payments-state")
    deny = statement(bucket_policy(state), "DenyStateToUnlistedPrincipals")
    assert deny["Effect"] == "Deny" and "s3:GetObject*" in deny["Action"] and "s3:PutObject*" in deny["Action"]
    assert deny["Resource"] == [f"arn:${{data.aws_partition.partition.partition}}:s3:::{BUCKET}/*"]
    listed = deny["Condition"]["ArnNotLike"]["aws:PrincipalArn"]
    assert listed == ["arn:${data.aws_partition.partition.partition}:iam::"
                      "${data.aws_caller_identity.caller.account_id}:root", READER]


def test_state_stack_has_no_local_state_to_lose(state_stack):
    """make clean deletes cdktf.out/: the bootstrap stack's state lives in its bucket too."""
    assert list(state_stack.json["terraform"]["backend"]) == ["s3"]
    assert json.loads(state_stack.text)["terraform"]["backend"]["s3"]["key"] == "payments/state/terraform.tfstate"
