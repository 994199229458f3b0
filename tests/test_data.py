"""Aurora Serverless v2 and the DynamoDB tables."""

import pytest

KEY = "${aws_kms_key."


@pytest.fixture(scope="module")
def cluster(stack):
    return stack.one("aws_rds_cluster")


def test_aurora_is_serverless_v2_postgres_that_pauses_when_idle_in_dev(cluster):
    assert cluster["engine"] == "aurora-postgresql" and cluster["engine_mode"] == "provisioned"
    assert cluster["serverlessv2_scaling_configuration"] == {"min_capacity": 0, "max_capacity": 2,
                                                             "seconds_until_auto_pause": 900}


def test_aurora_engine_version_supports_auto_pause(cluster):
    from modules.settings import auto_pause_supported
    assert cluster["engine_version"] == "15.8" and auto_pause_supported(cluster["engine_version"])


def test_prod_aurora_never_pauses(prod_stack):
    config = prod_stack.one("aws_rds_cluster")["serverlessv2_scaling_configuration"]
    assert config == {"min_capacity": 1, "max_capacity": 16}  # no seconds_until_auto_pause


def test_dev_has_a_writer_only_and_prod_a_writer_and_a_reader_on_db_serverless(stack, prod_stack):
    assert [i["identifier"] for i in stack.resources("aws_rds_cluster_instance").values()] == [
        "payment-customer-db-dev-writer"]
    instances = prod_stack.resources("aws_rds_cluster_instance")
    assert sorted(i["identifier"] for i in instances.values()) == ["payment-customer-db-prod-reader",
                                                                  "payment-customer-db-prod-writer"]
    assert {i["instance_class"] for i in instances.values()} == {"db.serverless"}
    # Terraform ids as before the reader became a setting: prod's instances are not replaced.
    assert sorted(n.split("_")[1] for n in instances) == ["reader", "writer"]


def test_reader_ids_stay_stable_as_readers_are_added():
    from modules.data import instance_roles
    assert instance_roles(0) == ["writer"]
    assert instance_roles(3) == ["writer", "reader", "reader-2", "reader-3"]


def test_aurora_storage_and_performance_insights_use_the_platform_key(stack, cluster):
    assert cluster["storage_encrypted"] is True and cluster["kms_key_id"].startswith(KEY)
    for i in stack.resources("aws_rds_cluster_instance").values():
        assert i["performance_insights_enabled"] is True
        assert i["performance_insights_kms_key_id"].startswith(KEY)


def test_aurora_master_password_is_managed_in_secrets_manager_with_the_key(cluster):
    assert cluster["manage_master_user_password"] is True
    assert cluster["master_user_secret_kms_key_id"].startswith(KEY)
    assert "master_password" not in cluster


def test_aurora_secret_rotates_every_30_days(stack):
    rotation = stack.one("aws_secretsmanager_secret_rotation")
    assert rotation["rotation_rules"]["automatically_after_days"] == 30
    assert "master_user_secret" in rotation["secret_id"]


def test_aurora_parameter_group_forces_tls(stack):
    params = {p["name"]: p["value"] for p in stack.one("aws_rds_cluster_parameter_group")["parameter"]}
    assert params["rds.force_ssl"] == "1"


def test_aurora_uses_isolated_subnets(stack):
    group = stack.one("aws_db_subnet_group")
    isolated = {f"${{aws_subnet.{n}.id}}" for n, s in stack.resources("aws_subnet").items()
                if s["tags"]["Tier"] == "isolated"}
    assert set(group["subnet_ids"]) == isolated


def test_aurora_iam_auth_log_exports_backups(cluster):
    assert cluster["iam_database_authentication_enabled"] is True
    assert cluster["enabled_cloudwatch_logs_exports"] == ["postgresql"]
    assert cluster["backup_retention_period"] >= 1


def test_aurora_deletion_protection_off_in_dev(cluster):
    assert cluster["deletion_protection"] is False and cluster["skip_final_snapshot"] is True


def test_ledger_and_its_indexes_are_keyed_per_merchant(stack):
    """Partition keys "<merchant>#<transaction_id>", "<merchant>#<customer_id>", "<merchant>#<status>":
    dynamodb:LeadingKeys can pin every item and every index lookup to one merchant."""
    table = stack.one("aws_dynamodb_table", name="payment-transactions-dev")
    assert table["hash_key"] == "merchant_transaction" and "range_key" not in table
    indexes = {i["name"]: (i["hash_key"], i["range_key"]) for i in table["global_secondary_index"]}
    assert indexes == {"customer-index": ("merchant_customer", "timestamp"),
                       "status-index": ("merchant_status", "timestamp")}
    assert {a["name"] for a in table["attribute"]} == {
        "merchant_transaction", "timestamp", "merchant_customer", "merchant_status"}
    assert table["billing_mode"] == "PAY_PER_REQUEST"


@pytest.mark.parametrize("name", ["payment-transactions-dev", "payment-idempotency-dev",
                                  "payment-customer-activity-dev"])
def test_tables_have_pitr_and_are_encrypted_with_the_platform_key(stack, name):
    table = stack.one("aws_dynamodb_table", name=name)
    assert table["point_in_time_recovery"] == {"enabled": True}
    assert table["server_side_encryption"]["enabled"] is True
    assert table["server_side_encryption"]["kms_key_arn"].startswith(KEY)


def test_transactions_table_streams_old_and_new_images_for_the_audit_trail(stack):
    """A MODIFY or REMOVE reaches the trail with the digest of what was there before."""
    table = stack.one("aws_dynamodb_table", name="payment-transactions-dev")
    assert table["stream_enabled"] is True and table["stream_view_type"] == "NEW_AND_OLD_IMAGES"


def test_idempotency_records_expire(stack):
    table = stack.one("aws_dynamodb_table", name="payment-idempotency-dev")
    assert table["ttl"] == {"attribute_name": "expires_at", "enabled": True}


def test_enhanced_monitoring_role_writes_only_rdsosmetrics_in_this_account_and_region(stack):
    # Instead of AmazonRDSEnhancedMonitoringRole: RDS* log groups in every account and region.
    role = stack.ref("aws_iam_role", "name", name="payment-rds-monitoring-dev")
    assert not [a for a in stack.resources("aws_iam_role_policy_attachment").values() if a["role"] == role]
    policy = stack.policy(stack.one("aws_iam_role_policy", name="publish-os-metrics"))
    group = ("arn:${data.aws_partition.partition.partition}:logs:us-east-1:"
             "${data.aws_caller_identity.caller.account_id}:log-group:RDSOSMetrics")
    assert {r for st in policy["Statement"] for r in st["Resource"]} == {group, f"{group}:log-stream:*"}
    assert not {a for st in policy["Statement"] for a in st["Action"]} & {"logs:DeleteLogGroup", "logs:*"}


def test_instances_wait_for_the_monitoring_permissions(stack):
    policy = stack.ref("aws_iam_role_policy", "id", name="publish-os-metrics").removeprefix("${").removesuffix(".id}")
    for instance in stack.resources("aws_rds_cluster_instance").values():
        assert instance["depends_on"] == [policy]
        assert instance["monitoring_role_arn"] == stack.ref("aws_iam_role", "arn", name="payment-rds-monitoring-dev")

def test_customer_activity_is_keyed_by_merchant_customer_and_expires(stack):
    table = stack.one("aws_dynamodb_table", name="payment-customer-activity-dev")
    assert table["hash_key"] == "merchant_customer" and "range_key" not in table
    assert table["attribute"] == [{"name": "merchant_customer", "type": "S"}]
    assert table["ttl"] == {"attribute_name": "expires_at", "enabled": True}
    assert table["billing_mode"] == "PAY_PER_REQUEST"
