"""The migration (issue 15) as synthesized: nothing of it when ``migration_enabled`` is off (the
default), and with it on (one extra dev synth per run) every piece with the properties the runbook
relies on: VPN, DMS, secrets only by ARN, alarms and the EventBridge rule on the alert topic,
weighted records whose weights Terraform leaves to ``make cutover``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from modules.migration.replication import TABLE_MAPPINGS
from tests.support import Synthesized, statement
from tests.support import MIGRATION_SYNTH_SETTINGS as ENV, MIGRATION_ZONE as ZONE

SOURCE_SECRET = ENV["PAYMENTS_ONPREM_DB_SECRET_ARN"]
MIGRATION_TYPES = (
    "aws_customer_gateway", "aws_vpn_gateway", "aws_vpn_gateway_attachment", "aws_vpn_connection",
    "aws_vpn_connection_route", "aws_vpn_gateway_route_propagation", "aws_dms_replication_subnet_group",
    "aws_dms_replication_instance", "aws_dms_endpoint", "aws_dms_replication_task",
    "aws_route53_health_check", "aws_route53_record", "aws_cloudwatch_event_rule", "aws_cloudwatch_event_target",
)


@pytest.fixture(scope="module")
def mig(migration_synth: Path) -> Synthesized:
    return Synthesized(migration_synth / "payments-dev" / "cdk.tf.json")


def migration_resources(stack: Synthesized, rtype: str) -> dict[str, dict]:
    """The stack's resources of ``rtype`` that are not the canary's (modules/canary.py has a schedule
    rule and its target in every environment) nor the DR failover record's (prod, modules/failover_routing.py)."""
    return {n: body for n, body in stack.resources(rtype).items()
            if "/canary/" not in body["//"]["metadata"]["path"] and "/failover-record/" not in body["//"]["metadata"]["path"]}


def resources_under(stack: Synthesized, prefix: str) -> list[str]:
    return [f"{t}.{n}" for t, by_name in stack.json.get("resource", {}).items() for n, body in by_name.items()
            if body["//"]["metadata"]["path"].startswith(prefix)]


# --------------------------------------------------------------------------- off (the default)


@pytest.mark.parametrize("fixture", ["stack", "prod_stack"])
def test_migration_off_synthesizes_nothing_of_it(fixture: str, request: pytest.FixtureRequest) -> None:
    stack: Synthesized = request.getfixturevalue(fixture)
    assert not [t for t in MIGRATION_TYPES if migration_resources(stack, t)]
    assert "migration" not in json.dumps(stack.json.get("output", {}))
    key_sids = [s["Sid"] for s in stack.policy(stack.one("aws_kms_key", enable_key_rotation=True))["Statement"]]
    topic_sids = [s["Sid"] for s in stack.policy(stack.one("aws_sns_topic_policy"))["Statement"]]
    assert not [sid for sid in key_sids + topic_sids if "EventBridge" in sid]
    assert not [d for d in stack.resources("aws_cloudwatch_dashboard").values() if "AWS/DMS" in d["dashboard_body"]]


# --------------------------------------------------------------------------- on


def test_terraform_validate_passes_with_the_migration_on(mig: Synthesized) -> None:
    """Catches what the provider schema forbids (e.g. server_name next to secrets_manager_arn)."""
    from scripts import terraform

    workdir = mig.path.parent
    terraform.run(workdir, ["init", "-backend=false", "-input=false", "-no-color"])
    result = json.loads(terraform.run(workdir, ["validate", "-no-color", "-json"], check=False).stdout)
    assert result["valid"] is True and result["error_count"] == 0, result["diagnostics"]


def test_everything_of_the_migration_is_under_one_construct(mig: Synthesized) -> None:
    ours = set(resources_under(mig, "payments-dev/migration/"))
    for rtype in MIGRATION_TYPES:
        assert migration_resources(mig, rtype), rtype
        assert {f"{rtype}.{n}" for n in migration_resources(mig, rtype)} <= ours, rtype


def test_vpn_uses_the_settings_and_propagates_to_private_and_isolated_tables(mig: Synthesized) -> None:
    cgw = mig.one("aws_customer_gateway")
    assert (cgw["ip_address"], cgw["bgp_asn"], cgw["type"]) == ("18.194.10.20", "65000", "ipsec.1")
    vgw_id = mig.ref("aws_vpn_gateway", "id")
    assert mig.one("aws_vpn_gateway_attachment")["vpc_id"] == mig.ref("aws_vpc", "id")
    vpn = mig.one("aws_vpn_connection")
    assert vpn["static_routes_only"] is True and vpn["vpn_gateway_id"] == vgw_id
    assert vpn["preshared_key_storage"] == "SecretsManager"
    assert [r["destination_cidr_block"] for r in mig.resources("aws_vpn_connection_route").values()] == ["192.168.0.0/16"]
    tables = {p["route_table_id"] for p in mig.resources("aws_vpn_gateway_route_propagation").values()}
    private = {mig.ref("aws_route_table", "id", tags={"Name": f"payment-private-{az}-dev"}) for az in range(3)}
    isolated = {mig.ref("aws_route_table", "id", tags={"Name": "payment-isolated-dev"})}
    assert tables == private | isolated


def test_dms_security_group_admits_only_the_onprem_db_cidr_on_its_port(mig: Synthesized) -> None:
    sg = mig.ref("aws_security_group", "id", name="payment-dms-dev")
    egress = [r for r in mig.resources("aws_vpc_security_group_egress_rule").values() if r["security_group_id"] == sg]
    onprem = [r for r in egress if r.get("cidr_ipv4", "").startswith("192.168.")]
    assert [(r["cidr_ipv4"], r["from_port"], r["to_port"]) for r in onprem] == [("192.168.10.0/24", 5432, 5432)]
    assert not mig.resources("aws_security_group").get("ingress")
    assert not [r for r in mig.resources("aws_vpc_security_group_ingress_rule").values() if r["security_group_id"] == sg]
    aurora_in = mig.one("aws_vpc_security_group_ingress_rule", referenced_security_group_id=sg)
    assert aurora_in["security_group_id"] == mig.ref("aws_security_group", "id", name="payment-aurora-dev")


def test_replication_instance_is_private_encrypted_and_sized_from_settings(mig: Synthesized) -> None:
    inst = mig.one("aws_dms_replication_instance")
    assert inst["publicly_accessible"] is False and inst["multi_az"] is False  # multi-AZ in prod only
    assert inst["kms_key_arn"] == mig.ref("aws_kms_key", "arn", enable_key_rotation=True)
    assert (inst["replication_instance_class"], inst["allocated_storage"]) == ("dms.t3.medium", 50)
    group = mig.one("aws_dms_replication_subnet_group")
    assert group["subnet_ids"] == [mig.ref("aws_subnet", "id", tags={"Name": f"payment-private-{az}-dev", "Tier": "private"})
                                   for az in range(3)]


def test_endpoints_take_credentials_only_from_secrets_through_a_dms_role(mig: Synthesized) -> None:
    role_arn = mig.ref("aws_iam_role", "arn", name="payment-dms-secrets-dev")
    source = mig.one("aws_dms_endpoint", endpoint_type="source")
    target = mig.one("aws_dms_endpoint", endpoint_type="target")
    assert source["secrets_manager_arn"] == SOURCE_SECRET
    assert target["secrets_manager_arn"] == mig.ref("aws_rds_cluster", "master_user_secret[0].secret_arn")
    for endpoint in (source, target):
        assert endpoint["secrets_manager_access_role_arn"] == role_arn
        assert "password" not in endpoint and "username" not in endpoint
        assert endpoint["ssl_mode"] in ("require", "verify-full")
    # Host and port live in the secrets (the provider refuses them next to secrets_manager_arn).
    assert source["database_name"] == "payments" and target["database_name"] == mig.ref("aws_rds_cluster", "database_name")
    assert not {"server_name", "port"} & (set(source) | set(target))


def test_secrets_role_trusts_regional_dms_of_this_account_and_reads_two_secrets(mig: Synthesized) -> None:
    role = mig.one("aws_iam_role", name="payment-dms-secrets-dev")
    trust = statement(mig.policy(role, "assume_role_policy"), "TrustDmsInThisAccount")
    assert trust["Principal"] == {"Service": "dms.us-east-1.amazonaws.com"}
    assert trust["Condition"] == {"StringEquals": {"aws:SourceAccount": "${data.aws_caller_identity.caller.account_id}"}}
    policy = mig.policy(mig.one("aws_iam_role_policy", name="read-endpoint-secrets"))
    read = statement(policy, "ReadEndpointSecrets")
    assert read["Action"] == ["secretsmanager:GetSecretValue"]
    assert read["Resource"] == [SOURCE_SECRET, mig.ref("aws_rds_cluster", "master_user_secret[0].secret_arn")]
    decrypt = statement(policy, "DecryptEndpointSecrets")
    assert decrypt["Action"] == ["kms:Decrypt"] and decrypt["Resource"] == [mig.ref("aws_kms_key", "arn", enable_key_rotation=True)]


def test_task_is_full_load_and_cdc_with_reviewed_mappings_validation_and_encrypted_logs(mig: Synthesized) -> None:
    task = mig.one("aws_dms_replication_task")
    assert task["migration_type"] == "full-load-and-cdc" and task["start_replication_task"] is False
    assert json.loads(task["table_mappings"]) == json.loads(TABLE_MAPPINGS.read_text())
    settings = json.loads(task["replication_task_settings"])
    assert settings["ValidationSettings"]["EnableValidation"] is True
    assert settings["Logging"]["EnableLogging"] is True
    # DMS writes to dms-tasks-<instance id> (the setting is read-only); the group exists first, encrypted.
    assert "CloudWatchLogGroup" not in settings["Logging"]
    instance_id = mig.one("aws_dms_replication_instance")["replication_instance_id"]
    log_group = mig.one("aws_cloudwatch_log_group", name=f"dms-tasks-{instance_id}")
    assert task["depends_on"] == [mig.ref("aws_cloudwatch_log_group", "name", name=f"dms-tasks-{instance_id}").removesuffix(".name}")[2:]]
    assert log_group["kms_key_id"] == mig.ref("aws_kms_key", "arn", enable_key_rotation=True)
    assert task["resource_identifier"] == task["replication_task_id"] == "payment-migration-dev"


def test_table_mappings_file_only_selects_and_excludes() -> None:
    rules = json.loads(TABLE_MAPPINGS.read_text())["rules"]
    assert rules and {r["rule-type"] for r in rules} == {"selection"}
    assert len({r["rule-id"] for r in rules}) == len(rules)


def _dms_alarm(mig: Synthesized, metric: str) -> dict[str, Any]:
    return mig.one("aws_cloudwatch_metric_alarm", metric_name=metric)


@pytest.mark.parametrize("metric", ["CDCLatencySource", "CDCLatencyTarget", "ValidationFailedOverallCount"])
def test_migration_alarms_watch_the_task_and_page_the_alert_topic(mig: Synthesized, metric: str) -> None:
    alarm = _dms_alarm(mig, metric)
    topic = mig.ref("aws_sns_topic", "arn")
    assert alarm["namespace"] == "AWS/DMS"
    assert alarm["dimensions"] == {"ReplicationInstanceIdentifier": "payment-dms-dev",
                                   "ReplicationTaskIdentifier": "payment-migration-dev"}
    assert alarm["alarm_actions"] == [topic] and alarm["ok_actions"] == [topic]
    assert alarm["threshold"] == (0 if metric.startswith("Validation") else 60)


def test_task_stop_or_failure_reaches_the_alert_topic_through_eventbridge(mig: Synthesized) -> None:
    rule = mig.one("aws_cloudwatch_event_rule", name="payment-dms-task-stopped-dev")
    pattern = json.loads(rule["event_pattern"])
    assert pattern["source"] == ["aws.dms"] and pattern["resources"] == [
        "arn:${data.aws_partition.partition.partition}:dms:us-east-1:${data.aws_caller_identity.caller.account_id}:task:payment-migration-dev"]
    assert pattern["detail"]["eventType"] == ["REPLICATION_TASK_FAILED", "REPLICATION_TASK_STOPPED"]
    target = mig.one("aws_cloudwatch_event_target", target_id="alert-topic")
    assert target["arn"] == mig.ref("aws_sns_topic", "arn") and target["rule"] == mig.ref(
        "aws_cloudwatch_event_rule", "name", name="payment-dms-task-stopped-dev")
    # EventBridge may publish to the KMS-encrypted topic: topic policy and key policy, this account's rules only.
    rules_arn = "arn:${data.aws_partition.partition.partition}:events:us-east-1:${data.aws_caller_identity.caller.account_id}:rule/*"
    topic_stmt = statement(mig.policy(mig.one("aws_sns_topic_policy")), "EventBridgeRulesPublish")
    key_stmt = statement(mig.policy(mig.one("aws_kms_key", enable_key_rotation=True)), "EventBridgeRulesPublishToEncryptedTopics")
    for stmt in (topic_stmt, key_stmt):
        assert stmt["Principal"] == {"Service": "events.amazonaws.com"}
        assert stmt["Condition"]["ArnLike"] == {"aws:SourceArn": rules_arn}


def test_dashboard_gets_a_migration_row_after_the_platform_graphs(mig: Synthesized,
                                                                  staging_stack: Synthesized) -> None:
    ours = json.loads(mig.one("aws_cloudwatch_dashboard")["dashboard_body"])["widgets"]
    # The platform's own graphs (staging has the dashboard by default): same titles, same places.
    base = json.loads(staging_stack.one("aws_cloudwatch_dashboard")["dashboard_body"])["widgets"]
    assert [(w["properties"]["title"], w["x"], w["y"]) for w in ours[:len(base)]] == [
        (w["properties"]["title"], w["x"], w["y"]) for w in base]
    extra = ours[len(base):]
    assert [w["properties"]["title"] for w in extra][0] == "DMS CDC latency (s)"
    assert {w["y"] for w in extra} == {max(w["y"] for w in base) + 6}  # a row of its own


def test_weighted_records_split_the_merchant_name_and_leave_weights_to_cutover(mig: Synthesized) -> None:
    legacy = mig.one("aws_route53_record", set_identifier="legacy")
    new = mig.one("aws_route53_record", set_identifier="aws")
    for record in (legacy, new):
        assert (record["zone_id"], record["name"], record["type"]) == (ZONE, "api.payments.example.com", "CNAME")
        assert record["lifecycle"] == {"ignore_changes": ["weighted_routing_policy"]}
    assert (legacy["weighted_routing_policy"]["weight"], new["weighted_routing_policy"]["weight"]) == (100, 0)
    assert legacy["records"] == ["legacy-api.dc.example.com"]
    assert new["records"] == [f"{mig.ref('aws_api_gateway_rest_api', 'id')}.execute-api.us-east-1.amazonaws.com"]
    legacy_check = mig.one("aws_route53_health_check", type="HTTPS")
    assert (legacy_check["fqdn"], legacy_check["resource_path"]) == ("legacy-api.dc.example.com", "/health")
    assert legacy["health_check_id"] == mig.ref("aws_route53_health_check", "id", type="HTTPS")
    # The new API is healthy while the synthetic merchant can pay through it; no verdict yet is not healthy.
    new_check = mig.one("aws_route53_health_check", type="CLOUDWATCH_METRIC")
    assert new_check["cloudwatch_alarm_name"] == mig.ref("aws_cloudwatch_metric_alarm", "alarm_name", alarm_name="payment-canary-alarm-dev")
    assert new_check["insufficient_data_health_status"] == "Unhealthy"
    assert new["health_check_id"] == mig.ref("aws_route53_health_check", "id", type="CLOUDWATCH_METRIC")


def test_migration_leaves_the_rest_of_the_stack_unchanged(mig: Synthesized, stack: Synthesized) -> None:
    """Only the migration's own resources, the two policies that let EventBridge publish, the
    dashboard (asked for with the migration) and its outputs differ from the dev stack with the
    migration off."""
    changed = []
    for rtype, by_name in stack.json["resource"].items():
        for name, body in by_name.items():
            if mig.resources(rtype).get(name) != body:
                changed.append(f"{rtype}.{name}".split("_", 1)[1].rsplit("_", 1)[0])
    assert sorted(changed) == ["kms_key.kms_key", "sns_topic_policy.alerts_policy"]
    assert set(mig.json["output"]) - set(stack.json["output"]) == {"migration-task-id", "dashboard-url"}


def test_checkov_finds_nothing_on_the_migration_beyond_dev_relaxations(checkov_reports: dict[str, Any]) -> None:
    """The gate scans prod, where the migration is off; this scans the migration-on dev stack and
    allows on the migration's resources only checks that dev's own settings fail everywhere (log
    retention under a year), which prod's settings pass."""
    failed = checkov_reports["payments-dev-migration"]["results"]["failed_checks"]
    ours = [c for c in failed if c["resource"].split(".", 1)[-1].startswith("migration_")]
    dev_relaxations = {c["check_id"] for c in failed if c not in ours}
    assert ours, "expected the dev-retention finding on the DMS log group (proves the scan saw it)"
    assert {c["check_id"] for c in ours} == {"CKV_AWS_338"}, [(c["check_id"], c["resource"]) for c in ours]
    assert "CKV_AWS_338" in dev_relaxations
