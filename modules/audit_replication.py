"""Disaster recovery, the audit trail (issue 21, part 2): every audit object replicated to a write-once
bucket in ``dr_region`` within 15 minutes (S3 Replication Time Control), and an alarm when it is late
or fails.

The replica bucket is the audit bucket's twin (modules/storage.py ``SecureBucket``): the same Object
Lock mode and retention, versioning, the same policy (TLS only, no erasing or unlocking, create-only
writes; replication writes with ``s3:ReplicateObject``, which those denials do not name), encrypted
with the replica of the platform key. Replicated objects keep their own retention dates. Delete
markers are not replicated: nothing deletes an audit object in normal operation, and a delete in the
primary must not reach the copy that exists because the primary may be lost.

The replication role may do exactly what replication needs and nothing else: read the source's
replication configuration and its object versions with their retention and legal hold, decrypt with
the platform key through S3 in the primary region for the source bucket only, encrypt with the
replica key through S3 in the DR region for the replica bucket only, and replicate objects and tags
into the replica bucket. Only S3 may assume it, for this source bucket in this account
(``aws:SourceAccount`` / ``aws:SourceArn``: the confused-deputy conditions).
"""

from __future__ import annotations

from dataclasses import dataclass

from constructs import Construct
from cdktf_cdktf_provider_aws.cloudwatch_metric_alarm import (
    CloudwatchMetricAlarm, CloudwatchMetricAlarmMetricQuery, CloudwatchMetricAlarmMetricQueryMetric,
)
from cdktf_cdktf_provider_aws.iam_role import IamRole
from cdktf_cdktf_provider_aws.iam_role_policy import IamRolePolicy
from cdktf_cdktf_provider_aws.provider import AwsProvider
from cdktf_cdktf_provider_aws.s3_bucket_replication_configuration import (
    S3BucketReplicationConfigurationA, S3BucketReplicationConfigurationRule,
    S3BucketReplicationConfigurationRuleDeleteMarkerReplication,
    S3BucketReplicationConfigurationRuleDestination,
    S3BucketReplicationConfigurationRuleDestinationEncryptionConfiguration,
    S3BucketReplicationConfigurationRuleDestinationMetrics,
    S3BucketReplicationConfigurationRuleDestinationMetricsEventThreshold,
    S3BucketReplicationConfigurationRuleDestinationReplicationTime,
    S3BucketReplicationConfigurationRuleDestinationReplicationTimeTime,
    S3BucketReplicationConfigurationRuleFilter,
    S3BucketReplicationConfigurationRuleSourceSelectionCriteria,
    S3BucketReplicationConfigurationRuleSourceSelectionCriteriaSseKmsEncryptedObjects,
)

from modules.iam import Statement, policy_document
from modules.observability import DR_RUNBOOK_PATH, math_alarm
from modules.settings import Settings
from modules.storage import ObjectLock, SecureBucket, SecureBucketProps

# S3 Replication Time Control: 99.99 % of objects within 15 minutes; its metrics and the "missed the
# threshold" events use the same 15 minutes. It is the audit trail's recovery point objective.
RTC_MINUTES = 15
RULE_ID = "audit-to-dr-region"
ALARM_KEY = "audit-replication"


@dataclass(frozen=True)
class AuditReplicaProps:
    settings: Settings
    provider: AwsProvider       # the DR region's
    source: SecureBucket        # the audit bucket
    source_key_arn: str         # the platform key (what the source objects are encrypted with)
    replica_key_arn: str        # its replica in the DR region
    replica_name: str
    object_lock: ObjectLock     # the source's: the copy is as write-once as the original
    force_destroy: bool
    glacier_after_days: int | None
    alert_topic_arn: str
    account_id: str
    partition: str = "aws"


class AuditReplica(Construct):
    """Bucket ``replica_name`` in ``dr_region``, the replication rule with RTC, its role, and alarm
    ``payment-audit-replication-alarm-<env>``."""

    def __init__(self, scope: Construct, id: str, props: AuditReplicaProps):
        super().__init__(scope, id)
        s = props.settings
        self.bucket = SecureBucket(self, "bucket", SecureBucketProps(
            name=props.replica_name, kms_key_arn=props.replica_key_arn, force_destroy=props.force_destroy,
            glacier_after_days=props.glacier_after_days, object_lock=props.object_lock,
            provider=props.provider, partition=props.partition))
        self.role = IamRole(
            self, "role", name=s.name("audit-replication"),
            description="S3 replicates the audit bucket into the DR region with this role, and nothing else",
            assume_role_policy=policy_document(Statement(
                sid="S3ReplicatesThisBucketOnly", actions=["sts:AssumeRole"], principals={"Service": "s3.amazonaws.com"},
                conditions={"StringEquals": {"aws:SourceAccount": props.account_id},
                            "ArnLike": {"aws:SourceArn": props.source.configured_arn}})))
        policy = IamRolePolicy(self, "policy", role=self.role.id, name=s.name("audit-replication"),
                               policy=policy_document(*self._statements(props)))
        self.configuration = S3BucketReplicationConfigurationA(
            self, "replication", bucket=props.source.bucket.id, role=self.role.arn,
            rule=[S3BucketReplicationConfigurationRule(
                id=RULE_ID, status="Enabled", priority=1,
                filter=S3BucketReplicationConfigurationRuleFilter(prefix=""),
                delete_marker_replication=S3BucketReplicationConfigurationRuleDeleteMarkerReplication(
                    status="Disabled"),
                source_selection_criteria=S3BucketReplicationConfigurationRuleSourceSelectionCriteria(
                    sse_kms_encrypted_objects=S3BucketReplicationConfigurationRuleSourceSelectionCriteriaSseKmsEncryptedObjects(
                        status="Enabled")),
                destination=S3BucketReplicationConfigurationRuleDestination(
                    bucket=self.bucket.arn,
                    encryption_configuration=S3BucketReplicationConfigurationRuleDestinationEncryptionConfiguration(
                        replica_kms_key_id=props.replica_key_arn),
                    replication_time=S3BucketReplicationConfigurationRuleDestinationReplicationTime(
                        status="Enabled",
                        time=S3BucketReplicationConfigurationRuleDestinationReplicationTimeTime(minutes=RTC_MINUTES)),
                    metrics=S3BucketReplicationConfigurationRuleDestinationMetrics(
                        status="Enabled",
                        event_threshold=S3BucketReplicationConfigurationRuleDestinationMetricsEventThreshold(
                            minutes=RTC_MINUTES))),
            )],
            # S3 accepts a replication configuration only on versioned buckets, on both sides; and
            # an object written before the role may act would fail replication for good.
            depends_on=[props.source.versioning, self.bucket.versioning, policy],
        )
        self.alarm = self._alarm(props)

    def _statements(self, props: AuditReplicaProps) -> list[Statement]:
        s, source, replica = props.settings, props.source.arn, self.bucket.arn
        return [
            Statement(sid="ReadReplicationConfiguration", resources=[source],
                      actions=["s3:GetReplicationConfiguration", "s3:ListBucket"]),
            Statement(sid="ReadSourceVersions", resources=[f"{source}/*"], actions=[
                "s3:GetObjectVersionForReplication", "s3:GetObjectVersionAcl", "s3:GetObjectVersionTagging",
                # Object Lock: the copy keeps each version's retention and legal hold.
                "s3:GetObjectRetention", "s3:GetObjectLegalHold"]),
            Statement(sid="ReplicateIntoReplica", resources=[f"{replica}/*"],
                      actions=["s3:ReplicateObject", "s3:ReplicateTags"]),
            # Both buckets use S3 Bucket Keys, whose encryption context is the bucket's ARN (an
            # object's ARN without them): both, or every KMS call of replication is denied.
            Statement(sid="DecryptSourceObjects", actions=["kms:Decrypt"], resources=[props.source_key_arn],
                      conditions={"StringEquals": {"kms:ViaService": f"s3.{s.region}.amazonaws.com"},
                                  "StringLike": {"kms:EncryptionContext:aws:s3:arn": [source, f"{source}/*"]}}),
            Statement(sid="EncryptReplicaObjects", actions=["kms:Encrypt", "kms:GenerateDataKey"],
                      resources=[props.replica_key_arn],
                      conditions={"StringEquals": {"kms:ViaService": f"s3.{s.dr_region}.amazonaws.com"},
                                  "StringLike": {"kms:EncryptionContext:aws:s3:arn": [replica, f"{replica}/*"]}}),
        ]

    def _alarm(self, props: AuditReplicaProps) -> CloudwatchMetricAlarm:
        """Late (RTC's latency above 15 minutes) or failed replication, in one page."""
        s = props.settings
        dims = {"SourceBucket": props.source.name, "DestinationBucket": self.bucket.name, "RuleId": RULE_ID}

        def metric(id: str, name: str, stat: str) -> CloudwatchMetricAlarmMetricQuery:
            return CloudwatchMetricAlarmMetricQuery(id=id, return_data=False, metric=CloudwatchMetricAlarmMetricQueryMetric(
                namespace="AWS/S3", metric_name=name, stat=stat, period=300, dimensions=dims))

        # No new objects, no datapoints (missing data is not breaching).
        return math_alarm(
            self, ALARM_KEY, s, props.alert_topic_arn,
            f"Audit objects are not reaching {s.dr_region} within {RTC_MINUTES} minutes, or fail to replicate: "
            "the audit trail's recovery point objective is not met",
            [metric("latency", "ReplicationLatency", "Maximum"), metric("failed", "OperationsFailedReplication", "Sum"),
             CloudwatchMetricAlarmMetricQuery(
                 id="late_or_failed", return_data=True, label="late or failed replication",
                 expression=f"IF(latency > {RTC_MINUTES * 60} OR failed > 0, 1, 0)")],
            threshold=1, periods=1, comparison="GreaterThanOrEqualToThreshold", page=DR_RUNBOOK_PATH)
