"""Disaster recovery, the data (issue 21, part 1): every table replicated into ``dr_region`` under
replicas of the platform's multi-Region keys, and the alarm on how far the replicas are behind.

What a regional outage must not take: the ledger, the idempotency records (or a retry after a
failover charges twice), the customer activity (or velocity scoring restarts from nothing) and the
merchant registry (or nobody is served). Each becomes a DynamoDB global table (version 2019.11.21)
with an ``aws_dynamodb_table_replica`` in the DR region: encrypted with the replica of the platform
key, point-in-time recovery and deletion protection on the replica too (the table's own ``replica``
block cannot set deletion protection in provider 5.100.0, the separate resource can; the table then
ignores its ``replica`` attribute, as the provider documents).

The keys are multi-Region (``multi_region``): the replica of the card-fingerprint HMAC key has the
same key material, so a card's fingerprint and an Idempotency-Key's digest computed in the DR region
are the ones the primary computed (velocity and idempotency survive a failover). A key cannot become
multi-Region after it exists: an environment gets them when it is created with ``dr_region``; for an
existing one the key replacement is a migration (docs/operators/disaster-recovery.md), which the plan
gate refuses to do silently.

Replication is eventual: provider 5.100.0 has no multi-Region strong consistency (``consistency_mode``
is 6.x only, and that mode needs three regions). The recovery point is therefore a measured lag,
alarmed here (``ReplicationLatency`` above ``dr_rpo_seconds``), and a failover must fence the primary
and wait out the lag before the DR region takes writes (the failover issue's commands).

The audit trail's replica is modules/audit_replication.py; the standby request path that serves
these replicas is modules/stacks/standby_stack.py, routed by modules/failover_routing.py. Not built
yet: Aurora as a global database (docs/operators/disaster-recovery.md "To build").
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping

from cdktf import TerraformResourceLifecycle
from constructs import Construct
from cdktf_cdktf_provider_aws.cloudwatch_metric_alarm import (
    CloudwatchMetricAlarm, CloudwatchMetricAlarmMetricQuery, CloudwatchMetricAlarmMetricQueryMetric,
)
from cdktf_cdktf_provider_aws.dynamodb_table_replica import DynamodbTableReplicaA
from cdktf_cdktf_provider_aws.kms_alias import KmsAlias
from cdktf_cdktf_provider_aws.kms_replica_key import KmsReplicaKey
from cdktf_cdktf_provider_aws.provider import AwsProvider

from modules.iam import Statement, policy_document
from modules.observability import DR_RUNBOOK_PATH, math_alarm
from modules.security import platform_key_policy
from modules.settings import Settings

ALARM_KEY = "replication-latency"
LATENCY_PERIOD_SECONDS = 60
LATENCY_PERIODS = 3  # three minutes in a row above the RPO: a burst is not a lost region


def global_table_options(settings: Settings) -> dict[str, object]:
    """What a table needs to become a global table when ``dr_region`` is set: a stream of new and
    old images (global tables replicate from it) and its ``replica`` attribute left to the
    ``aws_dynamodb_table_replica`` resources."""
    if not settings.dr_region:
        return {}
    return {"stream_enabled": True, "stream_view_type": "NEW_AND_OLD_IMAGES",
            "lifecycle": TerraformResourceLifecycle(ignore_changes=["replica"])}


@dataclass(frozen=True)
class ReplicatedTable:
    """A table to replicate: its ARN (the replica's ``global_table_arn``) and name (the alarm's dimension)."""

    arn: str
    name: str


@dataclass(frozen=True)
class DataReplicasProps:
    settings: Settings
    provider: AwsProvider            # the DR region's (modules/platform.py dr_provider)
    key_arn: str                     # the platform key (multi-Region)
    fingerprint_key_arn: str         # the card-fingerprint HMAC key (multi-Region)
    tables: Mapping[str, ReplicatedTable]   # short name -> table
    alert_topic_arn: str             # the primary region's topic: ReplicationLatency is published there
    account_id: str
    partition: str = "aws"


class DataReplicas(Construct):
    """Replica keys ``alias``-less in ``dr_region``, one table replica per table, alarm
    ``payment-replication-latency-alarm-<env>``."""

    def __init__(self, scope: Construct, id: str, props: DataReplicasProps):
        super().__init__(scope, id)
        s, dr = props.settings, props.provider
        self.key = KmsReplicaKey(
            self, "key", provider=dr, primary_key_arn=props.key_arn,
            description=f"Payment platform data key ({s.environment}), replica in {s.dr_region}",
            deletion_window_in_days=30 if s.is_production else 7,
            # The same services may use it in the DR region as in the primary (the standby's logs,
            # alarms and topic); rotation follows the primary key.
            policy=platform_key_policy(props.account_id, s.dr_region, props.partition))
        self.fingerprint_key = KmsReplicaKey(
            self, "card-fingerprint", provider=dr, primary_key_arn=props.fingerprint_key_arn,
            description=f"HMAC key for card fingerprints ({s.environment}), replica in {s.dr_region}",
            deletion_window_in_days=30,
            policy=policy_document(Statement(
                sid="AccountAdministers", actions=["kms:*"],
                principals={"AWS": f"arn:{props.partition}:iam::{props.account_id}:root"})))
        # The replicas carry the primaries' alias names in the DR region: what the guardrails SCP
        # protects from deletion (DenyDeletingPlatformKeys matches keys by alias), and what the DR
        # region's stacks find them by.
        for key_id, replica, name in (("key-alias", self.key, s.name("key")),
                                      ("card-fingerprint-alias", self.fingerprint_key, s.name("card-fingerprint"))):
            KmsAlias(self, key_id, provider=dr, name=f"alias/{name}", target_key_id=replica.key_id)
        self.replicas = {
            short: DynamodbTableReplicaA(
                self, f"{short}-replica", provider=dr, global_table_arn=table.arn,
                kms_key_arn=self.key.arn, point_in_time_recovery=True,
                deletion_protection_enabled=s.deletion_protection)
            for short, table in props.tables.items()
        }
        self.alarm = self._latency_alarm(props)

    def _latency_alarm(self, props: DataReplicasProps) -> CloudwatchMetricAlarm:
        """The slowest table's replication latency above the RPO, three minutes in a row. One alarm
        over the tables (metric math, at most 10 metrics): one page, whichever table lags."""
        s = props.settings
        metrics = [CloudwatchMetricAlarmMetricQuery(
            id=f"t{n}", return_data=False, metric=CloudwatchMetricAlarmMetricQueryMetric(
                namespace="AWS/DynamoDB", metric_name="ReplicationLatency", stat="Maximum",
                period=LATENCY_PERIOD_SECONDS,
                dimensions={"TableName": table.name, "ReceivingRegion": s.dr_region}))
            for n, table in enumerate(props.tables.values())]
        slowest = CloudwatchMetricAlarmMetricQuery(
            id="slowest", return_data=True, label="slowest replica (ms)",
            expression=f"MAX([{', '.join(m.id for m in metrics)}])")
        # No writes, no datapoints: a quiet platform is not a lagging one (missing data is not breaching).
        return math_alarm(
            self, ALARM_KEY, s, props.alert_topic_arn,
            f"A table's replica in {s.dr_region} is more than {s.dr_rpo_seconds}s behind: the recovery point "
            "objective is not met; a failover now would lose that much",
            [*metrics, slowest], threshold=s.dr_rpo_seconds * 1000, periods=LATENCY_PERIODS, page=DR_RUNBOOK_PATH)
