"""Migration alarms and dashboard row: CDC latency (source and target), validation failures, and
the task stopping or failing, all to the alert topic like every other alarm.

Task stop/failure is an EventBridge rule on DMS's own task events rather than an alarm on missing
data: an alarm on "no CDC latency datapoints" cannot tell a stopped task from one still in its full
load or a quiet one, while the event names the task and the transition and arrives within seconds.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from constructs import Construct
from cdktf_cdktf_provider_aws.cloudwatch_event_rule import CloudwatchEventRule
from cdktf_cdktf_provider_aws.cloudwatch_event_target import CloudwatchEventTarget
from cdktf_cdktf_provider_aws.cloudwatch_metric_alarm import CloudwatchMetricAlarm

from modules.observability import Graph, Metric, metric_alarm, with_runbook
from modules.settings import Settings

DMS = "AWS/DMS"
# DMS task events (EventBridge detail-type "DMS Replication Task State Change") that need a person.
TASK_EVENTS = ("REPLICATION_TASK_FAILED", "REPLICATION_TASK_STOPPED")
# EventBridge refuses a longer rule description.
EVENT_RULE_DESCRIPTION_LIMIT = 512


@dataclass(frozen=True)
class MigrationMonitoringProps:
    settings: Settings
    alert_topic_arn: str
    instance_id: str
    task_id: str          # the task's resource identifier (CloudWatch ReplicationTaskIdentifier)
    task_arn: str         # built from the identifier, not a reference (the rule may exist before the task)


class MigrationMonitoring(Construct):
    """Alarms ``cdc-latency-source``/``-target``, ``validation-failures``; rule ``task-stopped``."""

    def __init__(self, scope: Construct, id: str, props: MigrationMonitoringProps):
        super().__init__(scope, id)
        s = props.settings
        dims = {"ReplicationInstanceIdentifier": props.instance_id, "ReplicationTaskIdentifier": props.task_id}
        self.alarms: dict[str, CloudwatchMetricAlarm] = {}
        for side in ("Source", "Target"):
            self._alarm(props, f"cdc-latency-{side.lower()}",
                        f"DMS CDC {side.lower()} latency above {s.cdc_latency_threshold_seconds}s: do not "
                        "move traffic (make cutover refuses), find the bottleneck",
                        f"CDCLatency{side}", dims, "Maximum", s.cdc_latency_threshold_seconds, periods=3)
        self._alarm(props, "validation-failures",
                    "DMS validation found rows that differ between source and target: stop the cutover",
                    "ValidationFailedOverallCount", dims, "Maximum", 0, periods=1)
        self.task_rule = CloudwatchEventRule(
            self, "task-stopped", name=s.name("dms-task-stopped"),
            description=with_runbook(s, "dms-task-stopped", "The DMS migration task stopped or failed: "
                                     "replication is no longer running", limit=EVENT_RULE_DESCRIPTION_LIMIT),
            event_pattern=json.dumps({
                "source": ["aws.dms"], "detail-type": ["DMS Replication Task State Change"],
                "resources": [props.task_arn], "detail": {"eventType": list(TASK_EVENTS)},
            }),
        )
        CloudwatchEventTarget(self, "task-stopped-alert", rule=self.task_rule.name,
                              target_id="alert-topic", arn=props.alert_topic_arn)
        self.graphs = (
            Graph("DMS CDC latency (s)", [Metric(DMS, "CDCLatencySource", dims, "Maximum", "source"),
                                          Metric(DMS, "CDCLatencyTarget", dims, "Maximum", "target")]),
            Graph("DMS changes in / applied", [Metric(DMS, "CDCIncomingChanges", dims, "Maximum", "incoming"),
                                               Metric(DMS, "CDCThroughputRowsTarget", dims, "Average", "applied/s")]),
            Graph("DMS validation", [Metric(DMS, "ValidationFailedOverallCount", dims, "Maximum", "failed"),
                                     Metric(DMS, "ValidationPendingOverallCount", dims, "Maximum", "pending")]),
        )

    def _alarm(self, props: MigrationMonitoringProps, key: str, description: str, metric: str,
               dims: dict[str, str], stat: str, threshold: float, periods: int) -> None:
        self.alarms[key] = metric_alarm(self, key, props.settings, props.alert_topic_arn, description,
                                        Metric(DMS, metric, dims, stat), threshold=threshold, periods=periods,
                                        period=60, missing="notBreaching")
