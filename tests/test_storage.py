"""The audit-log bucket (and, through the same construct, the state bucket)."""

import pytest

from tests.support import statement


def _bucket_ref(stack):
    names = list(stack.resources("aws_s3_bucket"))
    assert len(names) == 1
    return f"${{aws_s3_bucket.{names[0]}.id}}"


def _for_bucket(stack, rtype):
    return stack.one(rtype, bucket=_bucket_ref(stack))


def test_audit_bucket_name_includes_environment_and_account(stack):
    name = stack.one("aws_s3_bucket")["bucket"]
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
    assert stack.one("aws_s3_bucket")["force_destroy"] is True


@pytest.mark.parametrize("rtype", ["aws_s3_bucket_versioning", "aws_s3_bucket_public_access_block",
                                   "aws_s3_bucket_policy", "aws_s3_bucket_server_side_encryption_configuration"])
def test_state_bucket_is_as_protected_as_the_audit_bucket(state_stack, rtype):
    assert len(state_stack.resources(rtype)) == 1


def test_state_bucket_is_never_force_destroyed(state_stack):
    assert state_stack.one("aws_s3_bucket")["force_destroy"] is False
    # Its own state and the bucket/backend naming: tests/test_state.py.
