"""SyntheticMerchant (modules/canary.py): the scheduled canary function, what it may read, and its alarm."""

import json
import sys
from pathlib import Path

import pytest
from cdktf import Testing
from cdktf_cdktf_provider_aws.cloudwatch_event_rule import CloudwatchEventRule
from cdktf_cdktf_provider_aws.cloudwatch_event_target import CloudwatchEventTarget
from cdktf_cdktf_provider_aws.cloudwatch_metric_alarm import CloudwatchMetricAlarm
from cdktf_cdktf_provider_aws.lambda_function import LambdaFunction
from cdktf_cdktf_provider_aws.lambda_permission import LambdaPermission

from modules.canary import CANARY_STEPS, CanaryProps, SyntheticMerchant, canary_secret_name, schedule_expression
from modules.compute import FunctionNetwork
from tests.constructs.conftest import ACCOUNT, KEY_ARN, TOPIC_ARN, Scoped, scoped, settings_for

# The handler (and the reference client it imports), for what the construct must agree with.
for _path in (Path(__file__).resolve().parents[2] / "lambdas" / "shared" / "python",
              Path(__file__).resolve().parents[2] / "lambdas" / "canary",
              Path(__file__).resolve().parents[2] / "docs" / "api" / "client"):
    if str(_path) not in sys.path:
        sys.path.insert(0, str(_path))

LAYER_ARN = "arn:aws:lambda:us-east-1:123456789012:layer:payment-core-dev:1"
API_URL = "https://abc123.execute-api.us-east-1.amazonaws.com/prod"
TOKEN_URL = "https://payments-dev-1.auth.us-east-1.amazoncognito.com/oauth2/token"
HANDLER_STEPS = ("token", "validate", "fraud-check", "process", "replay")


def canary(settings, network=None) -> Scoped:
    return scoped(lambda scope: SyntheticMerchant(scope, "canary", CanaryProps(
        settings=settings, kms_key_arn=KEY_ARN, layer_arn=LAYER_ARN, alert_topic_arn=TOPIC_ARN,
        api_url=API_URL, token_endpoint=TOKEN_URL, network=network, partition="aws", account_id=ACCOUNT)))


@pytest.fixture(scope="module")
def dev_canary(dev) -> Scoped:
    return canary(dev)


def test_the_function_calls_the_stacks_api_as_the_canary_merchant(dev_canary):
    assert Testing.to_have_resource_with_properties(dev_canary.synthesized, LambdaFunction.TF_RESOURCE_TYPE, {
        "function_name": "payment-canary-dev", "handler": "canary_handler.handler", "timeout": 60,
        "reserved_concurrent_executions": 1, "kms_key_arn": KEY_ARN,
        "environment": {"variables": {"CANARY_CREDENTIALS_NAME": "payment/merchants/dev/synthetic-canary",
                                      "API_URL": API_URL, "OAUTH_ENDPOINT": TOKEN_URL}},
    })
    [function] = dev_canary.resources(LambdaFunction.TF_RESOURCE_TYPE).values()
    assert "vpc_config" not in function  # no network given: on Lambda's own network
    assert "API_CONNECT_TO" not in function["environment"]["variables"]  # no migration: DNS decides


def test_its_role_reads_the_canary_merchants_secret_and_nothing_else(dev_canary):
    [policy] = dev_canary.resources("aws_iam_role_policy").values()
    statements = {s["Sid"]: s for s in json.loads(policy["policy"])["Statement"]}
    assert statements["ReadCanaryMerchantSecret"] == {
        "Sid": "ReadCanaryMerchantSecret", "Effect": "Allow", "Action": ["secretsmanager:GetSecretValue"],
        "Resource": [f"arn:aws:secretsmanager:us-east-1:{ACCOUNT}:secret:payment/merchants/dev/synthetic-canary-??????"]}
    assert statements["DecryptCanaryMerchantSecret"]["Condition"] == {
        "StringEquals": {"kms:ViaService": "secretsmanager.us-east-1.amazonaws.com"}}
    actions = {a for s in statements.values() for a in s["Action"]}
    assert not {a for a in actions if a.startswith(("dynamodb:", "s3:", "sts:", "secretsmanager:List"))}


def test_a_schedule_runs_the_live_alias_and_only_that_rule_may_invoke_it(dev_canary):
    assert Testing.to_have_resource_with_properties(dev_canary.synthesized, CloudwatchEventRule.TF_RESOURCE_TYPE, {
        "name": "payment-canary-dev", "schedule_expression": "rate(5 minutes)"})
    [target] = dev_canary.resources(CloudwatchEventTarget.TF_RESOURCE_TYPE).values()
    assert target["arn"].endswith(".arn}") and "aws_lambda_alias" in target["arn"]
    [permission] = dev_canary.resources(LambdaPermission.TF_RESOURCE_TYPE).values()
    assert (permission["principal"], permission["action"]) == ("events.amazonaws.com", "lambda:InvokeFunction")
    assert permission["source_arn"] == dev_canary.ref(dev_canary.construct.schedule.arn)
    assert permission["qualifier"] == dev_canary.ref(dev_canary.construct.function.alias.name)


def test_the_alarm_fires_on_failed_runs_in_a_row_and_on_runs_that_did_not_happen(dev_canary):
    assert Testing.to_have_resource_with_properties(dev_canary.synthesized, CloudwatchMetricAlarm.TF_RESOURCE_TYPE, {
        "alarm_name": "payment-canary-alarm-dev", "namespace": "Payments/dev", "metric_name": "CanarySuccess",
        "dimensions": {"Route": "all"}, "statistic": "Minimum", "threshold": 1,
        "comparison_operator": "LessThanThreshold", "period": 300, "evaluation_periods": 2,
        "datapoints_to_alarm": 2, "treat_missing_data": "breaching",
        "alarm_actions": [TOPIC_ARN], "ok_actions": [TOPIC_ARN]})


def test_interval_and_failed_runs_come_from_the_settings():
    fast = canary(settings_for("dev", canary_interval_minutes=1, canary_failed_runs=3))
    [rule] = fast.resources(CloudwatchEventRule.TF_RESOURCE_TYPE).values()
    [alarm] = fast.resources(CloudwatchMetricAlarm.TF_RESOURCE_TYPE).values()
    assert rule["schedule_expression"] == "rate(1 minute)"
    assert (alarm["period"], alarm["evaluation_periods"]) == (60, 3)
    assert schedule_expression(15) == "rate(15 minutes)"


def test_with_a_network_it_runs_in_the_private_subnets(dev):
    inside = canary(dev, FunctionNetwork(["subnet-private-a"], "sg-lambda"))
    [function] = inside.resources(LambdaFunction.TF_RESOURCE_TYPE).values()
    assert function["vpc_config"] == {"subnet_ids": ["subnet-private-a"], "security_group_ids": ["sg-lambda"]}


def test_its_code_ships_the_merchants_reference_client_beside_the_handler():
    """What the asset zips (tests/test_compute.py opens the synthesized zips themselves)."""
    from modules.canary import REFERENCE_CLIENT
    from modules.packaging import LAMBDAS_DIR, stage_source
    staged = stage_source(LAMBDAS_DIR / "canary", "canary-check", (REFERENCE_CLIENT,))
    assert sorted(p.name for p in staged.iterdir()) == ["canary_handler.py", "payments_client.py"]


def test_the_dashboard_row_names_every_step_the_handler_reports(dev_canary):
    import canary_handler
    assert canary_handler.STEPS == HANDLER_STEPS and CANARY_STEPS == (*HANDLER_STEPS, "canary")
    assert len(dev_canary.construct.graphs) == 3  # one dashboard row
    assert canary_secret_name(settings_for("staging")) == "payment/merchants/staging/synthetic-canary"


def test_terraform_moves_its_live_alias_to_each_new_version(dev_canary):
    """No release (CodeDeploy) ever moves the canary's alias, so Terraform does: a deploy's code runs
    from the next schedule on. The payment functions' aliases stay CodeDeploy's."""
    [alias] = dev_canary.resources("aws_lambda_alias").values()
    assert "lifecycle" not in alias and alias["function_version"].endswith(".version}")


def test_the_canary_merchants_quota_covers_the_fastest_schedule_with_retries():
    from modules.settings_rules.canary import INTERVAL_MINUTES
    from scripts.merchant_resources import CANARY_LIMITS
    import canary_handler
    calls_per_run = 4 * canary_handler.MAX_ATTEMPTS
    assert CANARY_LIMITS.quota_per_day > calls_per_run * 24 * 60 // INTERVAL_MINUTES[0]


def test_during_a_migration_it_connects_to_the_new_apis_regional_endpoint(dev):
    """The stack passes the custom domain's regional name when the migration is on (the custom domain
    is then the weighted merchant-facing name): API_CONNECT_TO; without it, DNS decides."""
    pinned = scoped(lambda scope: SyntheticMerchant(scope, "canary", CanaryProps(
        settings=dev, kms_key_arn=KEY_ARN, layer_arn=LAYER_ARN, alert_topic_arn=TOPIC_ARN,
        api_url="https://api.payments.example.com/", token_endpoint=TOKEN_URL, network=None, partition="aws",
        account_id=ACCOUNT, api_connect_to="d-abc123.execute-api.us-east-1.amazonaws.com")))
    [function] = pinned.resources(LambdaFunction.TF_RESOURCE_TYPE).values()
    assert function["environment"]["variables"]["API_CONNECT_TO"] == "d-abc123.execute-api.us-east-1.amazonaws.com"
    assert function["environment"]["variables"]["API_URL"] == "https://api.payments.example.com/"
