"""The warm standby of the request path (issue 21): ``payments-prod-us-west-2``, as prod synthesizes it.

The rules: the standby is its own stack in the DR region, with its own state; it reads nothing in the
primary region and finds the replicated tables and keys by their primaries' names; everything it
creates is named with the region (IAM is global); its /process is fenced until a failover opens it;
its aliases follow each apply (no CodeDeploy there) and it keeps no provisioned concurrency; it has
its own user pool, API with WAF, alarms and topic, and a synthetic merchant whose payment decides
the SECONDARY failover record, as the primary's decides the PRIMARY one."""

from __future__ import annotations

import json

import pytest

from modules.settings import SettingsError, build_settings
from tests.support import API_DOMAIN, DMS_TARGET_SECRET, DR_API_CERTIFICATE, HOSTED_ZONE, Synthesized, environment_env

STANDBY = "payments-prod-us-west-2"


@pytest.fixture(scope="module")
def standby(synth_all) -> Synthesized:
    return Synthesized(synth_all / "prod" / "stacks" / STANDBY / "cdk.tf.json")


@pytest.fixture(scope="module")
def primary(synth_all) -> Synthesized:
    return Synthesized(synth_all / "prod" / "stacks" / "payments-prod" / "cdk.tf.json")


def test_prod_has_a_standby_stack_and_dev_and_staging_do_not(synth_all):
    assert (synth_all / "prod" / "stacks" / STANDBY).is_dir()
    for environment in ("dev", "staging"):
        assert not [d for d in (synth_all / environment / "stacks").iterdir() if d.name.startswith(f"payments-{environment}-")]


def test_it_lives_in_the_dr_region_with_its_own_state(standby):
    [provider] = standby.json["provider"]["aws"]  # one provider: nothing of the primary region is read
    assert provider["region"] == "us-west-2" and "alias" not in provider
    assert standby.json["terraform"]["backend"]["s3"]["key"] == "payments/prod-us-west-2/terraform.tfstate"


def test_it_finds_the_replicas_by_their_primaries_names(standby, primary):
    tables = {t["name"] for t in standby.json["data"]["aws_dynamodb_table"].values()}
    assert tables == {t["name"] for t in primary.resources("aws_dynamodb_table").values()}
    assert not standby.resources("aws_dynamodb_table") and not standby.resources("aws_kms_key")
    keys = {k["key_id"] for k in standby.json["data"]["aws_kms_key"].values()}
    # The aliases the primary's stack gives the replica keys in us-west-2 (modules/disaster_recovery.py).
    assert keys == {f"alias/{a['name'].removeprefix('alias/')}" for a in primary.resources("aws_kms_alias").values()
                    if a.get("provider") == "aws.dr"}


def test_everything_it_names_carries_the_region(standby, primary):
    roles = [r["name"] for r in standby.resources("aws_iam_role").values()]
    assert roles and all(name.endswith("-prod-us-west-2") for name in roles)
    assert not set(roles) & {r["name"] for r in primary.resources("aws_iam_role").values()}
    functions = [f["function_name"] for f in standby.resources("aws_lambda_function").values()]
    assert sorted(functions) == sorted(f"payment-{k}-prod-us-west-2" for k in
                                       ("validate", "fraud-check", "process", "audit-writer", "canary"))


def test_its_payments_are_fenced_until_a_failover_opens_the_region(standby, primary):
    def process_env(stack):
        [fn] = [f for f in stack.resources("aws_lambda_function").values() if f["function_name"].startswith("payment-process-")]
        return fn["environment"]["variables"]
    assert process_env(standby)["REGION_FENCED_BY_DEFAULT"] == "true"
    assert "REGION_FENCED_BY_DEFAULT" not in process_env(primary)
    # The replicated tables, by their names in this region.
    assert process_env(standby)["TRANSACTION_TABLE"].startswith("${data.aws_dynamodb_table.")


def test_terraform_moves_its_aliases_and_it_keeps_nothing_warm(standby, primary):
    assert all("lifecycle" not in a for a in standby.resources("aws_lambda_alias").values())
    assert not standby.resources("aws_lambda_provisioned_concurrency_config")
    assert not standby.resources("aws_codedeploy_app")
    assert primary.resources("aws_lambda_provisioned_concurrency_config")  # prod's primary is warm


def test_it_has_its_own_pool_api_waf_and_alarms(standby):
    [pool] = standby.resources("aws_cognito_user_pool").values()
    assert pool["name"] == "payment-merchants-prod-us-west-2"
    assert standby.resources("aws_wafv2_web_acl_association")
    [domain] = standby.resources("aws_api_gateway_domain_name").values()
    assert domain["domain_name"] == API_DOMAIN and domain["regional_certificate_arn"] == DR_API_CERTIFICATE
    [topic] = standby.resources("aws_sns_topic").values()
    alarms = standby.resources("aws_cloudwatch_metric_alarm").values()
    # Every alarm that notifies, notifies this region's topic (the SLO windows notify through composites).
    notified = {action for a in alarms for action in a.get("alarm_actions", [])}
    assert notified == {f"${{aws_sns_topic.{next(iter(standby.resources('aws_sns_topic')))}.arn}}"}
    assert topic["name"] == "payment-alerts-prod-us-west-2"
    # Its one database alarm is the secondary's replication lag (tests/test_global_database.py): the
    # primary's Aurora alarms would wait on instances a headless secondary does not have.
    assert [a["metric_name"] for a in alarms if a.get("namespace") == "AWS/RDS"] == ["AuroraGlobalDBReplicationLag"]
    [cluster] = standby.resources("aws_rds_cluster").values()
    [group] = [n for n, g in standby.resources("aws_security_group").items() if "aurora" in g["name"]]
    assert cluster["vpc_security_group_ids"] == [f"${{aws_security_group.{group}.id}}"]


def test_each_region_answers_the_merchant_facing_name_while_its_synthetic_merchant_pays(standby, primary):
    records = {}
    for stack, role, region in ((primary, "PRIMARY", "us-east-1"), (standby, "SECONDARY", "us-west-2")):
        [record] = stack.resources("aws_route53_record").values()
        [check] = stack.resources("aws_route53_health_check").values()
        [alarm] = [a for a in stack.resources("aws_cloudwatch_metric_alarm").values()
                   if a["alarm_name"].startswith("payment-canary-serving-alarm-prod")]
        assert record["failover_routing_policy"] == {"type": role} and record["name"] == API_DOMAIN
        assert record["zone_id"] == HOSTED_ZONE and record["health_check_id"].startswith("${aws_route53_health_check.")
        # The health check is the region's stored payment, not a probe a 403 would satisfy.
        assert check["type"] == "CLOUDWATCH_METRIC" and check["cloudwatch_alarm_region"] == region
        assert check["insufficient_data_health_status"] == "Unhealthy"
        assert alarm["metric_name"] == "CanaryServing" and alarm["treat_missing_data"] == "breaching"
        assert check["cloudwatch_alarm_name"].endswith(".alarm_name}") and record["alias"]["name"].startswith(
            "${aws_api_gateway_domain_name.")
        records[role] = record["set_identifier"]
    assert len(set(records.values())) == 2
    # Each region's canary judges its own API, not the routed name (TLS still for the name).
    for stack in (primary, standby):
        [canary] = [f for f in stack.resources("aws_lambda_function").values() if f["function_name"].startswith("payment-canary-")]
        assert canary["environment"]["variables"]["API_CONNECT_TO"].endswith(".regional_domain_name}")


def test_the_account_stack_sets_api_gateway_logging_in_both_regions(synth_all):
    account = Synthesized(synth_all / "prod" / "stacks" / "payments-account" / "cdk.tf.json")
    roles = sorted(r["name"] for r in account.resources("aws_iam_role").values() if r["name"].startswith("payment-apigw"))
    assert roles == ["payment-apigw-cloudwatch-us-east-1", "payment-apigw-cloudwatch-us-west-2"]
    assert sorted(a.get("provider", "aws") for a in account.resources("aws_api_gateway_account").values()) == ["aws", "aws.dr"]


@pytest.mark.parametrize("missing", ["PAYMENTS_DR_API_CERTIFICATE_ARN", "PAYMENTS_DR_HOSTED_ZONE_ID"])
def test_a_custom_domain_with_a_dr_region_needs_a_certificate_and_zone_there(missing):
    env = environment_env("prod")
    env.pop(missing)
    with pytest.raises(SettingsError, match="required with dr_region and api_domain_name"):
        build_settings({}, env)


def test_the_dr_certificate_must_be_in_the_dr_region():
    with pytest.raises(SettingsError, match="needs the certificate in us-west-2, not us-east-1") as err:
        build_settings({}, environment_env("prod", PAYMENTS_DR_API_CERTIFICATE_ARN=DR_API_CERTIFICATE.replace(
            "us-west-2", "us-east-1")))
    assert err.value.setting == "dr_api_certificate_arn"


def test_during_a_migration_the_name_is_the_cutovers_and_failover_records_wait():
    from tests.test_migration_settings import ON
    migrating = {**ON, **environment_env("prod")}
    with pytest.raises(SettingsError, match="not with migration_enabled") as err:
        build_settings({}, migrating)
    assert err.value.setting == "dr_hosted_zone_id"
    s = build_settings({}, {**migrating, "PAYMENTS_DR_HOSTED_ZONE_ID": "",
                            "PAYMENTS_DMS_TARGET_SECRET_ARN": DMS_TARGET_SECRET})
    assert s.dr_region == "us-west-2" and s.dr_api_certificate_arn  # the standby is still built


def test_failover_routing_needs_the_canary():
    with pytest.raises(SettingsError) as err:
        build_settings({}, environment_env("prod", PAYMENTS_CANARY_ENABLED="false"))
    assert err.value.setting == "canary_enabled"


def test_the_standby_stack_is_valid_terraform(standby):
    """terraform validate of the synthesized standby, offline against the provider mirror."""
    from scripts import terraform
    workdir = standby.path.parent
    terraform.run(workdir, ["init", "-backend=false", "-input=false", "-no-color"])
    result = json.loads(terraform.run(workdir, ["validate", "-no-color", "-json"]).stdout)
    assert result["valid"] is True, result["diagnostics"]
