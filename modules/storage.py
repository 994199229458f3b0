"""Storage: a secure S3 bucket construct (KMS, versioning, TLS only, no public access, owner-enforced)
used for the audit trail and for the Terraform state bucket; optionally a write-once (S3 Object Lock)
store whose objects nobody can overwrite, delete or unlock through the bucket's normal API."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional, Sequence

from constructs import Construct
from cdktf import TerraformProvider, TerraformResourceLifecycle
from cdktf_cdktf_provider_aws.s3_bucket import S3Bucket
from cdktf_cdktf_provider_aws.s3_bucket_lifecycle_configuration import (
    S3BucketLifecycleConfiguration, S3BucketLifecycleConfigurationRule,
    S3BucketLifecycleConfigurationRuleAbortIncompleteMultipartUpload,
    S3BucketLifecycleConfigurationRuleFilter,
    S3BucketLifecycleConfigurationRuleNoncurrentVersionTransition,
    S3BucketLifecycleConfigurationRuleTransition,
)
from cdktf_cdktf_provider_aws.s3_bucket_object_lock_configuration import (
    S3BucketObjectLockConfigurationA, S3BucketObjectLockConfigurationRuleA,
    S3BucketObjectLockConfigurationRuleDefaultRetentionA,
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
OBJECT_LOCK_MODES = ("GOVERNANCE", "COMPLIANCE")
# What would erase or unlock a locked object version, or hide it behind a delete marker. Object Lock
# alone does not stop a plain DeleteObject (it adds a delete marker), and in governance mode anyone
# holding s3:BypassGovernanceRetention (every administrator) may delete versions or shorten retention.
ERASE_ACTIONS = (
    "s3:DeleteObject", "s3:DeleteObjectVersion", "s3:BypassGovernanceRetention",
    "s3:PutObjectRetention", "s3:PutObjectLegalHold",
)


@dataclass(frozen=True)
class ObjectLock:
    """Write-once retention: every new object version is locked for ``days`` in ``mode``."""

    mode: str
    days: int

    def __post_init__(self) -> None:
        if self.mode not in OBJECT_LOCK_MODES:
            raise ValueError(f"object lock mode {self.mode!r} is not one of {OBJECT_LOCK_MODES}")
        if self.days < 1:
            raise ValueError(f"object lock retention must be at least one day, not {self.days}")


@dataclass(frozen=True)
class SecureBucketProps:
    name: str
    kms_key_arn: str
    # Emptied on destroy (objects and versions); never for production data. With a governance-mode
    # lock, Terraform empties the bucket with s3:BypassGovernanceRetention (hashicorp/aws deletes
    # versions with BypassGovernanceRetention when the bucket has Object Lock).
    force_destroy: bool = False
    # Move objects to Glacier after this many days; None keeps them in S3 Standard. (Retention and
    # legal holds survive storage-class transitions; there is deliberately no expiration rule.)
    glacier_after_days: Optional[int] = None
    # Write-once store: Object Lock with a default retention, conditional writes only, and a policy
    # that denies erasing or unlocking objects to every principal.
    object_lock: Optional[ObjectLock] = None
    # Further bucket-policy statements, e.g. the service that delivers logs into the bucket.
    policy_statements: Sequence[Statement] = ()
    # Another region's provider (the disaster-recovery replica of the audit bucket); None: the stack's.
    provider: Optional[TerraformProvider] = None
    partition: str = "aws"

    def __post_init__(self) -> None:
        if self.force_destroy and self.object_lock and self.object_lock.mode == "COMPLIANCE":
            raise ValueError("force_destroy cannot empty a compliance-mode bucket before its retention ends")


class SecureBucket(Construct):
    """A private, versioned, SSE-KMS bucket that refuses plain HTTP."""

    def __init__(self, scope: Construct, id: str, props: SecureBucketProps):
        super().__init__(scope, id)
        lock = props.object_lock
        where = {"provider": props.provider} if props.provider else {}
        self.bucket = S3Bucket(
            self, "bucket", **where, bucket=props.name, force_destroy=props.force_destroy,
            object_lock_enabled=True if lock else None,
            # A bucket created before it had a lock gets Object Lock in place from the lock
            # configuration below (S3 allows that on versioned buckets); without this, the provider
            # would plan to replace it (object_lock_enabled forces a new bucket) and lose its objects.
            lifecycle=TerraformResourceLifecycle(ignore_changes=["object_lock_enabled"]) if lock else None,
        )
        self.name = self.bucket.bucket
        self.arn = self.bucket.arn
        # The name as configured (not a reference): an ARN built from it names this bucket before it
        # exists, e.g. in a trust policy's aws:SourceArn.
        self.configured_arn = f"arn:{props.partition}:s3:::{props.name}"
        S3BucketOwnershipControls(
            self, "ownership", **where, bucket=self.bucket.id,
            rule=S3BucketOwnershipControlsRule(object_ownership="BucketOwnerEnforced"),
        )
        S3BucketPublicAccessBlock(
            self, "public-access", **where, bucket=self.bucket.id, block_public_acls=True,
            block_public_policy=True, ignore_public_acls=True, restrict_public_buckets=True,
        )
        self.versioning = versioning = S3BucketVersioningA(
            self, "versioning", **where, bucket=self.bucket.id,
            versioning_configuration=S3BucketVersioningVersioningConfiguration(status="Enabled"),
        )
        statements = [Statement(
            sid="DenyInsecureTransport", effect="Deny", actions=["s3:*"],
            principals={"AWS": "*"}, resources=[self.bucket.arn, f"{self.bucket.arn}/*"],
            conditions={"Bool": {"aws:SecureTransport": "false"}},
        )]
        if lock:
            S3BucketObjectLockConfigurationA(
                self, "object-lock", **where, bucket=self.bucket.id, object_lock_enabled="Enabled",
                rule=S3BucketObjectLockConfigurationRuleA(
                    default_retention=S3BucketObjectLockConfigurationRuleDefaultRetentionA(
                        mode=lock.mode, days=lock.days)),
                depends_on=[versioning],  # Object Lock requires versioning
            )
            statements += [
                # No principal, administrators included, may erase or unlock an object through this
                # bucket; doing so takes removing this policy first (a separate, logged act).
                # Terraform's destroy of a non-production bucket does exactly that: the policy goes
                # before the bucket is emptied.
                Statement(sid="DenyObjectErasure", effect="Deny", actions=list(ERASE_ACTIONS),
                          principals={"AWS": "*"}, resources=[f"{self.bucket.arn}/*"]),
                # Every write must be create-only (If-None-Match: *), so nothing overwrites an object
                # with a new current version (S3 "enforce conditional writes").
                Statement(sid="DenyOverwritingWrites", effect="Deny", actions=["s3:PutObject"],
                          principals={"AWS": "*"}, resources=[f"{self.bucket.arn}/*"],
                          conditions={"Null": {"s3:if-none-match": "true"}}),
            ]
        S3BucketServerSideEncryptionConfigurationA(
            self, "encryption", **where, bucket=self.bucket.id,
            rule=[S3BucketServerSideEncryptionConfigurationRuleA(
                apply_server_side_encryption_by_default=(
                    S3BucketServerSideEncryptionConfigurationRuleApplyServerSideEncryptionByDefaultA(
                        sse_algorithm="aws:kms", kms_master_key_id=props.kms_key_arn)),
                bucket_key_enabled=True,  # one data key per bucket, not per object: far fewer KMS calls
            )],
        )
        statements += list(props.policy_statements)
        self.policy = S3BucketPolicy(self, "policy", bucket=self.bucket.id, policy=policy_document(*statements),
                                     **where)
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
        S3BucketLifecycleConfiguration(self, "lifecycle", bucket=self.bucket.id, rule=[rule], **where)
