"""PaymentObservability: metric alarms to the alert topic; the dashboard and, with alarm_set "full", more
alarms and the composite `payments degraded` (dev: essential alarms only, no dashboard)."""

import pytest
from cdktf import Testing
from cdktf_cdktf_provider_aws.cloudwatch_composite_alarm import CloudwatchCompositeAlarm
from cdktf_cdktf_provider_aws.cloudwatch_dashboard import CloudwatchDashboard
from cdktf_cdktf_provider_aws.cloudwatch_metric_alarm import CloudwatchMetricAlarm

from modules.observability import ObservabilityProps, PaymentObservability
from tests.constructs.conftest import TOPIC_ARN, Scoped, scoped, settings_for

FUNCTIONS = {"validate": "payment-validate-dev", "process": "payment-process-dev"}


def build(settings) -> Scoped:
    return scoped(lambda scope: PaymentObservability(scope, "observability", ObservabilityProps(
        settings=settings, alert_topic_arn=TOPIC_ARN, api_name="payment-api-dev", api_stage="prod",
        function_names=FUNCTIONS, table_name="payment-transactions-dev",
        cluster_identifier="payment-customer-db-dev", audit_writer_name="payment-audit-writer-dev",
        audit_dlq_name="payment-audit-dlq-dev")))


@pytest.fixture(scope="module")
def observability(dev) -> Scoped:
    return build(dev)


@pytest.fixture(scope="module")
def full(dev) -> Scoped:
    """Dev's names with the prod-like knobs: every alarm, the composite, the dashboard."""
    return build(settings_for("dev", alarm_set="full", dashboard_enabled=True))


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


AUDIT_ALARMS = {"audit-failed-records", "audit-dlq-messages", "audit-iterator-age", "ledger-changes"}


def test_dev_keeps_only_the_alarms_releases_roll_back_on_and_the_audit_trails(observability):
    assert set(observability.construct.alarms) == {
        "api-p99-latency", "api-5xx", "validate-errors", "process-errors", *AUDIT_ALARMS}
    assert len(observability.resources(CloudwatchMetricAlarm.TF_RESOURCE_TYPE)) == 8
    assert not Testing.to_have_resource(observability.synthesized, CloudwatchCompositeAlarm.TF_RESOURCE_TYPE)
    assert not Testing.to_have_resource(observability.synthesized, CloudwatchDashboard.TF_RESOURCE_TYPE)
    assert observability.construct.degraded is None and observability.construct.dashboard_url is None


def test_composite_alarm_combines_the_critical_alarms(full):
    assert Testing.to_have_resource_with_properties(full.synthesized, CloudwatchCompositeAlarm.TF_RESOURCE_TYPE, {
        "alarm_name": "payment-payments-degraded-dev", "alarm_actions": [TOPIC_ARN]})
    (composite,) = full.resources(CloudwatchCompositeAlarm.TF_RESOURCE_TYPE).values()
    for key in ("api-5xx", "api-p99-latency", "process-errors", "aurora-cpu"):
        assert full.ref(full.construct.alarms[key].alarm_name) in composite["alarm_rule"]
    assert Testing.to_have_resource_with_properties(full.synthesized, CloudwatchMetricAlarm.TF_RESOURCE_TYPE, {
        "alarm_name": "payment-dynamodb-write-throttles-alarm-dev", "namespace": "AWS/DynamoDB",
        "dimensions": {"TableName": "payment-transactions-dev"}})


def test_dashboard_name_and_url_output(full):
    assert Testing.to_have_resource_with_properties(full.synthesized, CloudwatchDashboard.TF_RESOURCE_TYPE, {
        "dashboard_name": "payment-dashboard-dev"})
    assert full.construct.dashboard_url.endswith("#dashboards:name=payment-dashboard-dev")


@pytest.mark.parametrize("alarm, namespace, metric, dimensions, statistic, threshold", [
    ("audit-failed-records", "PaymentPlatform/Audit", "FailedRecords", {"Environment": "dev"}, "Sum", 0),
    ("ledger-changes", "PaymentPlatform/Audit", "LedgerChanges", {"Environment": "dev"}, "Sum", 0),
    ("audit-dlq-messages", "AWS/SQS", "ApproximateNumberOfMessagesVisible",
     {"QueueName": "payment-audit-dlq-dev"}, "Maximum", 0),
    # minutes, not hours: the stream keeps a record 24 hours
    ("audit-iterator-age", "AWS/Lambda", "IteratorAge", {"FunctionName": "payment-audit-writer-dev"},
     "Maximum", 300_000),
])
def test_the_audit_pipeline_pages_on_any_failure_lag_or_ledger_change(
        observability, alarm, namespace, metric, dimensions, statistic, threshold):
    assert Testing.to_have_resource_with_properties(
        observability.synthesized, CloudwatchMetricAlarm.TF_RESOURCE_TYPE, {
            "alarm_name": f"payment-{alarm}-alarm-dev", "namespace": namespace, "metric_name": metric,
            "dimensions": dimensions, "statistic": statistic, "threshold": threshold,
            "comparison_operator": "GreaterThanThreshold", "treat_missing_data": "notBreaching",
            "alarm_actions": [TOPIC_ARN], "ok_actions": [TOPIC_ARN]})


def _payments_core_audit():
    import sys
    from tests.support import PROJECT_ROOT
    layer = str(PROJECT_ROOT / "lambdas" / "shared" / "python")
    if layer not in sys.path:
        sys.path.insert(0, layer)
    from payments_core import audit
    return audit


def test_the_audit_metrics_alarmed_on_are_the_ones_the_writer_emits(observability):
    audit = _payments_core_audit()
    alarms = observability.resources(CloudwatchMetricAlarm.TF_RESOURCE_TYPE).values()
    own = {a["metric_name"] for a in alarms if a["namespace"] == audit.METRIC_NAMESPACE}
    assert own == {audit.FAILED_RECORDS, audit.LEDGER_CHANGES}
