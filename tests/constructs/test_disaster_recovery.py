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
