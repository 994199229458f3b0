"""Storage: a secure S3 bucket construct (KMS, versioning, TLS only, no public access, owner-enforced)
used for the audit trail and for the Terraform state bucket."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional, Sequence

from constructs import Construct
from cdktf_cdktf_provider_aws.s3_bucket import S3Bucket
from cdktf_cdktf_provider_aws.s3_bucket_lifecycle_configuration import (
    S3BucketLifecycleConfiguration, S3BucketLifecycleConfigurationRule,
    S3BucketLifecycleConfigurationRuleAbortIncompleteMultipartUpload,
    S3BucketLifecycleConfigurationRuleFilter,
    S3BucketLifecycleConfigurationRuleNoncurrentVersionTransition,
    S3BucketLifecycleConfigurationRuleTransition,
)
from cdktf_cdktf_provider_aws.s3_bucket_ownership_controls import (
    S3BucketOwnershipControls, S3BucketOwnershipControlsRule,
)
from cdktf_cdktf_provider_aws.s3_bucket_policy import S3BucketPolicy
from cdktf_cdktf_provider_aws.s3_bucket_public_access_block import S3BucketPublicAccessBlock
from cdktf_cdktf_provider_aws.s3_bucket_server_side_encryption_configuration import (
    S3BucketServerSideEncryptionConfigurationA,
    S3BucketServerSideEncryptionConfigurationRuleA,
    S3BucketServerSideEncryptionConfigurationRuleApplyServerSideEncryptionByDefaultA,
)
from cdktf_cdktf_provider_aws.s3_bucket_versioning import (
    S3BucketVersioningA, S3BucketVersioningVersioningConfiguration,
)

from modules.iam import Statement, policy_document

ABORT_INCOMPLETE_UPLOADS_AFTER_DAYS = 7


@dataclass(frozen=True)
class SecureBucketProps:
    name: str
    kms_key_arn: str
    # Emptied on destroy (objects and versions); never for production data.
    force_destroy: bool = False
    # Move objects to Glacier after this many days; None keeps them in S3 Standard.
    glacier_after_days: Optional[int] = None
    # Statements added to the bucket policy after DenyInsecureTransport (e.g. the state bucket's).
    extra_statements: Sequence[Statement] = ()


class SecureBucket(Construct):
    """A private, versioned, SSE-KMS bucket that refuses plain HTTP."""

    def __init__(self, scope: Construct, id: str, props: SecureBucketProps):
        super().__init__(scope, id)
        self.bucket = S3Bucket(self, "bucket", bucket=props.name, force_destroy=props.force_destroy)
        self.name = self.bucket.bucket
        self.arn = self.bucket.arn
        S3BucketOwnershipControls(
            self, "ownership", bucket=self.bucket.id,
            rule=S3BucketOwnershipControlsRule(object_ownership="BucketOwnerEnforced"),
        )
        S3BucketPublicAccessBlock(
            self, "public-access", bucket=self.bucket.id, block_public_acls=True,
            block_public_policy=True, ignore_public_acls=True, restrict_public_buckets=True,
        )
        S3BucketVersioningA(
            self, "versioning", bucket=self.bucket.id,
            versioning_configuration=S3BucketVersioningVersioningConfiguration(status="Enabled"),
        )
        S3BucketServerSideEncryptionConfigurationA(
            self, "encryption", bucket=self.bucket.id,
            rule=[S3BucketServerSideEncryptionConfigurationRuleA(
                apply_server_side_encryption_by_default=(
                    S3BucketServerSideEncryptionConfigurationRuleApplyServerSideEncryptionByDefaultA(
                        sse_algorithm="aws:kms", kms_master_key_id=props.kms_key_arn)),
                bucket_key_enabled=True,  # one data key per bucket, not per object: far fewer KMS calls
            )],
        )
        S3BucketPolicy(
            self, "policy", bucket=self.bucket.id,
            policy=policy_document(Statement(
                sid="DenyInsecureTransport", effect="Deny", actions=["s3:*"],
                principals={"AWS": "*"}, resources=[self.bucket.arn, f"{self.bucket.arn}/*"],
                conditions={"Bool": {"aws:SecureTransport": "false"}},
            ), *props.extra_statements),
        )
        # Every bucket aborts incomplete multipart uploads (their parts are billed but never visible);
        # a bucket without archiving gets a rule that does only that.
        abort = [S3BucketLifecycleConfigurationRuleAbortIncompleteMultipartUpload(
            days_after_initiation=ABORT_INCOMPLETE_UPLOADS_AFTER_DAYS)]
        every_object = [S3BucketLifecycleConfigurationRuleFilter(prefix="")]
        if props.glacier_after_days is not None:
            rule = S3BucketLifecycleConfigurationRule(
                id="archive-to-glacier", status="Enabled",
                filter=every_object,
                transition=[S3BucketLifecycleConfigurationRuleTransition(
                    days=props.glacier_after_days, storage_class="GLACIER")],
                noncurrent_version_transition=[
                    S3BucketLifecycleConfigurationRuleNoncurrentVersionTransition(
                        noncurrent_days=props.glacier_after_days, storage_class="GLACIER")],
                abort_incomplete_multipart_upload=abort,
            )
        else:
            rule = S3BucketLifecycleConfigurationRule(
                id="abort-incomplete-multipart-uploads", status="Enabled",
                filter=every_object, abort_incomplete_multipart_upload=abort,
            )
        S3BucketLifecycleConfiguration(self, "lifecycle", bucket=self.bucket.id, rule=[rule])
