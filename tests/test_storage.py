"""The audit-log bucket (and, through the same construct, the state bucket)."""

import pytest

from tests.support import statement


def _bucket(stack):
    """The audit (or state) bucket: every stack also has its CloudTrail log bucket (modules/trail.py),
    and prod the audit bucket's replica in its DR region (another provider: tests/constructs/test_disaster_recovery.py)."""
    names = [n for n, b in stack.resources("aws_s3_bucket").items()
             if "-trail-logs-" not in b["bucket"] and "provider" not in b]
    assert len(names) == 1
    return names[0]


def _bucket_ref(stack):
    return f"${{aws_s3_bucket.{_bucket(stack)}.id}}"


def _the_bucket(stack):
    return stack.resources("aws_s3_bucket")[_bucket(stack)]


def _for_bucket(stack, rtype):
    return stack.one(rtype, bucket=_bucket_ref(stack))


def test_audit_bucket_name_includes_environment_and_account(stack):
    name = _the_bucket(stack)["bucket"]
    assert name == "payment-audit-logs-dev-${data.aws_caller_identity.caller.account_id}"


def test_audit_bucket_uses_sse_kms_with_the_platform_key_and_bucket_key(stack):
    rule = _for_bucket(stack, "aws_s3_bucket_server_side_encryption_configuration")["rule"][0]
    default = rule["apply_server_side_encryption_by_default"]
    assert default["sse_algorithm"] == "aws:kms" and default["kms_master_key_id"].startswith("${aws_kms_key.")
    assert rule["bucket_key_enabled"] is True


def test_audit_bucket_is_versioned(stack):
    assert _for_bucket(stack, "aws_s3_bucket_versioning")["versioning_configuration"]["status"] == "Enabled"


def test_audit_bucket_moves_objects_to_glacier_after_90_days(stack):
    rule = _for_bucket(stack, "aws_s3_bucket_lifecycle_configuration")["rule"][0]
    assert rule["status"] == "Enabled"
    assert rule["transition"] == [{"days": 90, "storage_class": "GLACIER"}]


def test_audit_bucket_blocks_all_public_access(stack):
    block = _for_bucket(stack, "aws_s3_bucket_public_access_block")
    assert all(block[k] for k in ("block_public_acls", "block_public_policy",
                                  "ignore_public_acls", "restrict_public_buckets"))


def test_audit_bucket_denies_plain_http(stack):
    st = statement(stack.policy(_for_bucket(stack, "aws_s3_bucket_policy")), "DenyInsecureTransport")
    assert st["Effect"] == "Deny" and st["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
    assert len(st["Resource"]) == 2 and st["Resource"][1].endswith("/*")


def test_audit_bucket_enforces_bucket_owner(stack):
    rule = _for_bucket(stack, "aws_s3_bucket_ownership_controls")["rule"]
    assert rule["object_ownership"] == "BucketOwnerEnforced"


def test_audit_bucket_is_emptied_on_destroy_outside_prod(stack):
    assert _the_bucket(stack)["force_destroy"] is True


@pytest.mark.parametrize("rtype", ["aws_s3_bucket_versioning", "aws_s3_bucket_public_access_block",
                                   "aws_s3_bucket_policy", "aws_s3_bucket_server_side_encryption_configuration"])
def test_state_bucket_is_as_protected_as_the_audit_bucket(state_stack, rtype):
    assert len([r for r in state_stack.resources(rtype).values() if r["bucket"] == _bucket_ref(state_stack)]) == 1


def test_state_bucket_is_never_force_destroyed(state_stack):
    assert _the_bucket(state_stack)["force_destroy"] is False
    # Its own state and the bucket/backend naming: tests/test_state.py.


# --- Audit trail that cannot be erased (Object Lock, write-once, erasure denied) -------------------

ERASURE = {"s3:DeleteObject", "s3:DeleteObjectVersion", "s3:BypassGovernanceRetention",
           "s3:PutObjectRetention", "s3:PutObjectLegalHold"}


@pytest.fixture(scope="module")
def staging_stack(synth_all):
    from tests.support import Synthesized
    return Synthesized(synth_all / "staging" / "stacks" / "payments-staging" / "cdk.tf.json")


@pytest.mark.parametrize("env_stack, mode, days", [
    ("stack", "GOVERNANCE", 1), ("staging_stack", "GOVERNANCE", 30), ("prod_stack", "COMPLIANCE", 2557)])
def test_audit_bucket_locks_every_object_by_default(request, env_stack, mode, days):
    s = request.getfixturevalue(env_stack)
    assert _the_bucket(s)["object_lock_enabled"] is True
    lock = _for_bucket(s, "aws_s3_bucket_object_lock_configuration")
    assert lock["object_lock_enabled"] == "Enabled"
    assert lock["rule"]["default_retention"] == {"mode": mode, "days": days}
    # Object Lock needs versioning; the lock configuration waits for it.
    assert any(d.startswith("aws_s3_bucket_versioning.") for d in lock["depends_on"])


def test_existing_audit_bucket_gets_object_lock_in_place_not_by_replacement(stack):
    """object_lock_enabled forces a new bucket in hashicorp/aws; an audit bucket created before the
    lock must not be replaced (its objects would go): the lock configuration enables it in place."""
    assert _the_bucket(stack)["lifecycle"]["ignore_changes"] == ["object_lock_enabled"]


def test_audit_retention_comes_from_settings(tmp_path):
    from tests.support import synth_environments
    out = synth_environments(tmp_path, ["staging"], PAYMENTS_AUDIT_RETENTION_DAYS="90")
    from tests.support import Synthesized
    s = Synthesized(out / "staging" / "stacks" / "payments-staging" / "cdk.tf.json")
    assert s.one("aws_s3_bucket_object_lock_configuration")["rule"]["default_retention"]["days"] == 90


@pytest.mark.parametrize("env_stack", ["stack", "prod_stack"])
def test_audit_bucket_denies_erasing_or_unlocking_objects_to_everyone(request, env_stack):
    s = request.getfixturevalue(env_stack)
    st = statement(s.policy(_for_bucket(s, "aws_s3_bucket_policy")), "DenyObjectErasure")
    assert st["Effect"] == "Deny" and st["Principal"] == {"AWS": "*"} and "Condition" not in st
    assert set(st["Action"]) == ERASURE
    assert st["Resource"] == [f"${{aws_s3_bucket.{_bucket(s)}.arn}}/*"]


def test_audit_bucket_refuses_writes_that_could_overwrite(stack):
    st = statement(stack.policy(_for_bucket(stack, "aws_s3_bucket_policy")), "DenyOverwritingWrites")
    assert st["Effect"] == "Deny" and st["Principal"] == {"AWS": "*"} and st["Action"] == ["s3:PutObject"]
    assert st["Condition"] == {"Null": {"s3:if-none-match": "true"}}


def test_audit_bucket_is_kept_on_destroy_in_prod(prod_stack):
    assert _the_bucket(prod_stack)["force_destroy"] is False


def test_audit_writer_can_neither_delete_nor_bypass_retention(stack):
    role = stack.ref("aws_iam_role", "id", name="payment-audit-writer-dev")
    policy = stack.policy(stack.one("aws_iam_role_policy", role=role))
    actions = {a for st in policy["Statement"] for a in st["Action"] if st["Effect"] == "Allow"}
    assert {a for a in actions if a.startswith("s3:")} == {"s3:PutObject"}


def test_state_bucket_has_no_object_lock(state_stack):
    """Terraform overwrites its state object on every apply: the state bucket is versioned, not locked."""
    assert not state_stack.resources("aws_s3_bucket_object_lock_configuration")
    assert "object_lock_enabled" not in _the_bucket(state_stack)
    policy = state_stack.policy(state_stack.one("aws_s3_bucket_policy", bucket=_bucket_ref(state_stack)))
    names = {s["Sid"] for s in policy["Statement"]}
    assert not names & {"DenyObjectErasure", "DenyOverwritingWrites"}


def test_a_compliance_locked_bucket_cannot_be_force_destroyed():
    from modules.storage import ObjectLock, SecureBucketProps
    with pytest.raises(ValueError, match="compliance"):
        SecureBucketProps(name="b", kms_key_arn="k", force_destroy=True, object_lock=ObjectLock("COMPLIANCE", 1))
    with pytest.raises(ValueError, match="mode"):
        ObjectLock("LEGAL", 1)
    assert SecureBucketProps(name="b", kms_key_arn="k", force_destroy=True,
                             object_lock=ObjectLock("GOVERNANCE", 1)).force_destroy
