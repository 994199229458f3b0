"""DataReplicas (modules/disaster_recovery.py): replica keys, table replicas and the replication-lag
alarm in the DR region, through a second provider of the same account."""

import json

import pytest
from cdktf import Testing
from cdktf_cdktf_provider_aws.cloudwatch_metric_alarm import CloudwatchMetricAlarm
from cdktf_cdktf_provider_aws.dynamodb_table_replica import DynamodbTableReplicaA
from cdktf_cdktf_provider_aws.kms_replica_key import KmsReplicaKey

from modules.disaster_recovery import DataReplicas, DataReplicasProps, ReplicatedTable, global_table_options
from modules.platform import dr_provider
from tests.constructs.conftest import ACCOUNT, KEY_ARN, TOPIC_ARN, Scoped, scoped, settings_for

FINGERPRINT_ARN = f"arn:aws:kms:us-east-1:{ACCOUNT}:key/mrk-fingerprint"
TABLES = {short: ReplicatedTable(f"arn:aws:dynamodb:us-east-1:{ACCOUNT}:table/payment-{short}-staging",
                                 f"payment-{short}-staging")
          for short in ("transactions", "idempotency", "activity", "registry")}


@pytest.fixture(scope="module")
def staging_dr():
    return settings_for("staging", dr_region="us-west-2")


@pytest.fixture(scope="module")
def replicas(staging_dr) -> Scoped:
    return scoped(lambda scope: DataReplicas(scope, "dr", DataReplicasProps(
        settings=staging_dr, provider=dr_provider(scope, staging_dr), key_arn=KEY_ARN,
        fingerprint_key_arn=FINGERPRINT_ARN, tables=TABLES, alert_topic_arn=TOPIC_ARN, account_id=ACCOUNT)))


def test_the_replicas_carry_the_primary_aliases_in_the_dr_region(replicas):
    aliases = {a["name"]: a for a in replicas.resources("aws_kms_alias").values()}
    assert set(aliases) == {"alias/payment-key-staging", "alias/payment-card-fingerprint-staging"}
    assert all(a["provider"] == "aws.dr" and a["target_key_id"].startswith("${aws_kms_replica_key.")
               for a in aliases.values())


def test_both_keys_get_a_replica_in_the_dr_region(replicas):
    keys = {k["primary_key_arn"]: k for k in replicas.resources(KmsReplicaKey.TF_RESOURCE_TYPE).values()}
    assert set(keys) == {KEY_ARN, FINGERPRINT_ARN}
    assert all(k["provider"] == "aws.dr" for k in keys.values())
    # The replica of the platform key lets the DR region's services use it as the primary's do.
    sids = [s["Sid"] for s in json.loads(keys[KEY_ARN]["policy"])["Statement"]]
    assert "CloudWatchLogsEncryptsLogGroups" in sids and "SnsUsesKeyForTopics" in sids
    assert "logs.us-west-2.amazonaws.com" in keys[KEY_ARN]["policy"]


def test_every_table_gets_a_replica_under_the_replica_key_with_pitr_and_deletion_protection(replicas, staging_dr):
    replica_key = replicas.ref(replicas.construct.key.arn)
    found = replicas.resources(DynamodbTableReplicaA.TF_RESOURCE_TYPE).values()
    assert sorted(r["global_table_arn"] for r in found) == sorted(t.arn for t in TABLES.values())
    for replica in found:
        assert (replica["provider"], replica["kms_key_arn"], replica["point_in_time_recovery"]) == (
            "aws.dr", replica_key, True)
        assert replica["deletion_protection_enabled"] is staging_dr.deletion_protection


def test_one_alarm_pages_when_the_slowest_replica_misses_the_rpo(replicas):
    assert Testing.to_have_resource_with_properties(replicas.synthesized, CloudwatchMetricAlarm.TF_RESOURCE_TYPE, {
        "alarm_name": "payment-replication-latency-alarm-staging", "threshold": 1000,
        "comparison_operator": "GreaterThanThreshold", "evaluation_periods": 3, "datapoints_to_alarm": 3,
        "treat_missing_data": "notBreaching", "alarm_actions": [TOPIC_ARN], "ok_actions": [TOPIC_ARN]})
    [alarm] = replicas.resources(CloudwatchMetricAlarm.TF_RESOURCE_TYPE).values()
    metrics = [q["metric"] for q in alarm["metric_query"] if "metric" in q]
    assert [m["dimensions"] for m in metrics] == [
        {"TableName": t.name, "ReceivingRegion": "us-west-2"} for t in TABLES.values()]
    assert {(m["namespace"], m["metric_name"], m["stat"], m["period"]) for m in metrics} == {
        ("AWS/DynamoDB", "ReplicationLatency", "Maximum", 60)}
    [slowest] = [q for q in alarm["metric_query"] if q.get("return_data")]
    assert slowest["expression"] == "MAX([t0, t1, t2, t3])" and len(alarm["metric_query"]) <= 10


def test_the_rpo_setting_is_the_threshold():
    s = settings_for("staging", dr_region="eu-west-1", dr_rpo_seconds=5)
    alarm = scoped(lambda scope: DataReplicas(scope, "dr", DataReplicasProps(
        settings=s, provider=dr_provider(scope, s), key_arn=KEY_ARN, fingerprint_key_arn=FINGERPRINT_ARN,
        tables=TABLES, alert_topic_arn=TOPIC_ARN, account_id=ACCOUNT)))
    [found] = alarm.resources(CloudwatchMetricAlarm.TF_RESOURCE_TYPE).values()
    assert found["threshold"] == 5000 and "eu-west-1" in found["alarm_description"]


def test_a_table_becomes_a_global_table_only_with_a_dr_region(staging_dr):
    assert global_table_options(settings_for("staging")) == {}
    options = global_table_options(staging_dr)
    assert (options["stream_enabled"], options["stream_view_type"]) == (True, "NEW_AND_OLD_IMAGES")
    assert options["lifecycle"].ignore_changes == ["replica"]


# --------------------------------------------------------------------------- the audit trail (AuditReplica)

from cdktf_cdktf_provider_aws.s3_bucket_replication_configuration import S3BucketReplicationConfigurationA  # noqa: E402

from modules.audit_replication import AuditReplica, AuditReplicaProps  # noqa: E402
from modules.storage import ObjectLock, SecureBucket, SecureBucketProps  # noqa: E402

REPLICA_KEY_ARN = "arn:aws:kms:us-west-2:123456789012:key/mrk-replica"


@pytest.fixture(scope="module")
def audit_replica(staging_dr) -> Scoped:
    def build(scope):
        source = SecureBucket(scope, "audit", SecureBucketProps(
            name="payment-audit-logs-staging-123456789012", kms_key_arn=KEY_ARN,
            object_lock=ObjectLock("GOVERNANCE", 30)))
        return AuditReplica(scope, "dr-audit", AuditReplicaProps(
            settings=staging_dr, provider=dr_provider(scope, staging_dr), source=source, source_key_arn=KEY_ARN,
            replica_key_arn=REPLICA_KEY_ARN, replica_name="payment-audit-logs-staging-123456789012-us-west-2",
            object_lock=ObjectLock("GOVERNANCE", 30), force_destroy=True, glacier_after_days=90,
            alert_topic_arn=TOPIC_ARN, account_id=ACCOUNT))
    return scoped(build)


def test_the_replica_bucket_is_as_write_once_as_the_source_in_the_dr_region(audit_replica):
    buckets = {b["bucket"]: b for b in audit_replica.resources("aws_s3_bucket").values()}
    replica = buckets["payment-audit-logs-staging-123456789012-us-west-2"]
    assert replica["provider"] == "aws.dr" and replica["object_lock_enabled"] is True
    locks = [c for c in audit_replica.resources("aws_s3_bucket_object_lock_configuration").values()
             if c.get("provider") == "aws.dr"]
    assert [c["rule"]["default_retention"] for c in locks] == [{"mode": "GOVERNANCE", "days": 30}]
    [sse] = [c for c in audit_replica.resources("aws_s3_bucket_server_side_encryption_configuration").values()
             if c.get("provider") == "aws.dr"]
    assert sse["rule"][0]["apply_server_side_encryption_by_default"]["kms_master_key_id"] == REPLICA_KEY_ARN


def test_every_object_replicates_within_15_minutes_with_metrics_and_no_delete_markers(audit_replica):
    [config] = audit_replica.resources(S3BucketReplicationConfigurationA.TF_RESOURCE_TYPE).values()
    [rule] = config["rule"]
    assert (rule["status"], rule["filter"], rule["delete_marker_replication"]) == (
        "Enabled", {"prefix": ""}, {"status": "Disabled"})
    destination = rule["destination"]
    assert destination["replication_time"] == {"status": "Enabled", "time": {"minutes": 15}}
    assert destination["metrics"] == {"status": "Enabled", "event_threshold": {"minutes": 15}}
    assert destination["encryption_configuration"] == {"replica_kms_key_id": REPLICA_KEY_ARN}
    assert rule["source_selection_criteria"] == {"sse_kms_encrypted_objects": {"status": "Enabled"}}
    assert sum(d.startswith("aws_s3_bucket_versioning.") for d in config["depends_on"]) == 2  # both versioned first


def test_the_replication_role_is_s3s_for_this_bucket_only_with_exactly_the_replication_rights(audit_replica):
    [role] = audit_replica.resources("aws_iam_role").values()
    [trust] = json.loads(role["assume_role_policy"])["Statement"]
    source_arn = "arn:aws:s3:::payment-audit-logs-staging-123456789012"
    assert trust["Principal"] == {"Service": "s3.amazonaws.com"}
    assert trust["Condition"] == {"StringEquals": {"aws:SourceAccount": ACCOUNT},
                                  "ArnLike": {"aws:SourceArn": source_arn}}
    [policy] = audit_replica.resources("aws_iam_role_policy").values()
    statements = {s["Sid"]: s for s in json.loads(policy["policy"])["Statement"]}
    actions = sorted(a for s in statements.values() for a in s["Action"])
    assert actions == sorted([
        "s3:GetReplicationConfiguration", "s3:ListBucket", "s3:GetObjectVersionForReplication",
        "s3:GetObjectVersionAcl", "s3:GetObjectVersionTagging", "s3:GetObjectRetention", "s3:GetObjectLegalHold",
        "s3:ReplicateObject", "s3:ReplicateTags", "kms:Decrypt", "kms:Encrypt", "kms:GenerateDataKey"])
    assert not [a for a in actions if a in ("s3:ReplicateDelete", "s3:DeleteObject", "s3:PutObject")]
    assert all("*" != r for s in statements.values() for r in s["Resource"])
    assert statements["DecryptSourceObjects"]["Condition"]["StringEquals"] == {"kms:ViaService": "s3.us-east-1.amazonaws.com"}
    assert statements["EncryptReplicaObjects"]["Condition"]["StringEquals"] == {"kms:ViaService": "s3.us-west-2.amazonaws.com"}
    # With S3 Bucket Keys (both buckets) the encryption context is the bucket's ARN, else an object's.
    replica_arn = audit_replica.ref(audit_replica.construct.bucket.arn)
    [source_id] = [n for n, b in audit_replica.resources("aws_s3_bucket").items() if "provider" not in b]
    source_ref = f"${{aws_s3_bucket.{source_id}.arn}}"
    assert statements["DecryptSourceObjects"]["Condition"]["StringLike"] == {
        "kms:EncryptionContext:aws:s3:arn": [source_ref, f"{source_ref}/*"]}
    assert statements["EncryptReplicaObjects"]["Condition"]["StringLike"] == {
        "kms:EncryptionContext:aws:s3:arn": [replica_arn, f"{replica_arn}/*"]}
    [config] = audit_replica.resources("aws_s3_bucket_replication_configuration").values()
    assert any(d.startswith("aws_iam_role_policy.") for d in config["depends_on"])  # the role can act first


def test_late_or_failed_replication_pages(audit_replica):
    [alarm] = audit_replica.resources(CloudwatchMetricAlarm.TF_RESOURCE_TYPE).values()
    assert alarm["alarm_name"] == "payment-audit-replication-alarm-staging"
    queries = {q["id"]: q for q in alarm["metric_query"]}
    assert queries["late_or_failed"]["expression"] == "IF(latency > 900 OR failed > 0, 1, 0)"
    assert (queries["latency"]["metric"]["metric_name"], queries["failed"]["metric"]["metric_name"]) == (
        "ReplicationLatency", "OperationsFailedReplication")
    assert queries["latency"]["metric"]["dimensions"]["RuleId"] == "audit-to-dr-region"
    assert (alarm["threshold"], alarm["comparison_operator"]) == (1, "GreaterThanOrEqualToThreshold")
