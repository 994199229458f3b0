"""PaymentObservability: dashboard, metric alarms to the alert topic, the composite `payments degraded`."""

import pytest
from cdktf import Testing
from cdktf_cdktf_provider_aws.cloudwatch_composite_alarm import CloudwatchCompositeAlarm
from cdktf_cdktf_provider_aws.cloudwatch_dashboard import CloudwatchDashboard
from cdktf_cdktf_provider_aws.cloudwatch_metric_alarm import CloudwatchMetricAlarm

from modules.observability import ObservabilityProps, PaymentObservability
from tests.constructs.conftest import TOPIC_ARN, Scoped, scoped

FUNCTIONS = {"validate": "payment-validate-dev", "process": "payment-process-dev"}


@pytest.fixture(scope="module")
def observability(dev) -> Scoped:
    return scoped(lambda scope: PaymentObservability(scope, "observability", ObservabilityProps(
        settings=dev, alert_topic_arn=TOPIC_ARN, api_name="payment-api-dev", api_stage="prod",
        function_names=FUNCTIONS, table_name="payment-transactions-dev",
        cluster_identifier="payment-customer-db-dev")))


def test_each_function_has_an_error_alarm_that_pages(observability):
    for key, name in FUNCTIONS.items():
        assert Testing.to_have_resource_with_properties(
            observability.synthesized, CloudwatchMetricAlarm.TF_RESOURCE_TYPE, {
                "alarm_name": f"payment-{key}-errors-alarm-dev", "namespace": "AWS/Lambda",
                "metric_name": "Errors", "dimensions": {"FunctionName": name},
                "threshold": 5, "alarm_actions": [TOPIC_ARN], "ok_actions": [TOPIC_ARN]})


def test_api_latency_alarm_uses_p99(observability):
    assert Testing.to_have_resource_with_properties(observability.synthesized, CloudwatchMetricAlarm.TF_RESOURCE_TYPE, {
        "alarm_name": "payment-api-p99-latency-alarm-dev", "extended_statistic": "p99", "threshold": 200,
        "dimensions": {"ApiName": "payment-api-dev", "Stage": "prod"}})


def test_composite_alarm_combines_the_critical_alarms(observability):
    assert Testing.to_have_resource_with_properties(observability.synthesized, CloudwatchCompositeAlarm.TF_RESOURCE_TYPE, {
        "alarm_name": "payment-payments-degraded-dev", "alarm_actions": [TOPIC_ARN]})
    (composite,) = observability.resources(CloudwatchCompositeAlarm.TF_RESOURCE_TYPE).values()
    for key in ("api-5xx", "api-p99-latency", "process-errors", "aurora-cpu"):
        assert observability.ref(observability.construct.alarms[key].alarm_name) in composite["alarm_rule"]


def test_dashboard_name_and_url_output(observability):
    assert Testing.to_have_resource_with_properties(observability.synthesized, CloudwatchDashboard.TF_RESOURCE_TYPE, {
        "dashboard_name": "payment-dashboard-dev"})
    assert observability.construct.dashboard_url.endswith("#dashboards:name=payment-dashboard-dev")
