"""TransactionTables (DynamoDB) and CustomerDatabase (Aurora Serverless v2)."""

import pytest
from cdktf import Testing
from cdktf_cdktf_provider_aws.db_subnet_group import DbSubnetGroup
from cdktf_cdktf_provider_aws.dynamodb_table import DynamodbTable
from cdktf_cdktf_provider_aws.rds_cluster import RdsCluster
from cdktf_cdktf_provider_aws.rds_cluster_instance import RdsClusterInstance
from cdktf_cdktf_provider_aws.secretsmanager_secret_rotation import SecretsmanagerSecretRotation

from modules.data import CustomerDatabase, DatabaseProps, TablesProps, TransactionTables
from tests.constructs.conftest import ACCOUNT, KEY_ARN, Scoped, scoped, settings_for

SUBNETS = ["subnet-isolated-a", "subnet-isolated-b", "subnet-isolated-c"]


@pytest.fixture(scope="module")
def tables(dev) -> Scoped:
    return scoped(lambda scope: TransactionTables(scope, "dynamodb", TablesProps(dev, KEY_ARN)))


@pytest.fixture(scope="module")
def database(dev) -> Scoped:
    return scoped(lambda scope: CustomerDatabase(scope, "aurora", DatabaseProps(dev, KEY_ARN, SUBNETS, "sg-aurora", ACCOUNT)))


def test_transactions_table_streams_old_and_new_images_and_is_encrypted(tables):
    """Old and new images: a MODIFY or REMOVE reaches the audit trail with both digests."""
    assert Testing.to_have_resource_with_properties(tables.synthesized, DynamodbTable.TF_RESOURCE_TYPE, {
        "name": "payment-transactions-dev", "billing_mode": "PAY_PER_REQUEST",
        "hash_key": "merchant_transaction",
        "stream_enabled": True, "stream_view_type": "NEW_AND_OLD_IMAGES",
        "server_side_encryption": {"enabled": True, "kms_key_arn": KEY_ARN},
        "point_in_time_recovery": {"enabled": True}})


def test_idempotency_records_expire(tables):
    assert Testing.to_have_resource_with_properties(tables.synthesized, DynamodbTable.TF_RESOURCE_TYPE, {
        "name": "payment-idempotency-dev", "hash_key": "idempotency_key",
        "ttl": {"attribute_name": "expires_at", "enabled": True}})


def test_table_outputs_are_typed(tables):
    t = tables.construct
    assert tables.ref(t.transactions.stream_arn).endswith(".stream_arn}")
    assert tables.ref(t.idempotency.name).startswith("${aws_dynamodb_table.dynamodb_idempotency_")


def test_cluster_is_encrypted_iam_authenticated_with_a_managed_secret(database):
    assert Testing.to_have_resource_with_properties(database.synthesized, RdsCluster.TF_RESOURCE_TYPE, {
        "cluster_identifier": "payment-customer-db-dev", "engine_mode": "provisioned",
        "storage_encrypted": True, "kms_key_id": KEY_ARN,
        "iam_database_authentication_enabled": True, "manage_master_user_password": True,
        "master_user_secret_kms_key_id": KEY_ARN, "vpc_security_group_ids": ["sg-aurora"],
        # Dev pauses at 0 ACU when idle (no compute cost).
        "serverlessv2_scaling_configuration": {"min_capacity": 0, "max_capacity": 2,
                                               "seconds_until_auto_pause": 900},
        "skip_final_snapshot": True})
    assert Testing.to_have_resource_with_properties(database.synthesized, DbSubnetGroup.TF_RESOURCE_TYPE, {
        "subnet_ids": SUBNETS})


def test_dev_runs_a_writer_only_and_readers_are_serverless_with_performance_insights(database):
    assert Testing.to_have_resource_with_properties(database.synthesized, RdsClusterInstance.TF_RESOURCE_TYPE, {
        "identifier": "payment-customer-db-dev-writer", "instance_class": "db.serverless",
        "promotion_tier": 0, "performance_insights_enabled": True, "performance_insights_kms_key_id": KEY_ARN})
    assert len(database.resources(RdsClusterInstance.TF_RESOURCE_TYPE)) == 1  # dev: aurora_readers=0
    with_reader = scoped(lambda scope: CustomerDatabase(scope, "aurora", DatabaseProps(
        settings_for("dev", aurora_readers=1), KEY_ARN, SUBNETS, "sg-aurora", ACCOUNT))).synthesized
    for role, tier in (("writer", 0), ("reader", 1)):
        assert Testing.to_have_resource_with_properties(with_reader, RdsClusterInstance.TF_RESOURCE_TYPE, {
            "identifier": f"payment-customer-db-dev-{role}", "instance_class": "db.serverless",
            "promotion_tier": tier, "performance_insights_enabled": True,
            "performance_insights_kms_key_id": KEY_ARN})


def test_master_secret_rotates(database):
    assert Testing.to_have_resource_with_properties(
        database.synthesized, SecretsmanagerSecretRotation.TF_RESOURCE_TYPE,
        {"rotation_rules": {"automatically_after_days": 30}})
    assert database.ref(database.construct.endpoint).endswith(".endpoint}")


def test_production_cluster_keeps_a_final_snapshot(prod):
    synthesized = scoped(lambda scope: CustomerDatabase(
        scope, "aurora", DatabaseProps(prod, KEY_ARN, SUBNETS, "sg-aurora", ACCOUNT))).synthesized
    assert Testing.to_have_resource_with_properties(synthesized, RdsCluster.TF_RESOURCE_TYPE, {
        "skip_final_snapshot": False, "final_snapshot_identifier": "payment-customer-db-prod-final"})
