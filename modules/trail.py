"""Audit of object access: a CloudTrail trail that records the S3 data events (every object read,
write and delete) of chosen buckets, into its own KMS-encrypted, TLS-only, versioned log bucket.

This is what the access-logging gap (checkov CKV_AWS_18) asks for on the audit and state buckets:
who read or wrote which object, authenticated and signed (log file validation), in a bucket only
CloudTrail writes to. The trail records data events only: management events stay with the account's
own trail, and a second copy of them would be billed.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

from constructs import Construct
from cdktf_cdktf_provider_aws.cloudtrail import (
    Cloudtrail, CloudtrailAdvancedEventSelector, CloudtrailAdvancedEventSelectorFieldSelector,
)
from cdktf_cdktf_provider_aws.kms_alias import KmsAlias
from cdktf_cdktf_provider_aws.kms_key import KmsKey

from modules.iam import Statement, policy_document
from modules.storage import SecureBucket, SecureBucketProps

CLOUDTRAIL = "cloudtrail.amazonaws.com"
LOG_GLACIER_AFTER_DAYS = 90


@dataclass(frozen=True)
class DataEventTrailProps:
    name: str                      # trail name; also names its key alias
    log_bucket_name: str
    bucket_arns: Sequence[str]     # buckets whose object-level events are recorded
    account_id: str
    region: str
    partition: str = "aws"
    # Empty the log bucket on destroy (non-production only).
    force_destroy: bool = False


def trail_key_policy(account_id: str, trail_arn: str, partition: str = "aws") -> str:
    """The account administers the key; CloudTrail may use it only for this trail's log files."""
    this_trail = {"StringEquals": {"aws:SourceArn": trail_arn}}
    return policy_document(
        Statement(sid="AccountAdministers", actions=["kms:*"],
                  principals={"AWS": f"arn:{partition}:iam::{account_id}:root"}),
        Statement(sid="CloudTrailEncryptsLogFiles", actions=["kms:GenerateDataKey*"],
                  principals={"Service": CLOUDTRAIL},
                  conditions={**this_trail, "StringLike": {
                      "kms:EncryptionContext:aws:cloudtrail:arn":
                      f"arn:{partition}:cloudtrail:*:{account_id}:trail/*"}}),
        Statement(sid="CloudTrailDescribesKey", actions=["kms:DescribeKey"],
                  principals={"Service": CLOUDTRAIL}, conditions=this_trail),
    )


class DataEventTrail(Construct):
    """A trail of the object-level (data) events of ``bucket_arns``, with its own key and log bucket."""

    def __init__(self, scope: Construct, id: str, props: DataEventTrailProps):
        super().__init__(scope, id)
        p = props
        # Known before the trail exists, so the key and bucket policies can name it (no cycle).
        trail_arn = f"arn:{p.partition}:cloudtrail:{p.region}:{p.account_id}:trail/{p.name}"
        self.key = KmsKey(
            self, "key", description=f"CloudTrail log files of {p.name}", enable_key_rotation=True,
            deletion_window_in_days=30, policy=trail_key_policy(p.account_id, trail_arn, p.partition))
        KmsAlias(self, "alias", name=f"alias/{p.name}", target_key_id=self.key.key_id)
        self.log_bucket = SecureBucket(self, "logs", SecureBucketProps(
            name=p.log_bucket_name, kms_key_arn=self.key.arn, force_destroy=p.force_destroy,
            glacier_after_days=LOG_GLACIER_AFTER_DAYS,
            policy_statements=[
                # Only this trail, through CloudTrail, may write; only under this account's prefix.
                Statement(sid="CloudTrailChecksBucketAcl", actions=["s3:GetBucketAcl"],
                          principals={"Service": CLOUDTRAIL}, resources=[f"arn:{p.partition}:s3:::{p.log_bucket_name}"],
                          conditions={"StringEquals": {"aws:SourceArn": trail_arn}}),
                Statement(sid="CloudTrailWritesLogFiles", actions=["s3:PutObject"],
                          principals={"Service": CLOUDTRAIL},
                          resources=[f"arn:{p.partition}:s3:::{p.log_bucket_name}/AWSLogs/{p.account_id}/*"],
                          conditions={"StringEquals": {"aws:SourceArn": trail_arn,
                                                       "s3:x-amz-acl": "bucket-owner-full-control"}}),
            ]))
        self.trail = Cloudtrail(
            self, "trail", name=p.name, s3_bucket_name=self.log_bucket.name, kms_key_id=self.key.arn,
            enable_log_file_validation=True,  # signed digests: a deleted or edited log file shows
            is_multi_region_trail=True, include_global_service_events=True,
            enable_logging=True,
            advanced_event_selector=[CloudtrailAdvancedEventSelector(
                name="Object-level events of the protected buckets",
                field_selector=[
                    CloudtrailAdvancedEventSelectorFieldSelector(field="eventCategory", equal_to=["Data"]),
                    CloudtrailAdvancedEventSelectorFieldSelector(
                        field="resources.type", equal_to=["AWS::S3::Object"]),
                    CloudtrailAdvancedEventSelectorFieldSelector(
                        field="resources.ARN", starts_with=[f"{arn}/" for arn in p.bucket_arns]),
                ])],
            # CloudTrail checks its bucket policy when the trail is created.
            depends_on=[self.log_bucket.policy],
        )
        self.arn = self.trail.arn
