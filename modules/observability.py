"""Observability: the payment dashboard and the alarms that page through the encrypted alert topic.

The dashboard body is built from small typed helpers (``Metric``, ``Graph``) rather than a hand-typed
JSON blob, so every metric names a resource by reference and a test can check them all.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Mapping, Sequence

from constructs import Construct
from cdktf_cdktf_provider_aws.cloudwatch_composite_alarm import CloudwatchCompositeAlarm
from cdktf_cdktf_provider_aws.cloudwatch_dashboard import CloudwatchDashboard
from cdktf_cdktf_provider_aws.cloudwatch_metric_alarm import CloudwatchMetricAlarm, CloudwatchMetricAlarmMetricQuery

from modules.settings import Settings

GRAPH_WIDTH, GRAPH_HEIGHT, COLUMNS = 8, 6, 3
# The operator's runbook: one section per alarm, headed by the alarm's name without the environment.
RUNBOOK_PATH = "docs/operators/alarms.md"
# The objectives' alerts and the business-metric alarms have their runbook beside the objectives.
SLO_RUNBOOK_PATH = "docs/operators/slos.md"
DR_RUNBOOK_PATH = "docs/operators/disaster-recovery.md"
# CloudWatch refuses a longer alarm_description (an EventBridge rule's: 512, see migration/monitoring.py).
ALARM_DESCRIPTION_LIMIT = 1024
#: The audit writer's own metrics (embedded metric format; lambdas/shared/python/payments_core/audit.py).
AUDIT_NAMESPACE = "PaymentPlatform/Audit"
#: The audit trail may lag the ledger by minutes, never hours: the stream keeps records 24 hours.
AUDIT_ITERATOR_AGE_MS = 5 * 60 * 1000


@dataclass(frozen=True)
class Metric:
    namespace: str
    name: str
    dimensions: Mapping[str, str]
    stat: str = "Sum"
    label: str = ""

    def to_json(self) -> list:
        row: list = [self.namespace, self.name]
        for key, value in self.dimensions.items():
            row += [key, value]
        options = {"stat": self.stat}
        if self.label:
            options["label"] = self.label
        return [*row, options]


@dataclass(frozen=True)
class Graph:
    title: str
    metrics: Sequence[Metric]
    period: int = 60

    def to_json(self, index: int, region: str) -> dict:
        return metric_widget(index, region, self.title, self.period, [m.to_json() for m in self.metrics])


def metric_widget(index: int, region: str, title: str, period: int, metrics: list) -> dict:
    """A time-series widget in the dashboard's grid (``index``-th place, ``COLUMNS`` a row)."""
    return {
        "type": "metric", "width": GRAPH_WIDTH, "height": GRAPH_HEIGHT,
        "x": (index % COLUMNS) * GRAPH_WIDTH, "y": (index // COLUMNS) * GRAPH_HEIGHT,
        "properties": {"title": title, "region": region, "period": period,
                       "view": "timeSeries", "stacked": False, "metrics": metrics},
    }


def dashboard_body(graphs: Sequence[Graph], region: str) -> str:
    return json.dumps({"widgets": [g.to_json(i, region) for i, g in enumerate(graphs)]})


@dataclass(frozen=True)
class ObservabilityProps:
    settings: Settings
    alert_topic_arn: str
    api_name: str
    api_stage: str
    function_names: Mapping[str, str]          # key -> function name
    table_name: str
    cluster_identifier: str | None             # None: no database in this region (the standby)
    audit_writer_name: str                     # the function on the ledger stream
    audit_dlq_name: str                        # its dead-letter queue
    extra_alarm_names: Sequence[str] = field(default_factory=tuple)


class PaymentObservability(Construct):
    """Dashboard `payment-dashboard-<env>` (``dashboard_enabled``), metric alarms, and the composite
    `payments degraded`. ``alarm_set`` "essential" keeps the alarms releases roll back on (function
    errors, API 5xx and p99 latency: ``alarms`` always has them) and the audit trail's (a lost or
    rewritten payment record pages in every environment); "full" adds throttling, DynamoDB, Aurora
    CPU and the composite."""

    def __init__(self, scope: Construct, id: str, props: ObservabilityProps):
        super().__init__(scope, id)
        s = props.settings
        self._s, self._topic = s, props.alert_topic_arn
        api = {"ApiName": props.api_name, "Stage": props.api_stage}
        table = {"TableName": props.table_name}
        cluster = {"DBClusterIdentifier": props.cluster_identifier or ""}
        has_database = props.cluster_identifier is not None
        fn_dims = {key: {"FunctionName": name} for key, name in props.function_names.items()}

        def per_function(metric: str, stat: str = "Sum") -> list[Metric]:
            return [Metric("AWS/Lambda", metric, d, stat, key) for key, d in fn_dims.items()]

        graphs = [
            Graph("API latency p99 / p50 (ms)", [Metric("AWS/ApiGateway", "Latency", api, "p99", "p99"),
                                                  Metric("AWS/ApiGateway", "Latency", api, "p50", "p50")]),
            Graph("API 4xx / 5xx", [Metric("AWS/ApiGateway", "4XXError", api, "Sum", "4xx"),
                                    Metric("AWS/ApiGateway", "5XXError", api, "Sum", "5xx")]),
            Graph("API requests", [Metric("AWS/ApiGateway", "Count", api, "Sum", "requests")]),
            Graph("Lambda invocations", per_function("Invocations")),
            Graph("Lambda errors", per_function("Errors")),
            Graph("Lambda duration p99 (ms)", per_function("Duration", "p99")),
            Graph("Lambda throttles", per_function("Throttles")),
            Graph("Lambda concurrency", per_function("ConcurrentExecutions", "Maximum")),
            Graph("DynamoDB consumed capacity", [
                Metric("AWS/DynamoDB", "ConsumedReadCapacityUnits", table, "Sum", "read"),
                Metric("AWS/DynamoDB", "ConsumedWriteCapacityUnits", table, "Sum", "write")]),
            Graph("DynamoDB throttled requests", [
                Metric("AWS/DynamoDB", "ReadThrottleEvents", table, "Sum", "read throttles"),
                Metric("AWS/DynamoDB", "WriteThrottleEvents", table, "Sum", "write throttles")]),
            *([Graph("Aurora capacity (ACU)", [Metric("AWS/RDS", "ServerlessDatabaseCapacity", cluster, "Average", "ACU")]),
               Graph("Aurora CPU % / connections", [
                   Metric("AWS/RDS", "CPUUtilization", cluster, "Average", "CPU %"),
                   Metric("AWS/RDS", "DatabaseConnections", cluster, "Average", "connections")])]
              if has_database else []),
        ]
        self._graphs = graphs
        # A dashboard costs $3 a month once the account's 3 free ones are used (previews would use them).
        self.dashboard: CloudwatchDashboard | None = None
        self.dashboard_url: str | None = None
        if s.dashboard_enabled:
            self.dashboard = CloudwatchDashboard(
                self, "dashboard", dashboard_name=s.name("dashboard"),
                dashboard_body=dashboard_body(graphs, s.region))
            self.dashboard_url = (f"https://{s.region}.console.aws.amazon.com/cloudwatch/home?region={s.region}"
                                  f"#dashboards:name={s.name('dashboard')}")

        period = s.alarm_period_seconds
        self.alarms: dict[str, CloudwatchMetricAlarm] = {}
        self._alarm("api-p99-latency", "API p99 latency above threshold: clients are waiting",
                    Metric("AWS/ApiGateway", "Latency", api), extended_statistic="p99",
                    threshold=s.alarm_api_p99_latency_ms, periods=2, period=period, missing="notBreaching")
        self._alarm("api-5xx", "API 5xx responses: payments are failing server-side",
                    Metric("AWS/ApiGateway", "5XXError", api), threshold=s.alarm_api_5xx_count,
                    periods=1, period=300, missing="notBreaching")
        for key, dims in fn_dims.items():
            self._alarm(f"{key}-errors", f"{key} function errors",
                        Metric("AWS/Lambda", "Errors", dims), threshold=s.alarm_function_errors,
                        periods=1, period=300, missing="notBreaching")
        self._audit_alarms(props.audit_dlq_name, {"FunctionName": props.audit_writer_name})
        self.degraded: CloudwatchCompositeAlarm | None = None
        if s.alarm_set == "essential":
            # Only what CodeDeploy rolls back on (modules/delivery.py) and the audit trail's: each
            # $0.10 a month.
            return
        for key, dims in fn_dims.items():
            self._alarm(f"{key}-throttles", f"{key} function throttled: reserved concurrency exhausted",
                        Metric("AWS/Lambda", "Throttles", dims), threshold=s.alarm_function_throttles,
                        periods=1, period=period, missing="notBreaching", comparison="GreaterThanOrEqualToThreshold")
        for kind in ("Read", "Write"):
            self._alarm(f"dynamodb-{kind.lower()}-throttles", f"DynamoDB {kind.lower()} throttling on the transactions table",
                        Metric("AWS/DynamoDB", f"{kind}ThrottleEvents", table),
                        threshold=s.alarm_dynamodb_throttles, periods=1, period=period,
                        missing="notBreaching", comparison="GreaterThanOrEqualToThreshold")
        if has_database:
            self._alarm("aurora-cpu", "Aurora CPU high: queries slow, capacity at its maximum?",
                        Metric("AWS/RDS", "CPUUtilization", cluster, "Average"),
                        threshold=s.alarm_aurora_cpu_percent, periods=2, period=period, missing="missing")

        critical = ["api-5xx", "api-p99-latency", "process-errors", *(["aurora-cpu"] if has_database else [])]
        self.degraded = CloudwatchCompositeAlarm(
            self, "degraded", alarm_name=s.name("payments-degraded"),
            alarm_description=with_runbook(
                s, "payments-degraded",
                "Payments degraded: any critical alarm (API 5xx or latency, process errors, Aurora CPU)"),
            alarm_rule=" OR ".join(f'ALARM("{self.alarms[k].alarm_name}")' for k in critical),
            alarm_actions=[self._topic], ok_actions=[self._topic], actions_enabled=True,
        )

    def _audit_alarms(self, dlq_name: str, writer: Mapping[str, str]) -> None:
        """The audit pipeline pages instead of failing quietly: the writer reports a failed record
        (it does not error), Lambda retries it, then parks its stream pointers in the DLQ, and the
        stream forgets the record after 24 hours. A changed or removed payment pages too."""
        audit = {"Environment": self._s.environment}
        self._alarm("audit-failed-records", "Audit writer failed records: payments are missing from the "
                    "audit trail until retried or replayed (docs/operators/reconciliation.md)",
                    Metric(AUDIT_NAMESPACE, "FailedRecords", audit), threshold=0, periods=1, period=300,
                    missing="notBreaching")
        self._alarm("audit-dlq-messages", "Audit DLQ holds records the writer gave up on: replay them "
                    "from the ledger (make audit-replay) before the stream's 24 hours pass",
                    Metric("AWS/SQS", "ApproximateNumberOfMessagesVisible", {"QueueName": dlq_name},
                           "Maximum"), threshold=0, periods=1, period=300, missing="notBreaching")
        self._alarm("audit-iterator-age", "Audit writer is more than 5 minutes behind the ledger stream",
                    Metric("AWS/Lambda", "IteratorAge", writer, "Maximum"),
                    threshold=AUDIT_ITERATOR_AGE_MS, periods=3, period=60, missing="notBreaching")
        self._alarm("ledger-changes", "A ledger row was modified or removed: a payment record is never "
                    "changed in normal operation (audit/merchant=<id>/changes/)",
                    Metric(AUDIT_NAMESPACE, "LedgerChanges", audit), threshold=0, periods=1, period=60,
                    missing="notBreaching")

    def add_dashboard_row(self, graphs: Sequence[Graph]) -> None:
        """Append graphs (an optional part of the stack, e.g. the migration) after the platform's own."""
        self._graphs = [*self._graphs, *graphs]
        if self.dashboard is not None:  # environments without a dashboard (dashboard_enabled) skip it
            self.dashboard.dashboard_body = dashboard_body(self._graphs, self._s.region)

    def _alarm(self, key: str, description: str, metric: Metric, **kwargs: object) -> None:
        self.alarms[key] = metric_alarm(self, key, self._s, self._topic, description, metric, **kwargs)


def metric_alarm(scope: Construct, key: str, settings: Settings, topic_arn: str, description: str,
                 metric: Metric, *, threshold: float, periods: int, period: int, missing: str,
                 extended_statistic: str | None = None,
                 comparison: str = "GreaterThanThreshold", page: str = RUNBOOK_PATH) -> CloudwatchMetricAlarm:
    """Alarm ``<key>-alarm`` on one metric, ``periods`` of ``period`` seconds all breaching, to and from
    ALARM notified on the alert topic: the shape of every metric alarm of the platform. Its runbook
    section on ``page``."""
    return CloudwatchMetricAlarm(
        scope, key, alarm_name=settings.name(f"{key}-alarm"),
        alarm_description=with_runbook(settings, f"{key}-alarm", description, page=page),
        namespace=metric.namespace, metric_name=metric.name, dimensions=dict(metric.dimensions),
        statistic=None if extended_statistic else metric.stat, extended_statistic=extended_statistic,
        period=period, evaluation_periods=periods, datapoints_to_alarm=periods,
        threshold=threshold, comparison_operator=comparison, treat_missing_data=missing,
        alarm_actions=[topic_arn], ok_actions=[topic_arn], actions_enabled=True,
    )


def math_alarm(scope: Construct, key: str, settings: Settings, topic_arn: str, description: str,
               queries: Sequence[CloudwatchMetricAlarmMetricQuery], *, threshold: float, periods: int,
               comparison: str = "GreaterThanThreshold", missing: str = "notBreaching",
               page: str = RUNBOOK_PATH) -> CloudwatchMetricAlarm:
    """Alarm ``<key>-alarm`` on metric math (the query with ``return_data``), ``periods`` breaching in a
    row, notified like ``metric_alarm``; its runbook section on ``page``."""
    return CloudwatchMetricAlarm(
        scope, key, alarm_name=settings.name(f"{key}-alarm"),
        alarm_description=with_runbook(settings, f"{key}-alarm", description, page=page),
        metric_query=list(queries), threshold=threshold, comparison_operator=comparison,
        evaluation_periods=periods, datapoints_to_alarm=periods, treat_missing_data=missing,
        alarm_actions=[topic_arn], ok_actions=[topic_arn], actions_enabled=True,
    )


def runbook_url(settings: Settings, component: str, page: str = RUNBOOK_PATH) -> str:
    """Link to the runbook section of the alarm ``settings.name(component)`` on ``page`` (the alarm
    runbook, or the operators' page that owns the alarm's concern). Its anchor is the name without
    the environment (GitHub's heading slug of ``### payment-<component>``, which these lower-case
    hyphenated names equal). On GitHub when ``github_repository`` is set (an operator reading a
    notification has no checkout), else the repository-relative path."""
    anchor = f"payment-{component}"  # the primary's and the standby's alarms share a section
    base = (f"https://github.com/{settings.github_repository}/blob/main/{page}"
            if settings.github_repository else page)
    return f"{base}#{anchor}"


def with_runbook(settings: Settings, component: str, description: str,
                 limit: int = ALARM_DESCRIPTION_LIMIT, page: str = RUNBOOK_PATH) -> str:
    """``description`` followed by ``Runbook: <url>``: every page an operator receives says where
    its section is."""
    stop = "" if description.endswith((".", "?", "!")) else "."
    text = f"{description}{stop} Runbook: {runbook_url(settings, component, page)}"
    if len(text) > limit:
        raise ValueError(f"alarm description of {settings.name(component)} is {len(text)} characters (limit {limit})")
    return text
