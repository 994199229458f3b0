"""SecureBucket: private, versioned, SSE-KMS, TLS-only, owner-enforced; optional archiving to Glacier."""

import json

import pytest
from cdktf import Testing
from cdktf_cdktf_provider_aws.s3_bucket import S3Bucket
from cdktf_cdktf_provider_aws.s3_bucket_lifecycle_configuration import S3BucketLifecycleConfiguration
from cdktf_cdktf_provider_aws.s3_bucket_ownership_controls import S3BucketOwnershipControls
from cdktf_cdktf_provider_aws.s3_bucket_policy import S3BucketPolicy
from cdktf_cdktf_provider_aws.s3_bucket_public_access_block import S3BucketPublicAccessBlock
from cdktf_cdktf_provider_aws.s3_bucket_server_side_encryption_configuration import (
    S3BucketServerSideEncryptionConfigurationA,
)
from cdktf_cdktf_provider_aws.s3_bucket_versioning import S3BucketVersioningA

from modules.storage import SecureBucket, SecureBucketProps
from tests.constructs.conftest import KEY_ARN, Scoped, scoped


@pytest.fixture(scope="module")
def archive() -> Scoped:
    return scoped(lambda scope: SecureBucket(scope, "audit", SecureBucketProps(
        name="payment-audit-logs-dev-123456789012", kms_key_arn=KEY_ARN, force_destroy=True,
        glacier_after_days=90)))


def test_bucket_is_named_and_force_destroy_is_explicit(archive):
    assert Testing.to_have_resource_with_properties(archive.synthesized, S3Bucket.TF_RESOURCE_TYPE, {
        "bucket": "payment-audit-logs-dev-123456789012", "force_destroy": True})


def test_bucket_is_encrypted_with_the_given_key(archive):
    assert Testing.to_have_resource_with_properties(
        archive.synthesized, S3BucketServerSideEncryptionConfigurationA.TF_RESOURCE_TYPE, {"rule": [{
            "apply_server_side_encryption_by_default": {"sse_algorithm": "aws:kms", "kms_master_key_id": KEY_ARN},
            "bucket_key_enabled": True}]})


def test_bucket_is_private_versioned_and_owner_enforced(archive):
    s = archive.synthesized
    assert Testing.to_have_resource_with_properties(s, S3BucketPublicAccessBlock.TF_RESOURCE_TYPE, {
        "block_public_acls": True, "block_public_policy": True, "ignore_public_acls": True,
        "restrict_public_buckets": True})
    assert Testing.to_have_resource_with_properties(s, S3BucketVersioningA.TF_RESOURCE_TYPE, {
        "versioning_configuration": {"status": "Enabled"}})
    assert Testing.to_have_resource_with_properties(s, S3BucketOwnershipControls.TF_RESOURCE_TYPE, {
        "rule": {"object_ownership": "BucketOwnerEnforced"}})


def test_bucket_policy_denies_plain_http(archive):
    """Embedded JSON policy: read as JSON (a Testing matcher compares the string whole)."""
    assert Testing.to_have_resource(archive.synthesized, S3BucketPolicy.TF_RESOURCE_TYPE)
    (policy,) = archive.resources(S3BucketPolicy.TF_RESOURCE_TYPE).values()
    (deny,) = [s for s in json.loads(policy["policy"])["Statement"] if s["Sid"] == "DenyInsecureTransport"]
    bucket_arn = archive.ref(archive.construct.arn)
    assert deny["Effect"] == "Deny" and deny["Resource"] == [bucket_arn, f"{bucket_arn}/*"]
    assert deny["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}


def test_archiving_moves_current_and_old_versions_to_glacier(archive):
    assert Testing.to_have_resource_with_properties(
        archive.synthesized, S3BucketLifecycleConfiguration.TF_RESOURCE_TYPE, {"rule": [{
            "id": "archive-to-glacier", "status": "Enabled",
            "transition": [{"days": 90, "storage_class": "GLACIER"}],
            "noncurrent_version_transition": [{"noncurrent_days": 90, "storage_class": "GLACIER"}]}]})


def test_without_archiving_only_incomplete_uploads_are_cleaned_up():
    synthesized = scoped(lambda scope: SecureBucket(scope, "state", SecureBucketProps(
        name="payments-terraform-state", kms_key_arn=KEY_ARN))).synthesized
    assert Testing.to_have_resource_with_properties(synthesized, S3Bucket.TF_RESOURCE_TYPE, {
        "bucket": "payments-terraform-state", "force_destroy": False})
    assert Testing.to_have_resource_with_properties(
        synthesized, S3BucketLifecycleConfiguration.TF_RESOURCE_TYPE, {"rule": [{
            "id": "abort-incomplete-multipart-uploads",
            "abort_incomplete_multipart_upload": [{"days_after_initiation": 7}]}]})
    assert "GLACIER" not in synthesized


def test_outputs_are_the_bucket_name_and_arn(archive):
    bucket = archive.construct
    assert archive.ref(bucket.name).startswith("${aws_s3_bucket.audit_bucket_")
    assert archive.ref(bucket.name).endswith(".bucket}") and archive.ref(bucket.arn).endswith(".arn}")
