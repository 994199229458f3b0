"""Dashboard and alarms: every metric names a real resource; every alarm can page.

The dashboard and the full alarm set are checked on staging (dev has neither, by setting: README
"Idle cost"); the alarms releases roll back on exist everywhere and are checked on dev."""

import json

import pytest

FUNCTIONS = ("validate", "fraud-check", "process", "audit-writer")


@pytest.fixture(scope="module")
def widgets(staging_stack):
    return json.loads(staging_stack.one("aws_cloudwatch_dashboard")["dashboard_body"])["widgets"]


def _metrics(widgets):
    """The rows naming an AWS metric (not SEARCH expressions, not the functions' own metrics:
    tests/test_business_metrics.py)."""
    for widget in widgets:
        for row in widget["properties"]["metrics"]:
            if isinstance(row[0], dict) or row[0].startswith("Payments/"):
                continue
            names = row[:-1]
            yield names[0], names[1], dict(zip(names[2::2], names[3::2]))


def test_dashboard_is_named_per_environment(staging_stack):
    assert staging_stack.one("aws_cloudwatch_dashboard")["dashboard_name"] == "payment-dashboard-staging"


def test_dev_has_no_dashboard_and_only_the_alarms_releases_roll_back_on_and_the_audit_trails(stack):
    """Besides its SLO burn-rate alarms (tests/test_slo.py: /process availability in dev)."""
    assert not stack.resources("aws_cloudwatch_dashboard") and "dashboard-url" not in stack.json["output"]
    names = sorted(a["alarm_name"] for a in _alarms(stack) if not _is_slo(a))
    audit = ("audit-failed-records", "audit-dlq-messages", "audit-iterator-age", "ledger-changes")
    assert names == sorted(["payment-api-5xx-alarm-dev", "payment-api-p99-latency-alarm-dev", "payment-canary-alarm-dev",
                            *(f"payment-{k}-errors-alarm-dev" for k in FUNCTIONS),
                            *(f"payment-{k}-alarm-dev" for k in audit)])
    assert all(_is_slo(c) for c in stack.resources("aws_cloudwatch_composite_alarm").values())


@pytest.mark.parametrize("namespace, metric", [
    ("AWS/ApiGateway", "Latency"), ("AWS/ApiGateway", "4XXError"), ("AWS/ApiGateway", "5XXError"),
    ("AWS/ApiGateway", "Count"), ("AWS/Lambda", "Invocations"), ("AWS/Lambda", "Errors"),
    ("AWS/Lambda", "Duration"), ("AWS/Lambda", "Throttles"), ("AWS/Lambda", "ConcurrentExecutions"),
    ("AWS/DynamoDB", "ConsumedReadCapacityUnits"), ("AWS/DynamoDB", "ConsumedWriteCapacityUnits"),
    ("AWS/DynamoDB", "ReadThrottleEvents"), ("AWS/RDS", "ServerlessDatabaseCapacity"),
    ("AWS/RDS", "CPUUtilization"), ("AWS/RDS", "DatabaseConnections"),
])
def test_dashboard_shows_metric(widgets, namespace, metric):
    assert any(ns == namespace and name == metric for ns, name, _ in _metrics(widgets))


def test_dashboard_latency_has_p99_and_p50(widgets):
    stats = {row[-1]["stat"] for w in widgets for row in w["properties"]["metrics"] if len(row) > 1 and row[1] == "Latency"}
    assert {"p99", "p50"} <= stats


def test_every_dashboard_dimension_names_a_resource_in_the_stack(staging_stack, widgets):
    stack = staging_stack
    api = stack.ref("aws_api_gateway_rest_api", "name")
    stage = stack.ref("aws_api_gateway_stage", "stage_name")
    functions = {stack.ref("aws_lambda_function", "function_name", function_name=f"payment-{k}-staging")
                 for k in FUNCTIONS}
    table = stack.ref("aws_dynamodb_table", "name", name="payment-transactions-staging")
    cluster = stack.ref("aws_rds_cluster", "cluster_identifier")
    allowed = {"ApiName": {api}, "Stage": {stage}, "FunctionName": functions, "TableName": {table},
               "DBClusterIdentifier": {cluster}}
    seen_functions = set()
    for _, _, dims in _metrics(widgets):
        assert dims, "metric without dimensions"
        for key, value in dims.items():
            assert value in allowed[key], (key, value)
        seen_functions |= {dims["FunctionName"]} if "FunctionName" in dims else set()
    assert seen_functions == functions  # every function is on the dashboard


def _alarms(stack):
    return stack.resources("aws_cloudwatch_metric_alarm").values()


def _is_slo(alarm):
    return alarm["alarm_name"].startswith("payment-slo-")


@pytest.mark.parametrize("which", ["stack", "staging_stack"])
def test_every_alarm_pages_and_recovers_through_the_alert_topic(request, which):
    stack = request.getfixturevalue(which)
    topic = stack.ref("aws_sns_topic", "arn")
    # An SLO window alarm notifies only through its composite (tests/test_slo.py).
    for alarm in [*(a for a in _alarms(stack) if not _is_slo(a)),
                  *stack.resources("aws_cloudwatch_composite_alarm").values()]:
        assert alarm["alarm_actions"] == [topic] and alarm["ok_actions"] == [topic], alarm["alarm_name"]


def test_every_alarm_says_how_to_treat_missing_data(stack):
    assert all(a["treat_missing_data"] in ("missing", "notBreaching", "breaching", "ignore")
               for a in _alarms(stack))


def test_alarm_names_follow_one_pattern(stack):
    assert all(a["alarm_name"].startswith("payment-") and a["alarm_name"].endswith("-alarm-dev")
               for a in _alarms(stack))


@pytest.mark.parametrize("key", FUNCTIONS)
def test_every_function_has_an_error_alarm_over_5_in_5_minutes(stack, key):
    fn = stack.ref("aws_lambda_function", "function_name", function_name=f"payment-{key}-dev")
    [alarm] = [a for a in _alarms(stack) if a.get("metric_name") == "Errors" and a["dimensions"]["FunctionName"] == fn]
    assert (alarm["threshold"], alarm["period"], alarm["comparison_operator"]) == (5, 300, "GreaterThanThreshold")


@pytest.mark.parametrize("key", FUNCTIONS)
def test_every_function_has_a_throttle_alarm_in_the_full_alarm_set(staging_stack, key):
    stack = staging_stack
    fn = stack.ref("aws_lambda_function", "function_name", function_name=f"payment-{key}-staging")
    assert [a for a in _alarms(stack) if a.get("metric_name") == "Throttles" and a["dimensions"]["FunctionName"] == fn]


def test_api_latency_alarm_is_p99_over_200ms_for_2_of_2(stack):
    alarm = stack.one("aws_cloudwatch_metric_alarm", alarm_name="payment-api-p99-latency-alarm-dev")
    assert (alarm["extended_statistic"], alarm["threshold"]) == ("p99", 200)
    assert alarm["evaluation_periods"] == alarm["datapoints_to_alarm"] == 2


def test_api_5xx_alarm_is_over_10_in_5_minutes(stack):
    alarm = stack.one("aws_cloudwatch_metric_alarm", alarm_name="payment-api-5xx-alarm-dev")
    assert (alarm["metric_name"], alarm["statistic"], alarm["threshold"], alarm["period"]) == ("5XXError", "Sum", 10, 300)


def test_aurora_cpu_alarm_is_over_80_for_2_periods(staging_stack):
    alarm = staging_stack.one("aws_cloudwatch_metric_alarm", alarm_name="payment-aurora-cpu-alarm-staging")
    assert (alarm["threshold"], alarm["evaluation_periods"]) == (80, 2)


def test_dynamodb_throttle_alarms_watch_the_transactions_table(staging_stack):
    stack = staging_stack
    table = stack.ref("aws_dynamodb_table", "name", name="payment-transactions-staging")
    throttles = [a for a in _alarms(stack) if a.get("namespace") == "AWS/DynamoDB"]
    assert {a["metric_name"] for a in throttles} == {"ReadThrottleEvents", "WriteThrottleEvents"}
    assert all(a["dimensions"] == {"TableName": table} for a in throttles)


def test_composite_degraded_alarm_covers_the_critical_alarms(staging_stack):
    composite = staging_stack.one("aws_cloudwatch_composite_alarm", alarm_name="payment-payments-degraded-staging")
    for key in ("api-5xx", "api-p99-latency", "process-errors", "aurora-cpu"):
        assert staging_stack.ref("aws_cloudwatch_metric_alarm", "alarm_name",
                                 alarm_name=f"payment-{key}-alarm-staging") in composite["alarm_rule"]


def test_prod_alarms_use_one_minute_periods(prod_stack):
    assert prod_stack.one("aws_cloudwatch_metric_alarm", alarm_name="payment-api-p99-latency-alarm-prod")["period"] == 60


def test_https_pager_subscription_is_a_setting(tmp_path_factory):
    from tests.support import Synthesized, synth_environments
    out = synth_environments(tmp_path_factory.mktemp("pager"), ["dev"],
                             PAYMENTS_ALERT_HTTPS_ENDPOINTS="https://pager.example.com/hook")
    dev = Synthesized(out / "dev" / "stacks" / "payments-dev" / "cdk.tf.json")
    assert dev.one("aws_sns_topic_subscription", protocol="https")["endpoint"] == "https://pager.example.com/hook"


def test_dashboard_url_is_an_output(staging_stack):
    assert "dashboards:name=payment-dashboard-staging" in staging_stack.json["output"]["dashboard-url"]["value"]


def test_every_log_group_is_explicit_with_retention_and_the_key(stack):
    groups = stack.resources("aws_cloudwatch_log_group").values()
    names = {g["name"] for g in groups}
    assert {f"/aws/lambda/payment-{k}-dev" for k in FUNCTIONS} <= names
    assert "/aws/apigateway/payment-api-dev/access" in names and "/aws/vpc/flow-logs/payment-vpc-dev" in names
    assert all(g["retention_in_days"] == 7 and g["kms_key_id"].startswith("${aws_kms_key.") for g in groups)


def test_audit_alarms_watch_the_deployed_queue_and_writer(stack):
    dlq = stack.one("aws_cloudwatch_metric_alarm", alarm_name="payment-audit-dlq-messages-alarm-dev")
    assert dlq["dimensions"] == {"QueueName": stack.ref("aws_sqs_queue", "name")}
    age = stack.one("aws_cloudwatch_metric_alarm", alarm_name="payment-audit-iterator-age-alarm-dev")
    assert age["dimensions"] == {"FunctionName": stack.ref(
        "aws_lambda_function", "function_name", function_name="payment-audit-writer-dev")}
    writer = stack.one("aws_lambda_function", function_name="payment-audit-writer-dev")
    assert writer["environment"]["variables"]["ENVIRONMENT"] == "dev"  # the metrics' dimension
