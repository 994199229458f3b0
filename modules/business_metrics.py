"""The business metrics the functions emit (payments_core.metrics, namespace ``Payments/<env>``):
their dashboard rows and the two alarms a payments team watches them with.

Both alarms compare the last 15 minutes with what CloudWatch's anomaly detection model expects from
the metric's own history (hourly, daily and weekly seasons): a fixed threshold on a payment count
is wrong at 3 am or on a sale day, and metric math has no function that lags a series. The model
needs history: a new alarm stays in INSUFFICIENT_DATA until the model is trained (up to two weeks of
data; docs/operators/slos.md). Each alarm is three metrics at the standard price ($0.30/month).
"""

from __future__ import annotations

from dataclasses import dataclass

from constructs import Construct
from cdktf_cdktf_provider_aws.cloudwatch_metric_alarm import (
    CloudwatchMetricAlarm, CloudwatchMetricAlarmMetricQuery, CloudwatchMetricAlarmMetricQueryMetric,
)

from modules.observability import SLO_RUNBOOK_PATH as SLO_PAGE, Graph, Metric, metric_widget, with_runbook
from modules.settings import Settings

PHASES = ("validation", "fraud_scoring", "dynamodb_write", "kms")
FRAUD_RULES = ("HIGH_VALUE", "HIGH_VELOCITY", "AMOUNT_SPIKE")
ANOMALY_PERIOD, ANOMALY_PERIODS, BAND_WIDTH = 300, 3, 2


def namespace(settings: Settings) -> str:
    return f"Payments/{settings.environment}"


@dataclass(frozen=True)
class SearchGraph:
    """A graph of every series a SEARCH finds (declines per reason, amounts per currency): the
    dimension values are closed sets, but too many to list one by one."""

    title: str
    search: str
    stat: str = "Sum"
    period: int = 300

    def to_json(self, index: int, region: str) -> dict:
        expression = f"SEARCH('{self.search}', '{self.stat}', {self.period})"
        return metric_widget(index, region, self.title, self.period,
                             [[{"expression": expression, "id": "search", "label": ""}]])


def business_graphs(settings: Settings) -> list[Graph | SearchGraph]:
    ns = namespace(settings)
    process = {"Route": "process"}
    return [
        Graph("Payments accepted / flagged / replayed (/process)", [
            Metric(ns, "PaymentsAccepted", process, "Sum", "accepted"),
            Metric(ns, "FlaggedPayments", process, "Sum", "flagged by fraud rules"),
            Metric(ns, "IdempotentReplays", process, "Sum", "idempotent replays")], period=300),
        SearchGraph("Declines by reason (/process)",
                    f'{{{ns},Reason,Route}} MetricName="PaymentsDeclined" Route="process"'),
        Graph("Fraud flags by rule (/process)",
              [Metric(ns, "FraudFlags", {**process, "Rule": rule}, "Sum", rule) for rule in FRAUD_RULES],
              period=300),
        SearchGraph("Amount accepted per currency (minor units)",
                    f'{{{ns},Currency,Route}} MetricName="PaymentAmount"'),
        Graph("/process latency per phase p99 (ms)",
              [Metric(ns, "PhaseLatency", {**process, "Phase": phase}, "p99", phase) for phase in PHASES]),
        SearchGraph("Accepted per merchant (allow-listed; others as \"other\")",
                    f'{{{ns},Merchant,Route}} MetricName="PaymentsAccepted"'),
    ]


@dataclass(frozen=True)
class BusinessAlarmsProps:
    settings: Settings
    alert_topic_arn: str


class BusinessAlarms(Construct):
    """``payment-accepted-drop-alarm-<env>`` and ``payment-fraud-flag-spike-alarm-<env>``."""

    def __init__(self, scope: Construct, id: str, props: BusinessAlarmsProps):
        super().__init__(scope, id)
        s = props.settings
        # Production has traffic around the clock: no accepted payment at all is the worst drop, so
        # missing data breaches there; elsewhere no traffic is normal.
        self.accepted_drop = self._anomaly(
            s, props.alert_topic_arn, "accepted-drop", "PaymentsAccepted", "LessThanLowerThreshold",
            "Accepted payments on /process fell below the band expected from their history",
            missing="breaching" if s.is_production else "notBreaching")
        self.fraud_spike = self._anomaly(
            s, props.alert_topic_arn, "fraud-flag-spike", "FlaggedPayments", "GreaterThanUpperThreshold",
            "Payments flagged by fraud rules on /process rose above the band expected from their history",
            missing="notBreaching")

    def _anomaly(self, s: Settings, topic: str, key: str, metric: str, comparison: str, description: str,
                 missing: str) -> CloudwatchMetricAlarm:
        return CloudwatchMetricAlarm(
            self, key, alarm_name=s.name(f"{key}-alarm"),
            alarm_description=with_runbook(s, f"{key}-alarm", description, page=SLO_PAGE),
            comparison_operator=comparison, evaluation_periods=ANOMALY_PERIODS,
            datapoints_to_alarm=ANOMALY_PERIODS, threshold_metric_id="band", treat_missing_data=missing,
            metric_query=[
                CloudwatchMetricAlarmMetricQuery(id="m", return_data=True, metric=CloudwatchMetricAlarmMetricQueryMetric(
                    namespace=namespace(s), metric_name=metric, stat="Sum", period=ANOMALY_PERIOD,
                    dimensions={"Route": "process"})),
                CloudwatchMetricAlarmMetricQuery(
                    id="band", expression=f"ANOMALY_DETECTION_BAND(m, {BAND_WIDTH})",
                    label=f"{metric} (expected)", return_data=True),
            ],
            alarm_actions=[topic], ok_actions=[topic], actions_enabled=True,
        )

