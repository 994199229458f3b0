"""The functions' business metrics on the dashboard, and the two anomaly alarms on them.

The metrics themselves (valid EMF, bounded dimensions, no PAN) are tested against the real handlers
in tests/lambdas/test_payments_metrics.py; here, that the infrastructure reads the same names."""

import json

import pytest

from scripts import cost

LAYER_METRICS = ("PaymentsAccepted", "PaymentsDeclined", "FraudFlags", "FlaggedPayments", "IdempotentReplays",
                 "PaymentAmount", "PhaseLatency")


@pytest.fixture(scope="module")
def widgets(staging_stack):
    return json.loads(staging_stack.one("aws_cloudwatch_dashboard")["dashboard_body"])["widgets"]


def _rendered(widgets):
    return json.dumps([w["properties"]["metrics"] for w in widgets])


def test_dashboard_shows_every_business_metric_in_the_environment_namespace(widgets):
    text = _rendered(widgets)
    for name in LAYER_METRICS:
        assert f'"Payments/staging", "{name}"' in text or f'MetricName=\\"{name}\\"' in text, name


def test_dashboard_names_the_functions_phases_and_rules():
    from modules.business_metrics import FRAUD_RULES, PHASES
    from modules.payment_limits import layer_module
    metrics = layer_module("metrics")
    assert (PHASES, FRAUD_RULES) == (metrics.PHASES, metrics.FRAUD_RULES)


@pytest.mark.parametrize("name, metric, comparison", [
    ("payment-accepted-drop-alarm-staging", "PaymentsAccepted", "LessThanLowerThreshold"),
    ("payment-fraud-flag-spike-alarm-staging", "FlaggedPayments", "GreaterThanUpperThreshold"),
])
def test_anomaly_alarms_compare_the_last_15_minutes_with_the_expected_band(staging_stack, name, metric, comparison):
    alarm = staging_stack.one("aws_cloudwatch_metric_alarm", alarm_name=name)
    queries = {q["id"]: q for q in alarm["metric_query"]}
    assert queries["m"]["metric"] == {"namespace": "Payments/staging", "metric_name": metric, "stat": "Sum",
                                      "period": 300, "dimensions": {"Route": "process"}}
    assert queries["band"]["expression"] == "ANOMALY_DETECTION_BAND(m, 2)"
    assert (alarm["threshold_metric_id"], alarm["comparison_operator"]) == ("band", comparison)
    assert alarm["evaluation_periods"] * 300 == 900 == alarm["datapoints_to_alarm"] * 300
    assert alarm["alarm_actions"] == [staging_stack.ref("aws_sns_topic", "arn")]


def test_only_production_treats_no_accepted_payment_as_a_drop(staging_stack, prod_stack):
    assert prod_stack.one("aws_cloudwatch_metric_alarm", alarm_name="payment-accepted-drop-alarm-prod")[
        "treat_missing_data"] == "breaching"
    assert staging_stack.one("aws_cloudwatch_metric_alarm", alarm_name="payment-accepted-drop-alarm-staging")[
        "treat_missing_data"] == "notBreaching"


def test_dev_has_no_business_alarms(stack):
    names = {a["alarm_name"] for a in stack.resources("aws_cloudwatch_metric_alarm").values()}
    assert not {"payment-accepted-drop-alarm-dev", "payment-fraud-flag-spike-alarm-dev"} & names


def test_an_anomaly_alarm_is_priced_as_three_metrics(staging_stack):
    prices = cost.load_prices()
    alarm = staging_stack.one("aws_cloudwatch_metric_alarm", alarm_name="payment-accepted-drop-alarm-staging")
    [line] = cost.price([cost.Resource("a", "aws_cloudwatch_metric_alarm", alarm)], prices)
    assert line.count == 3 and line.monthly == 3 * prices.monthly("cloudwatch_alarm_standard_month")


def test_merchant_allow_list_reaches_the_functions_and_is_validated():
    from modules.settings import SettingsError, build_settings
    with pytest.raises(SettingsError) as error:
        build_settings({}, {"PAYMENTS_METRICS_MERCHANTS": ",".join(f"m{i}" for i in range(21))})
    assert error.value.setting == "metrics_merchants"
    with pytest.raises(SettingsError):
        build_settings({}, {"PAYMENTS_METRICS_MERCHANTS": "not a client id"})
    assert build_settings({}, {"PAYMENTS_METRICS_MERCHANTS": "abc123"}).metrics_merchants == "abc123"
