"""Move merchant traffic from the legacy on-premises API to the new one, one step at a time, only on
green signals; or move all of it back (docs/operators/migration.md).

``make cutover ENVIRONMENT_SUFFIX=prod STEP=10`` checks, from the live account:
  * the DMS task is ``running``;
  * its full load is complete (100 %, no table loading, queued or errored);
  * every table's validation state is ``Validated``;
  * CDC latency (source and target) has data and stays under ``cdc_latency_threshold_seconds``;
  * the synthetic merchant's (canary), the API's and the migration's alarms exist and are ``OK``
    (``INSUFFICIENT_DATA`` or missing is red);
  * the weights have stayed on their rung at least ``cutover_min_minutes_per_rung`` (the TXT record
    ``_cutover.<name>`` written with every change says since when);
then, only if all are green, replaces both weighted records in one Route 53 change batch (DELETE
each exactly as read, CREATE it with its new weight: a concurrent change makes the batch fail
instead of being overwritten): the new API's share moves to the next rung of ``LADDER`` (``STEP``
must be that rung; omitted, it is implied).
``make rollback ENVIRONMENT_SUFFIX=prod`` sets legacy 100 / new 0 in one change, whatever the signals.
Both print every check and exit 1 when they refuse. ``--endpoint-url`` / ``PAYMENTS_AWS_ENDPOINT``
point boto3 at a local endpoint (the tests use moto).

The weights in Terraform are initial values only (``ignore_changes``); this script owns them.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Sequence

PROJECT_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(PROJECT_ROOT))



from scripts.plain_modules import import_plain  # noqa: E402

# The settings are plain Python; this script runs in an operator's shell during a cutover.
_settings = import_plain("settings")
ENVIRONMENT_VAR = _settings.ENVIRONMENT_VAR
Settings = _settings.Settings
build_settings, load_cdktf_context = _settings.build_settings, _settings.load_cdktf_context

LADDER = (0, 10, 50, 100)  # percent of traffic on the new API
LEGACY, NEW = "legacy", "aws"  # set identifiers (modules/migration/cutover_dns.py)
LATENCY_WINDOW = dt.timedelta(minutes=10)
VALIDATED = "Validated"
ROLLBACK_ATTEMPTS = 3
RUNG_PREFIX = "_cutover."  # TXT record next to the merchant-facing name: the rung and since when


class CutoverRefused(RuntimeError):
    """A precondition of the move does not hold; nothing was changed."""


@dataclass(frozen=True)
class Check:
    name: str
    ok: bool
    detail: str

    def line(self) -> str:
        return f"{'GO   ' if self.ok else 'NO-GO'} {self.name}: {self.detail}"


def alarm_names(s: Settings) -> list[str]:
    """Alarms that must be OK before traffic moves: the synthetic merchant's (a merchant can pay through
    the new API), the API's own and the migration's."""
    return [s.name(f"{key}-alarm") for key in (
        "canary", "api-5xx", "api-p99-latency", "cdc-latency-source", "cdc-latency-target", "validation-failures")]


class Signals:
    """Reads each go/no-go signal from AWS. One method per signal source, so a test can replace the
    one a local endpoint cannot produce (moto has no DescribeTableStatistics) and nothing else."""

    def __init__(self, settings: Settings, client: Callable[[str], Any]):
        self.s = settings
        self.client = client

    def task(self) -> dict[str, Any]:
        tasks = self.client("dms").describe_replication_tasks(
            Filters=[{"Name": "replication-task-id", "Values": [self.s.name("migration")]}],
            WithoutSettings=True)["ReplicationTasks"]
        if not tasks:
            raise CutoverRefused(f"DMS task {self.s.name('migration')} not found (is migration_enabled applied?)")
        return tasks[0]

    def table_statistics(self, task_arn: str) -> list[dict[str, Any]]:
        pages = self.client("dms").get_paginator("describe_table_statistics")
        return [t for page in pages.paginate(ReplicationTaskArn=task_arn) for t in page["TableStatistics"]]

    def latency(self, metric: str, now: dt.datetime) -> list[float]:
        """Per-minute maxima of a CDC latency metric over the last ``LATENCY_WINDOW``, oldest first."""
        points = self.client("cloudwatch").get_metric_statistics(
            Namespace="AWS/DMS", MetricName=metric, StartTime=now - LATENCY_WINDOW, EndTime=now, Period=60,
            Statistics=["Maximum"],
            Dimensions=[{"Name": "ReplicationInstanceIdentifier", "Value": self.s.name("dms")},
                        {"Name": "ReplicationTaskIdentifier", "Value": self.s.name("migration")}],
        )["Datapoints"]
        return [p["Maximum"] for p in sorted(points, key=lambda p: p["Timestamp"])]

    def alarm_states(self, names: Sequence[str]) -> dict[str, str]:
        alarms = self.client("cloudwatch").describe_alarms(AlarmNames=list(names))["MetricAlarms"]
        return {a["AlarmName"]: a["StateValue"] for a in alarms}


def evaluate(signals: Signals, now: dt.datetime) -> list[Check]:
    """Every go/no-go check, in the order an operator reads them. A signal that cannot be read is a
    red check (with the error), never a crash half-way through the report."""
    s = signals.s
    checks: list[Check] = []
    try:
        task = signals.task()
    except Exception as err:
        return [Check("DMS task", False, str(err))]
    status = task.get("Status", "?")
    checks.append(Check("DMS task status", status == "running", f"{status} (need running)"))
    stats = task.get("ReplicationTaskStats") or {}
    loaded = (stats.get("FullLoadProgressPercent") == 100 and not stats.get("TablesLoading")
              and not stats.get("TablesQueued") and not stats.get("TablesErrored"))
    checks.append(Check("full load", loaded,
                        f"{stats.get('FullLoadProgressPercent', '?')} %, tables loaded {stats.get('TablesLoaded', '?')}, "
                        f"loading {stats.get('TablesLoading', '?')}, queued {stats.get('TablesQueued', '?')}, "
                        f"errored {stats.get('TablesErrored', '?')}"))
    try:
        tables = signals.table_statistics(task["ReplicationTaskArn"])
        not_valid = {f"{t.get('SchemaName')}.{t.get('TableName')}": t.get("ValidationState") for t in tables
                     if t.get("ValidationState") != VALIDATED}
        checks.append(Check("validation", bool(tables) and not not_valid,
                            f"{len(tables)} tables, all {VALIDATED}" if tables and not not_valid
                            else (f"not validated: {not_valid}" if tables else "no table statistics")))
    except Exception as err:
        checks.append(Check("validation", False, f"cannot read table statistics: {err}"))
    threshold = s.cdc_latency_threshold_seconds
    for metric in ("CDCLatencySource", "CDCLatencyTarget"):
        try:
            values = signals.latency(metric, now)
        except Exception as err:
            checks.append(Check(metric, False, f"cannot read: {err}"))
            continue
        ok = bool(values) and values[-1] <= threshold and max(values) <= threshold
        checks.append(Check(metric, ok, f"max {max(values):.0f}s, latest {values[-1]:.0f}s (limit {threshold}s)"
                            if values else f"no datapoints in the last {LATENCY_WINDOW}"))
    names = alarm_names(s)
    try:
        states = signals.alarm_states(names)
    except Exception as err:
        return [*checks, Check("alarms", False, f"cannot read: {err}")]
    for name in names:
        state = states.get(name, "missing")
        checks.append(Check(f"alarm {name}", state == "OK", state))
    return checks


# --------------------------------------------------------------------------- Route 53


def weighted_records(route53: Any, s: Settings) -> dict[str, dict[str, Any]]:
    """The two weighted records of the merchant-facing name, by set identifier."""
    name = s.cutover_record_name.rstrip(".") + "."
    found: dict[str, dict[str, Any]] = {}
    pages = route53.get_paginator("list_resource_record_sets")
    for page in pages.paginate(HostedZoneId=s.cutover_hosted_zone_id, StartRecordName=name, StartRecordType="CNAME"):
        for record in page["ResourceRecordSets"]:
            if record["Name"] == name and record.get("SetIdentifier") in (LEGACY, NEW):
                found[record["SetIdentifier"]] = record
    missing = {LEGACY, NEW} - set(found)
    if missing:
        raise CutoverRefused(f"weighted record(s) {sorted(missing)} of {name} not found in zone {s.cutover_hosted_zone_id}")
    return found


def new_share(records: dict[str, dict[str, Any]]) -> int | None:
    """Percent of traffic on the new API when the weights sit on the ladder, else None."""
    legacy, new = records[LEGACY]["Weight"], records[NEW]["Weight"]
    for rung in LADDER:
        if (legacy, new) == (100 - rung, rung):
            return rung
    return None


def rung_record_name(s: Settings) -> str:
    """The TXT record that says which rung the weights are on and since when (written in the same
    change batch as the weights, so it can never disagree with them)."""
    return f"{RUNG_PREFIX}{s.cutover_record_name.rstrip('.')}."


def read_rung(route53: Any, s: Settings) -> tuple[dict[str, Any] | None, int | None, dt.datetime | None]:
    """(the TXT record, its rung, when it was reached); Nones when there is no record yet."""
    name = rung_record_name(s)
    for record in route53.list_resource_record_sets(HostedZoneId=s.cutover_hosted_zone_id, StartRecordName=name,
                                                    StartRecordType="TXT", MaxItems="1")["ResourceRecordSets"]:
        if record["Name"] == name and record["Type"] == "TXT":
            fields = dict(item.split("=", 1) for item in record["ResourceRecords"][0]["Value"].strip('"').split())
            return record, int(fields["rung"]), dt.datetime.fromisoformat(fields["at"])
    return None, None, None


def rung_check(s: Settings, rung_at: tuple[int | None, dt.datetime | None], current: int, now: dt.datetime) -> Check:
    """Traffic stays on a rung at least ``cutover_min_minutes_per_rung`` before the next step."""
    minimum = dt.timedelta(minutes=s.cutover_min_minutes_per_rung)
    rung, since = rung_at
    if current == LADDER[0]:
        return Check("time at rung", True, f"{current} % (no traffic on the new API yet)")
    if rung != current or since is None:
        return Check("time at rung", False, f"unknown since when the weights are at {current} % (the "
                     f"{RUNG_PREFIX}<record> TXT says rung {rung}); wait {minimum} after setting them")
    waited = now - since
    return Check("time at rung", waited >= minimum,
                 f"{current} % since {since.isoformat()} ({int(waited.total_seconds() // 60)} min; minimum {minimum})")


RECORD_FIELDS = ("Name", "Type", "SetIdentifier", "Weight", "TTL", "ResourceRecords", "HealthCheckId", "AliasTarget")


def set_weights(route53: Any, s: Settings, records: dict[str, dict[str, Any]], percent: int, why: str,
                now: dt.datetime | None = None) -> str:
    """Both records in one change batch that DELETEs each record exactly as it was read and CREATEs
    it with its new weight. Route 53 applies a batch atomically and refuses a DELETE whose values
    differ from the current ones, so a concurrent change (a rollback between our read and this
    write) makes this batch fail instead of being overwritten; an UPSERT would overwrite it."""
    changes = []
    for key, weight in ((LEGACY, 100 - percent), (NEW, percent)):
        record = {k: v for k, v in records[key].items() if k in RECORD_FIELDS}
        changes.append({"Action": "DELETE", "ResourceRecordSet": record})
        changes.append({"Action": "CREATE", "ResourceRecordSet": {**record, "Weight": weight}})
    rung_record, _, _ = read_rung(route53, s)
    if rung_record is not None:
        changes.append({"Action": "DELETE", "ResourceRecordSet": {
            k: v for k, v in rung_record.items() if k in RECORD_FIELDS}})
    at = (now or dt.datetime.now(dt.timezone.utc)).isoformat(timespec="seconds")
    changes.append({"Action": "CREATE", "ResourceRecordSet": {
        "Name": rung_record_name(s), "Type": "TXT", "TTL": 60,
        "ResourceRecords": [{"Value": f'"rung={percent} at={at}"'}]}})
    try:
        info = route53.change_resource_record_sets(
            HostedZoneId=s.cutover_hosted_zone_id,
            ChangeBatch={"Comment": why, "Changes": changes})["ChangeInfo"]
    except route53.exceptions.InvalidChangeBatch as err:
        raise CutoverRefused("the weighted records changed since they were read (a concurrent rollback or "
                             f"cutover?); nothing changed by this run; read the weights and decide again ({err})") from None
    return f"{info['Id']} {info['Status']}"


# --------------------------------------------------------------------------- commands


def cutover(s: Settings, client: Callable[[str], Any], step: int | None, out: Callable[[str], None],
            signals: Signals | None = None, now: dt.datetime | None = None) -> int:
    route53 = client("route53")
    records = weighted_records(route53, s)
    current = new_share(records)
    out(f"weights now: legacy {records[LEGACY]['Weight']}, new {records[NEW]['Weight']}")
    if current is None:
        raise CutoverRefused("the weights are not on the ladder "
                             f"{LADDER}; run make rollback first, then step again")
    if current == LADDER[-1]:
        raise CutoverRefused("all traffic is already on the new API: nothing to move")
    target = LADDER[LADDER.index(current) + 1]
    if step is not None and step != target:
        raise CutoverRefused(f"STEP={step} is not the next step from {current} % (that is {target} %)")
    now = now or dt.datetime.now(dt.timezone.utc)
    _, rung, since = read_rung(route53, s)
    checks = [rung_check(s, (rung, since), current, now), *evaluate(signals or Signals(s, client), now)]
    for check in checks:
        out(check.line())
    red = [c.name for c in checks if not c.ok]
    if red:
        raise CutoverRefused(f"no-go ({len(red)} of {len(checks)} checks red: {', '.join(red)}); nothing changed")
    change = set_weights(route53, s, records, target, f"cutover {current} -> {target} percent", now)
    out(f"moved: new API {current} % -> {target} % (legacy {100 - target}, new {target}); change {change}")
    return 0


def rollback(s: Settings, client: Callable[[str], Any], out: Callable[[str], None]) -> int:
    route53 = client("route53")
    records = weighted_records(route53, s)
    out(f"weights now: legacy {records[LEGACY]['Weight']}, new {records[NEW]['Weight']}")
    health_id = records[LEGACY].get("HealthCheckId")
    if health_id:
        observations = route53.get_health_check_status(HealthCheckId=health_id)["HealthCheckObservations"]
        healthy = sum("Success" in o.get("StatusReport", {}).get("Status", "") for o in observations)
        out(f"{'GO   ' if healthy else 'WARN '} legacy health check {health_id}: {healthy}/{len(observations)} "
            "checkers healthy (rolling back regardless: the legacy system is the known-good path)")
    for attempt in range(ROLLBACK_ATTEMPTS):
        if (records[LEGACY]["Weight"], records[NEW]["Weight"]) == (100, 0):
            out("already all on legacy: nothing to move")
            return 0
        try:
            change = set_weights(route53, s, records, 0, "rollback: all traffic to legacy")
            break
        except CutoverRefused as err:
            # A rollback must win over a concurrent cutover: read the weights again and retry.
            out(f"RETRY the records changed under the rollback ({err}); reading them again")
            records = weighted_records(route53, s)
    else:
        raise CutoverRefused(f"the records kept changing; {ROLLBACK_ATTEMPTS} rollback attempts failed")
    out(f"rolled back: legacy 100, new 0; change {change}")
    return 0


def boto_client_factory(region: str, endpoint_url: str | None) -> Callable[[str], Any]:
    import boto3

    session = boto3.session.Session(region_name=region)
    return lambda service: session.client(service, endpoint_url=endpoint_url or None)


def main(argv: list[str] | None = None, env: dict[str, str] | None = None,
         out: Callable[[str], None] = print) -> int:
    env = dict(os.environ if env is None else env)
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("command", choices=("cutover", "rollback"))
    parser.add_argument("--environment", default=env.get(ENVIRONMENT_VAR) or None)
    parser.add_argument("--step", type=int, default=None, help=f"percent to move the new API to, one of {LADDER[1:]}")
    parser.add_argument("--endpoint-url", default=env.get("PAYMENTS_AWS_ENDPOINT") or None)
    args = parser.parse_args(argv)
    if args.environment:
        env[ENVIRONMENT_VAR] = args.environment
    env.pop("PAYMENTS_AWS_ENDPOINT", None)  # an endpoint for boto3 only, not a synth setting here
    s = build_settings(load_cdktf_context(), env)
    out(f"{args.command} {s.environment}: {s.cutover_record_name} in zone {s.cutover_hosted_zone_id}"
        + (f" via {args.endpoint_url}" if args.endpoint_url else ""))
    if not s.migration_enabled:
        out("REFUSED: migration_enabled is false for this environment")
        return 1
    client = boto_client_factory(s.region, args.endpoint_url)
    try:
        if args.command == "rollback":
            return rollback(s, client, out)
        return cutover(s, client, args.step, out)
    except CutoverRefused as err:
        out(f"REFUSED: {err}")
        return 1


if __name__ == "__main__":
    sys.exit(main())
