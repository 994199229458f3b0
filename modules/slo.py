"""Burn-rate alarms of the API's service level objectives (policy: modules/slo_policy.py).

Per route and SLI, one metric math alarm per window of the policy (5 m, 30 m, 1 h, 6 h twice, 3 d)
whose value is the percentage of bad requests over that window, and two composite alarms that
notify: ``page`` = (1 h AND 5 m at 14.4x) OR (6 h AND 30 m at 6x), ``ticket`` = 3 d AND 6 h at 1x.
The window alarms themselves notify nobody: a short window alone is noise, which is the point of
pairing it with a long one.

Each window is the alarm's period with one evaluation period: CloudWatch's default sliding window
re-evaluates it as a rolling window, and Period x EvaluationPeriods stays within its limits (1 day
for periods under an hour, 7 days otherwise). The per-route metrics need API Gateway's detailed
metrics (``metrics_enabled`` on the stage's method settings, modules/api.py), which carry the
``Resource`` and ``Method`` dimensions.

Latency: API Gateway publishes ``Latency`` as a distribution, and CloudWatch's percentile rank
statistic ``PR(:300)`` is the share of requests answered in at most 300 ms over the period; a metric
math alarm may use it as a MetricStat statistic. So the slow-request ratio is exact (``100 - PR``),
with no need for a metric of the functions' own; an average or a p99 could not give it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping

from constructs import Construct
from cdktf_cdktf_provider_aws.cloudwatch_composite_alarm import CloudwatchCompositeAlarm
from cdktf_cdktf_provider_aws.cloudwatch_metric_alarm import (
    CloudwatchMetricAlarm, CloudwatchMetricAlarmMetricQuery, CloudwatchMetricAlarmMetricQueryMetric,
)

from modules.observability import SLO_RUNBOOK_PATH as SLO_PAGE, with_runbook
from modules.settings import Settings
from modules.slo_policy import (
    BURN_ALERTS, SEVERITIES, Objective, availability_expression, latency_expression,
    latency_statistic, parse_objectives, window_label,
)

API_NAMESPACE = "AWS/ApiGateway"


@dataclass(frozen=True)
class SloProps:
    settings: Settings
    alert_topic_arn: str
    api_name: str
    api_stage: str


class ServiceLevelAlarms(Construct):
    """Burn-rate alarms for ``settings.slo_routes`` (availability; latency too with
    ``slo_latency_alarms``). ``composites`` maps ``(route, sli, severity)`` to the alarm that notifies;
    ``windows`` maps ``(route, sli, alert name, "long"|"short")`` to the window alarm."""

    def __init__(self, scope: Construct, id: str, props: SloProps):
        super().__init__(scope, id)
        s = props.settings
        objectives = parse_objectives(s.slo_objectives)
        slis = ("availability", "latency") if s.slo_latency_alarms else ("availability",)
        self.windows: dict[tuple[str, str, str, str], CloudwatchMetricAlarm] = {}
        self.composites: dict[tuple[str, str, str], CloudwatchCompositeAlarm] = {}
        for route in s.slo_routes:
            dims = {"ApiName": props.api_name, "Method": "POST", "Resource": f"/{route}",
                    "Stage": props.api_stage}
            for sli in slis:
                self._route_sli(s, props.alert_topic_arn, route, sli, objectives[route], dims)

    def _route_sli(self, s: Settings, topic: str, route: str, sli: str, objective: Objective,
                   dims: Mapping[str, str]) -> None:
        rules: dict[str, list[str]] = {severity: [] for severity in SEVERITIES}
        for alert in BURN_ALERTS:
            threshold = float(alert.threshold_percent(objective, sli, s.slo_window_days))
            pair = []
            for which, seconds in (("long", alert.long_seconds), ("short", alert.short_seconds)):
                key = f"{route}-{sli}-{alert.name}-{window_label(seconds)}"
                alarm = CloudwatchMetricAlarm(
                    self, key, alarm_name=s.name(f"slo-{key}-alarm"),
                    alarm_description=with_runbook(s, f"slo-{route}-{sli}-{alert.severity}", (
                        f"{route} {sli}: bad requests over {window_label(seconds)} above "
                        f"{alert.factor(s.slo_window_days).normalize()}x the error budget "
                        f"({threshold:g} %); notifies only through its {alert.severity} composite"), page=SLO_PAGE),
                    metric_query=_queries(sli, objective, dims, seconds),
                    evaluation_periods=1, datapoints_to_alarm=1, threshold=threshold,
                    comparison_operator="GreaterThanThreshold",
                    treat_missing_data="notBreaching",  # no traffic spends no budget
                )
                self.windows[(route, sli, alert.name, which)] = alarm
                pair.append(f'ALARM("{alarm.alarm_name}")')
            rules[alert.severity].append(f"({' AND '.join(pair)})")
        for severity, pairs in rules.items():
            composite = CloudwatchCompositeAlarm(
                self, f"{route}-{sli}-{severity}", alarm_name=s.name(f"slo-{route}-{sli}-{severity}"),
                alarm_description=with_runbook(s, f"slo-{route}-{sli}-{severity}", (
                    f"{severity.upper()}: /{route} is spending its {sli} error budget "
                    f"(objective {objective.target(sli)} % over {s.slo_window_days} days"
                    + (f", {objective.latency_ms} ms" if sli == "latency" else "") + ")"), page=SLO_PAGE),
                alarm_rule=" OR ".join(pairs),
                alarm_actions=[topic], ok_actions=[topic], actions_enabled=True,
            )
            self.composites[(route, sli, severity)] = composite


def _metric(id: str, name: str, stat: str, dims: Mapping[str, str],
            period: int) -> CloudwatchMetricAlarmMetricQuery:
    return CloudwatchMetricAlarmMetricQuery(id=id, return_data=False, metric=CloudwatchMetricAlarmMetricQueryMetric(
        namespace=API_NAMESPACE, metric_name=name, stat=stat, period=period, dimensions=dict(dims)))


def _queries(sli: str, objective: Objective, dims: Mapping[str, str],
             period: int) -> list[CloudwatchMetricAlarmMetricQuery]:
    """The window's bad-request percentage as metric math over API Gateway's per-route metrics."""
    if sli == "availability":
        inputs = [_metric("errors", "5XXError", "Sum", dims, period),
                  _metric("requests", "Count", "Sum", dims, period)]
        expression = availability_expression()
    else:
        inputs = [_metric("fast", "Latency", latency_statistic(objective), dims, period)]
        expression = latency_expression()
    return [*inputs, CloudwatchMetricAlarmMetricQuery(
        id="bad", expression=expression, label=f"{sli}: bad requests (%)", return_data=True)]
