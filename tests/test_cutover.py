"""scripts/cutover.py against a real local endpoint (moto server): it reads the DMS task, CloudWatch
metrics and alarms, and Route 53 records through boto3, refuses on any red signal without touching
DNS, and moves exactly one rung of the ladder when everything is green; rollback moves all back.

One seam: moto implements no DescribeTableStatistics, so ``InjectedTableStatistics`` replaces that
one read (``Signals.table_statistics``) with the statistics DMS would return; every other signal is
produced in moto (task started, metrics put, alarm states set).
"""

from __future__ import annotations

import datetime as dt
import json
import urllib.request
from pathlib import Path
from typing import Any, Iterator

import pytest

from scripts import cutover
from scripts.rehearse import MIGRATION_SETTINGS, MotoServer, endpoint_env

REGION = "us-east-1"
RECORD = MIGRATION_SETTINGS["PAYMENTS_CUTOVER_RECORD_NAME"]
# The migration settings the rehearsal synthesizes with (example values, no real network or secret).
MIGRATION_ENV = {"ENVIRONMENT_SUFFIX": "dev", **MIGRATION_SETTINGS}
VALIDATED_TABLES = [{"SchemaName": "payments", "TableName": name, "ValidationState": "Validated"}
                    for name in ("customers", "cards")]


class InjectedTableStatistics(cutover.Signals):
    """The seam: table statistics as DMS reports them (moto has no DescribeTableStatistics)."""

    tables: list[dict[str, Any]] = VALIDATED_TABLES

    def table_statistics(self, task_arn: str) -> list[dict[str, Any]]:
        assert task_arn.endswith(":task:payment-migration-dev")
        return list(self.tables)


@pytest.fixture(scope="module")
def moto(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MotoServer]:
    with MotoServer(tmp_path_factory.mktemp("cutover") / "moto.log", aws_managed_policies=False) as server:
        yield server


@pytest.fixture
def world(moto: MotoServer, monkeypatch: pytest.MonkeyPatch) -> "World":
    """A fresh endpoint holding what a cutover reads: all green, traffic all on legacy."""
    urllib.request.urlopen(urllib.request.Request(f"{moto.url}/moto-api/reset", method="POST"), timeout=10)
    for key, value in endpoint_env(moto.url, REGION, {}).items():
        monkeypatch.setenv(key, value)
    return World(moto.url)


class World:
    def __init__(self, url: str):
        self.url = url
        self.client = cutover.boto_client_factory(REGION, url)
        r53 = self.client("route53")
        self.zone_id = r53.create_hosted_zone(Name="payments.example.com.", CallerReference="t")["HostedZone"]["Id"].split("/")[-1]
        self.settings = cutover.build_settings({}, {**MIGRATION_ENV, "PAYMENTS_CUTOVER_HOSTED_ZONE_ID": self.zone_id})
        self.set_weights(100, 0)
        dms = self.client("dms")
        self.task_arn = dms.create_replication_task(
            ReplicationTaskIdentifier="payment-migration-dev", MigrationType="full-load-and-cdc",
            SourceEndpointArn="arn:aws:dms:us-east-1:123456789012:endpoint:source",
            TargetEndpointArn="arn:aws:dms:us-east-1:123456789012:endpoint:target",
            ReplicationInstanceArn="arn:aws:dms:us-east-1:123456789012:rep:payment-dms-dev",
            TableMappings=json.dumps({"rules": []}))["ReplicationTask"]["ReplicationTaskArn"]
        dms.start_replication_task(ReplicationTaskArn=self.task_arn, StartReplicationTaskType="start-replication")
        cw = self.client("cloudwatch")
        for name in cutover.alarm_names(self.settings):
            cw.put_metric_alarm(AlarmName=name, Namespace="AWS/X", MetricName="M", Statistic="Maximum",
                                Period=60, EvaluationPeriods=1, Threshold=1,
                                ComparisonOperator="GreaterThanThreshold")
        self.put_latency(5.0)

    def put_latency(self, seconds: float) -> None:
        now = dt.datetime.now(dt.timezone.utc)
        dims = [{"Name": "ReplicationInstanceIdentifier", "Value": "payment-dms-dev"},
                {"Name": "ReplicationTaskIdentifier", "Value": "payment-migration-dev"}]
        self.client("cloudwatch").put_metric_data(Namespace="AWS/DMS", MetricData=[
            {"MetricName": metric, "Dimensions": dims, "Timestamp": now - dt.timedelta(minutes=m),
             "Value": seconds, "Unit": "Seconds"}
            for metric in ("CDCLatencySource", "CDCLatencyTarget") for m in (1, 2, 3)])

    def set_weights(self, legacy: int, new: int, minutes_ago: int | None = 60) -> None:
        """The two weighted records, and the rung record saying they were set ``minutes_ago``
        (None: no rung record, as before the script wrote one)."""
        changes = [{"Action": "UPSERT", "ResourceRecordSet": {
            "Name": RECORD, "Type": "CNAME", "SetIdentifier": key, "Weight": weight, "TTL": 60,
            "ResourceRecords": [{"Value": target}]}}
            for key, weight, target in (("legacy", legacy, "legacy-api.dc.example.com"),
                                        ("aws", new, "abc123.execute-api.us-east-1.amazonaws.com"))]
        r53 = self.client("route53")
        rung, _, _ = cutover.read_rung(r53, self.settings)
        if rung is not None:
            changes.append({"Action": "DELETE", "ResourceRecordSet": rung})
        if minutes_ago is not None:
            at = (dt.datetime.now(dt.timezone.utc) - dt.timedelta(minutes=minutes_ago)).isoformat(timespec="seconds")
            changes.append({"Action": "CREATE", "ResourceRecordSet": {
                "Name": f"_cutover.{RECORD}", "Type": "TXT", "TTL": 60,
                "ResourceRecords": [{"Value": f'"rung={new} at={at}"'}]}})
        r53.change_resource_record_sets(HostedZoneId=self.zone_id, ChangeBatch={"Changes": changes})

    def weights(self) -> tuple[int, int]:
        records = cutover.weighted_records(self.client("route53"), self.settings)
        return records["legacy"]["Weight"], records["aws"]["Weight"]

    def cutover(self, step: int | None = None, tables: list[dict[str, Any]] = VALIDATED_TABLES) -> tuple[int, list[str]]:
        lines: list[str] = []
        signals = InjectedTableStatistics(self.settings, self.client)
        signals.tables = tables
        try:
            code = cutover.cutover(self.settings, self.client, step, lines.append, signals=signals)
        except cutover.CutoverRefused as err:
            lines.append(f"REFUSED: {err}")
            code = 1
        return code, lines


def test_cutover_moves_exactly_one_step_when_every_signal_is_green(world: World) -> None:
    code, lines = world.cutover()
    assert code == 0, lines
    assert world.weights() == (90, 10)
    assert all(line.startswith("GO") for line in lines if line.startswith(("GO", "NO-GO")))
    assert sum(line.startswith("GO") for line in lines) == 12  # rung time, task, load, validation, 2 latency, 6 alarms (the canary's first)
    code, lines = world.cutover(step=50)   # at once: 10 % has not had its time yet
    assert (code, world.weights()) == (1, (90, 10))
    assert any(line.startswith("NO-GO time at rung: 10 % since") for line in lines)
    world.set_weights(90, 10, minutes_ago=world.settings.cutover_min_minutes_per_rung)
    code, _ = world.cutover(step=50)
    assert (code, world.weights()) == (0, (50, 50))


def test_cutover_refuses_when_the_task_is_not_running(world: World) -> None:
    world.client("dms").stop_replication_task(ReplicationTaskArn=world.task_arn)
    code, lines = world.cutover()
    assert code == 1 and world.weights() == (100, 0)
    assert "NO-GO DMS task status: stopped (need running)" in lines
    assert lines[-1].startswith("REFUSED: no-go")


def test_cutover_refuses_when_an_api_alarm_is_in_alarm(world: World) -> None:
    world.client("cloudwatch").set_alarm_state(AlarmName="payment-api-5xx-alarm-dev", StateValue="ALARM",
                                               StateReason="test")
    code, lines = world.cutover()
    assert code == 1 and world.weights() == (100, 0)
    assert "NO-GO alarm payment-api-5xx-alarm-dev: ALARM" in lines


def test_cutover_refuses_when_cdc_latency_is_over_the_threshold(world: World) -> None:
    world.put_latency(300.0)
    code, lines = world.cutover()
    assert code == 1 and world.weights() == (100, 0)
    assert any(line.startswith("NO-GO CDCLatencySource: max 300s") for line in lines)


def test_cutover_refuses_while_a_table_is_not_validated(world: World) -> None:
    tables = [*VALIDATED_TABLES, {"SchemaName": "payments", "TableName": "ledger", "ValidationState": "Mismatched records"}]
    code, lines = world.cutover(tables=tables)
    assert code == 1 and world.weights() == (100, 0)
    assert "NO-GO validation: not validated: {'payments.ledger': 'Mismatched records'}" in lines


def test_cutover_refuses_to_skip_a_rung(world: World) -> None:
    code, lines = world.cutover(step=50)
    assert code == 1 and world.weights() == (100, 0)
    assert lines[-1] == "REFUSED: STEP=50 is not the next step from 0 % (that is 10 %)"


def test_rollback_moves_all_traffic_back_in_one_step(world: World) -> None:
    world.set_weights(50, 50)
    lines: list[str] = []
    assert cutover.rollback(world.settings, world.client, lines.append) == 0
    assert world.weights() == (100, 0)
    assert lines[-1].startswith("rolled back: legacy 100, new 0")


def test_cli_refuses_with_exit_1_and_prints_every_check(world: World, capsys: pytest.CaptureFixture[str]) -> None:
    """The real command (no seam): moto cannot answer DescribeTableStatistics, which must be a red
    check in the report, not a crash."""
    env = {**MIGRATION_ENV, "PAYMENTS_CUTOVER_HOSTED_ZONE_ID": world.zone_id, "PAYMENTS_AWS_ENDPOINT": world.url}
    code = cutover.main(["cutover"], env=env)
    out = capsys.readouterr().out
    assert code == 1 and world.weights() == (100, 0)
    assert "GO    DMS task status: running (need running)" in out
    assert "NO-GO validation: cannot read table statistics" in out
    assert "REFUSED: no-go (1 of 12 checks red: validation); nothing changed" in out


# --------------------------------------------------------------------------- concurrency and alarms


class StrictRoute53:
    """Route 53's DELETE rule on top of moto: "to delete a resource record set, you must specify all
    the same values that you specified when you created it" (moto matches a weighted record by its
    set identifier only). ``before_change`` runs once, just before the first change batch: the
    concurrent operator."""

    def __init__(self, client: Any, before_change: Any = None):
        self._client, self._before = client, before_change
        self.exceptions = client.exceptions

    def __getattr__(self, name: str) -> Any:
        return getattr(self._client, name)

    def change_resource_record_sets(self, HostedZoneId: str, ChangeBatch: dict[str, Any]) -> dict[str, Any]:
        from botocore.exceptions import ClientError
        if self._before is not None:
            before, self._before = self._before, None
            before()
        def key(r: dict[str, Any]) -> tuple[str, str, str | None]:
            return r["Name"], r["Type"], r.get("SetIdentifier")
        current = {key(r): r for r in self._client.list_resource_record_sets(
            HostedZoneId=HostedZoneId)["ResourceRecordSets"]}
        for change in ChangeBatch["Changes"]:
            record = change["ResourceRecordSet"]
            if change["Action"] == "DELETE":
                found = current.get(key(record), {})
                if any(found.get(k) != v for k, v in record.items()):
                    error = {"Error": {"Code": "InvalidChangeBatch", "Message": "values do not match"}}
                    raise self._client.exceptions.InvalidChangeBatch(error, "ChangeResourceRecordSets")
            assert change["Action"] in ("DELETE", "CREATE"), change  # never an UPSERT that overwrites
        return self._client.change_resource_record_sets(HostedZoneId=HostedZoneId, ChangeBatch=ChangeBatch)


def _strict(world: World, before_change: Any = None) -> Any:
    route53 = StrictRoute53(world.client("route53"), before_change)
    return lambda service: route53 if service == "route53" else world.client(service)


def test_cutover_replaces_both_records_in_one_batch_of_exact_deletes_and_creates(world: World) -> None:
    lines: list[str] = []
    signals = InjectedTableStatistics(world.settings, world.client)
    assert cutover.cutover(world.settings, _strict(world), None, lines.append, signals=signals) == 0
    assert world.weights() == (90, 10)


def test_a_concurrent_rollback_makes_the_cutover_fail_instead_of_being_overwritten(world: World) -> None:
    world.set_weights(90, 10)   # one rung done; the operator steps to 50 % ...
    rollback_lines: list[str] = []

    def concurrent_rollback() -> None:   # ... while another operator rolls back
        assert cutover.rollback(world.settings, world.client, rollback_lines.append) == 0
    signals = InjectedTableStatistics(world.settings, world.client)
    with pytest.raises(cutover.CutoverRefused, match="changed since they were read"):
        cutover.cutover(world.settings, _strict(world, concurrent_rollback), 50, print, signals=signals)
    assert world.weights() == (100, 0)  # the rollback stands
    assert rollback_lines[-1].startswith("rolled back")


def test_a_rollback_racing_a_cutover_reads_again_and_wins(world: World) -> None:
    def concurrent_cutover() -> None:   # a step to 50 % lands between the rollback's read and write
        world.set_weights(50, 50)
    lines: list[str] = []
    world.set_weights(90, 10)
    assert cutover.rollback(world.settings, _strict(world, concurrent_cutover), lines.append) == 0
    assert world.weights() == (100, 0) and any(line.startswith("RETRY") for line in lines)


def test_cutover_refuses_while_an_alarm_has_insufficient_data(world: World) -> None:
    """On AWS a new alarm starts as INSUFFICIENT_DATA (the local endpoint creates them OK): only OK is green."""
    world.client("cloudwatch").set_alarm_state(AlarmName="payment-cdc-latency-target-alarm-dev",
                                               StateValue="INSUFFICIENT_DATA", StateReason="test")
    code, lines = world.cutover()
    assert code == 1 and world.weights() == (100, 0)
    assert "NO-GO alarm payment-cdc-latency-target-alarm-dev: INSUFFICIENT_DATA" in lines


def test_cutover_refuses_when_an_alarm_was_deleted(world: World) -> None:
    world.client("cloudwatch").delete_alarms(AlarmNames=["payment-api-p99-latency-alarm-dev"])
    code, lines = world.cutover()
    assert code == 1 and world.weights() == (100, 0)
    assert "NO-GO alarm payment-api-p99-latency-alarm-dev: missing" in lines


def test_cutover_refuses_a_rung_before_the_minimum_time_at_the_previous_one(world: World) -> None:
    world.set_weights(90, 10, minutes_ago=world.settings.cutover_min_minutes_per_rung - 1)
    code, lines = world.cutover(step=50)
    assert code == 1 and world.weights() == (90, 10)
    assert any(line.startswith("NO-GO time at rung: 10 % since") for line in lines)


def test_cutover_refuses_when_it_cannot_tell_since_when_the_weights_are_on_their_rung(world: World) -> None:
    world.set_weights(90, 10, minutes_ago=None)
    code, lines = world.cutover(step=50)
    assert code == 1 and world.weights() == (90, 10)
    assert any(line.startswith("NO-GO time at rung: unknown since when") for line in lines)


def test_every_move_records_its_rung_and_time_in_the_same_batch(world: World) -> None:
    assert world.cutover()[0] == 0
    _, rung, since = cutover.read_rung(world.client("route53"), world.settings)
    assert rung == 10 and dt.datetime.now(dt.timezone.utc) - since < dt.timedelta(minutes=5)
    assert cutover.rollback(world.settings, world.client, print) == 0
    assert cutover.read_rung(world.client("route53"), world.settings)[1] == 0
