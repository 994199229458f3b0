"""Audit of object access: one CloudTrail trail per account that records the S3 data events (every
object read, write and delete) of the state bucket and of every environment's audit bucket, into its
own KMS-encrypted, TLS-only, versioned log bucket and a CloudWatch Logs group.

It lives in the account-level stack (payments-state), not in each environment: an account allows
five trails per region, and dev, staging and preview environments would exhaust that. Audit buckets
are matched by name prefix, so an environment created later is recorded from its first object.
Data events only: management events stay with the account's own trail (a second copy is billed).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

from constructs import Construct
from cdktf_cdktf_provider_aws.cloudtrail import (
    Cloudtrail, CloudtrailAdvancedEventSelector, CloudtrailAdvancedEventSelectorFieldSelector,
)
from cdktf_cdktf_provider_aws.cloudwatch_log_group import CloudwatchLogGroup
from cdktf_cdktf_provider_aws.iam_role import IamRole
from cdktf_cdktf_provider_aws.iam_role_policy import IamRolePolicy
from cdktf_cdktf_provider_aws.kms_alias import KmsAlias
from cdktf_cdktf_provider_aws.kms_key import KmsKey

from modules.iam import Statement, policy_document
from modules.security import ENCRYPT_ACTIONS
from modules.storage import SecureBucket, SecureBucketProps

CLOUDTRAIL = "cloudtrail.amazonaws.com"
LOG_GLACIER_AFTER_DAYS = 90
# The searchable copy; the log bucket keeps every file for good.
LOG_GROUP_RETENTION_DAYS = 365


@dataclass(frozen=True)
class DataEventTrailProps:
    name: str                          # trail name; also names its key alias, log group and role
    log_bucket_name: str
    # Object ARN prefixes recorded: "arn:aws:s3:::bucket/" for one bucket, or a bucket-name prefix.
    object_arn_prefixes: Sequence[str]
    account_id: str
    region: str
    partition: str = "aws"


def trail_arn(p: DataEventTrailProps) -> str:
    return f"arn:{p.partition}:cloudtrail:{p.region}:{p.account_id}:trail/{p.name}"


def log_group_name(p: DataEventTrailProps) -> str:
    return f"/aws/cloudtrail/{p.name}"


def trail_key_policy(p: DataEventTrailProps) -> str:
    """The account administers the key; CloudTrail may use it only for this trail's log files, and
    CloudWatch Logs only for this trail's log group."""
    this_trail = {"StringEquals": {"aws:SourceArn": trail_arn(p)}}
    group_arn = f"arn:{p.partition}:logs:{p.region}:{p.account_id}:log-group:{log_group_name(p)}"
    return policy_document(
        Statement(sid="AccountAdministers", actions=["kms:*"],
                  principals={"AWS": f"arn:{p.partition}:iam::{p.account_id}:root"}),
        Statement(sid="CloudTrailEncryptsLogFiles", actions=["kms:GenerateDataKey*"],
                  principals={"Service": CLOUDTRAIL},
                  conditions={**this_trail, "StringLike": {
                      "kms:EncryptionContext:aws:cloudtrail:arn":
                      f"arn:{p.partition}:cloudtrail:*:{p.account_id}:trail/*"}}),
        Statement(sid="CloudTrailDescribesKey", actions=["kms:DescribeKey"],
                  principals={"Service": CLOUDTRAIL}, conditions=this_trail),
        Statement(sid="CloudWatchLogsEncryptsTrailLogGroup", actions=list(ENCRYPT_ACTIONS),
                  principals={"Service": f"logs.{p.region}.amazonaws.com"},
                  conditions={"ArnEquals": {"kms:EncryptionContext:aws:logs:arn": group_arn}}),
    )


class DataEventTrail(Construct):
    """A trail of the object-level (data) events under ``object_arn_prefixes``, with its own key,
    log bucket and log group."""

    def __init__(self, scope: Construct, id: str, props: DataEventTrailProps):
        super().__init__(scope, id)
        p = props
        arn = trail_arn(p)  # known before the trail exists, so policies can name it (no cycle)
        self.key = KmsKey(
            self, "key", description=f"CloudTrail log files of {p.name}", enable_key_rotation=True,
            deletion_window_in_days=30, policy=trail_key_policy(p))
        KmsAlias(self, "alias", name=f"alias/{p.name}", target_key_id=self.key.key_id)
        bucket_arn = f"arn:{p.partition}:s3:::{p.log_bucket_name}"
        self.log_bucket = SecureBucket(self, "logs", SecureBucketProps(
            name=p.log_bucket_name, kms_key_arn=self.key.arn, glacier_after_days=LOG_GLACIER_AFTER_DAYS,
            policy_statements=[
                # Only this trail, through CloudTrail, may write; only under this account's prefix.
                Statement(sid="CloudTrailChecksBucketAcl", actions=["s3:GetBucketAcl"],
                          principals={"Service": CLOUDTRAIL}, resources=[bucket_arn],
                          conditions={"StringEquals": {"aws:SourceArn": arn}}),
                Statement(sid="CloudTrailWritesLogFiles", actions=["s3:PutObject"],
                          principals={"Service": CLOUDTRAIL},
                          resources=[f"{bucket_arn}/AWSLogs/{p.account_id}/*"],
                          conditions={"StringEquals": {"aws:SourceArn": arn,
                                                       "s3:x-amz-acl": "bucket-owner-full-control"}}),
            ]))
        # The searchable, alarmable copy of the same events.
        self.log_group = CloudwatchLogGroup(self, "log-group", name=log_group_name(p),
                                            retention_in_days=LOG_GROUP_RETENTION_DAYS, kms_key_id=self.key.arn)
        role = IamRole(self, "logs-role", name=f"{p.name}-logs", assume_role_policy=policy_document(Statement(
            sid="TrustCloudTrail", actions=["sts:AssumeRole"], resources=(), principals={"Service": CLOUDTRAIL},
            conditions={"StringEquals": {"aws:SourceArn": arn, "aws:SourceAccount": p.account_id}})))
        role_policy = IamRolePolicy(self, "logs-policy", role=role.id, name=f"{p.name}-logs",
                                    policy=policy_document(Statement(
                                        sid="DeliverToTrailLogGroup",
                                        actions=["logs:CreateLogStream", "logs:PutLogEvents"],
                                        resources=[f"{self.log_group.arn}:log-stream:*"])))
        self.trail = Cloudtrail(
            self, "trail", name=p.name, s3_bucket_name=self.log_bucket.name, kms_key_id=self.key.arn,
            enable_log_file_validation=True,  # signed digests: a deleted or edited log file shows
            is_multi_region_trail=True, include_global_service_events=True, enable_logging=True,
            cloud_watch_logs_group_arn=f"{self.log_group.arn}:*", cloud_watch_logs_role_arn=role.arn,
            advanced_event_selector=[CloudtrailAdvancedEventSelector(
                name="Object-level events of the state and audit buckets",
                field_selector=[
                    CloudtrailAdvancedEventSelectorFieldSelector(field="eventCategory", equal_to=["Data"]),
                    CloudtrailAdvancedEventSelectorFieldSelector(
                        field="resources.type", equal_to=["AWS::S3::Object"]),
                    CloudtrailAdvancedEventSelectorFieldSelector(
                        field="resources.ARN", starts_with=list(p.object_arn_prefixes)),
                ])],
            # CloudTrail checks its bucket policy and its log role when the trail is created.
            depends_on=[self.log_bucket.policy, role_policy],
        )
        self.arn = self.trail.arn
