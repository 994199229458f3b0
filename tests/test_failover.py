"""`make failover` / `make failback` (scripts/failover.py) against moto in two regions: staging with
its DR region on (us-east-1 -> us-west-2).

The rules, each a test: the whole sequence fences the source, waits, checks the lag, promotes, opens
the target and verifies with a payment; every red step refuses with what it found and leaves every
later step undone (the target's request path not OK, the source's fence not confirmed, the lag above
the RPO, the promotion failing); the operator can accept a measured lag, or declare the source lost;
failback is the same sequence the other way. What moto cannot do is replaced, and only that:
invoking the canary function (Lambda needs a container runtime) and the Aurora global database (not
built). moto does not replicate between regions, so each replica is written where the test says."""

from __future__ import annotations

import datetime as dt

import boto3
import pytest

from scripts import failover, fence

ENV = {"ENVIRONMENT_SUFFIX": "staging", "PAYMENTS_DR_REGION": "us-west-2"}
PRIMARY, DR = "us-east-1", "us-west-2"
REGISTRY = "payment-merchant-registry-staging"
NOW = dt.datetime(2026, 12, 4, 3, 0, tzinfo=dt.timezone.utc)
READY = {PRIMARY: ["payment-canary-alarm-staging", "payment-api-5xx-alarm-staging"],
         DR: ["payment-canary-alarm-staging-us-west-2", "payment-api-5xx-alarm-staging-us-west-2"]}


class Rehearsed(failover.Regions):
    """moto for everything it emulates; the canary's verdict and the promotion are the test's."""

    def __init__(self, settings, *, serving=True, promotion_error=None, unreachable=()):
        self.slept: list[float] = []
        super().__init__(settings, lambda service, region: self._client(service, region), sleep=self.slept.append)
        self.serving, self.promotion_error, self.unreachable = serving, promotion_error, set(unreachable)
        self.verified: list[str] = []
        self.promoted: list[str] = []

    def _client(self, service, region):
        if region in self.unreachable:
            return Unreachable()
        return boto3.client(service, region_name=region)

    def promote_database(self, target, source, source_lost=False):
        if self.promotion_error:
            raise RuntimeError(self.promotion_error)
        self.promoted.append(target)
        return super().promote_database(target, source, source_lost)

    def verify(self, target):
        self.verified.append(target)
        # What the canary finds: a payment stored when the target is open (the rule the handler
        # tests hold, tests/lambdas/test_canary.py), read from the target's own replica here.
        opened = not fence.read(boto3.client("dynamodb", region_name=target), REGISTRY, target,
                                fence.fenced_by_default(self.s, target)).fenced
        return {"ok": True, "serving": self.serving and opened, "duration_ms": 812.0,
                **({} if opened else {"fenced": True})}


class Unreachable:
    """A region that does not answer (every call fails like a connect timeout)."""

    def __getattr__(self, name):
        def fail(*_, **__):
            raise ConnectionError(f"{name}: could not connect")
        return fail


@pytest.fixture
def staging(monkeypatch):
    from moto import mock_aws
    from modules.settings import build_settings
    for name, value in {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", **ENV}.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("PAYMENTS_AWS_ENDPOINT", raising=False)
    with mock_aws():
        for region in (PRIMARY, DR):
            boto3.client("dynamodb", region_name=region).create_table(
                TableName=REGISTRY, BillingMode="PAY_PER_REQUEST",
                AttributeDefinitions=[{"AttributeName": "client_id", "AttributeType": "S"}],
                KeySchema=[{"AttributeName": "client_id", "KeyType": "HASH"}])
            cloudwatch = boto3.client("cloudwatch", region_name=region)
            for name in READY[region]:
                cloudwatch.put_metric_alarm(AlarmName=name, MetricName="CanarySuccess", Namespace="Payments/staging",
                                            Statistic="Minimum", Period=300, EvaluationPeriods=1, Threshold=1,
                                            ComparisonOperator="LessThanThreshold")
        yield build_settings({}, ENV)


def lag(region_from, region_to, table, milliseconds):
    boto3.client("cloudwatch", region_name=region_from).put_metric_data(Namespace="AWS/DynamoDB", MetricData=[{
        "MetricName": "ReplicationLatency", "Value": milliseconds, "Unit": "Milliseconds",
        "Timestamp": NOW - dt.timedelta(minutes=1),
        "Dimensions": [{"Name": "TableName", "Value": table}, {"Name": "ReceivingRegion", "Value": region_to}]}])


def fenced(region):
    """Each region's fence as its own replica has it (what its functions read)."""
    settings_default = region == DR
    return fence.read(boto3.client("dynamodb", region_name=region), REGISTRY, region, settings_default).fenced


def go(staging, command="failover", regions=None, **kwargs):
    lines: list[str] = []
    regions = regions or Rehearsed(staging)
    try:
        code = failover.run(staging, command, regions, lines.append, now=lambda: NOW, **kwargs)
    except failover.FailoverRefused as err:
        code = None
        lines.append(f"NO-GO {err}")
    return code, lines, regions


def test_failover_fences_waits_checks_promotes_opens_and_verifies(staging):
    lag(PRIMARY, DR, "payment-transactions-staging", 420)
    assert (fenced(PRIMARY), fenced(DR)) == (False, True)  # before: the standby is fenced by default
    code, lines, regions = go(staging)
    assert code == 0, lines
    assert [line.split(":")[0] for line in lines[1:]] == [
        "GO    1 target ready", "GO    2 source fenced", "      waiting 20 s", "GO    3 replication lag",
        "GO    4 promote database", "GO    5 us-west-2 open", "GO    6 verify"]
    assert "slowest payment-transactions-staging 420 ms" in lines[4]
    assert (fenced(PRIMARY), fenced(DR)) == (True, False)
    assert regions.slept == [20] and regions.promoted == [DR] and regions.verified == [DR]


def test_failback_is_the_same_sequence_the_other_way(staging):
    assert go(staging)[0] == 0
    code, lines, regions = go(staging, "failback")
    assert code == 0, lines
    assert lines[0] == "failback staging: payments from us-west-2 to us-east-1"
    assert (fenced(PRIMARY), fenced(DR)) == (False, True)
    assert regions.verified == [PRIMARY]


@pytest.mark.parametrize("state", ["ALARM", "INSUFFICIENT_DATA"])
def test_a_target_alarm_not_ok_refuses_before_anything_changes(staging, state):
    boto3.client("cloudwatch", region_name=DR).set_alarm_state(
        AlarmName=READY[DR][0], StateValue=state, StateReason="test")
    code, lines, regions = go(staging)
    assert code is None and lines[-1] == (f"NO-GO 1 target ready: payment-canary-alarm-staging-us-west-2 {state} "
                                          "in us-west-2; nothing changed")
    assert (fenced(PRIMARY), fenced(DR)) == (False, True) and not regions.promoted and not regions.verified


def test_a_missing_target_alarm_refuses(staging):
    boto3.client("cloudwatch", region_name=DR).delete_alarms(AlarmNames=[READY[DR][1]])
    code, lines, _ = go(staging)
    assert code is None and "payment-api-5xx-alarm-staging-us-west-2 missing" in lines[-1]


def test_a_source_whose_fence_cannot_be_confirmed_refuses_and_stays_fenced_where_written(staging):
    # us-east-1 does not answer: the fence is written in us-west-2's replica only.
    code, lines, regions = go(staging, regions=Rehearsed(staging, unreachable=[PRIMARY]))
    assert code is None and lines[-1].startswith(
        "NO-GO 2 source fenced: us-east-1 its own replica cannot be read (ConnectionError)")
    assert "SOURCE_LOST=1" in lines[-1]
    dr_replica = boto3.client("dynamodb", region_name=DR)
    assert fence.read(dr_replica, REGISTRY, PRIMARY).fenced  # replicates to us-east-1 when it returns
    assert fenced(DR) and not regions.promoted and not regions.verified


def test_a_lost_source_can_be_declared_and_its_unknown_lag_accepted(staging):
    code, lines, regions = go(staging, regions=Rehearsed(staging, unreachable=[PRIMARY]), source_lost=True)
    assert code == 0, lines
    assert "(declared lost)" in lines[2] and "unknown (ConnectionError); accepted with the source declared lost" in lines[3]
    assert not regions.slept  # nothing to wait for in a region that is not there
    assert not fenced(DR)


def test_lag_above_the_rpo_refuses_with_the_source_fenced_and_the_target_not_opened(staging):
    lag(PRIMARY, DR, "payment-idempotency-staging", 4_200)
    code, lines, regions = go(staging)
    assert code is None and lines[-1] == (
        "NO-GO 3 replication lag: slowest payment-idempotency-staging 4200 ms over the last 5 min, above the RPO "
        "(1000 ms); the source stays fenced; wait, or accept it with ACCEPT_LAG_SECONDS=5")
    # No region takes payments: a retry of an Idempotency-Key whose record has not reached us-west-2
    # is refused in both, never paid a second time.
    assert (fenced(PRIMARY), fenced(DR)) == (True, True) and not regions.promoted


def test_the_operator_can_accept_a_measured_lag(staging):
    lag(PRIMARY, DR, "payment-idempotency-staging", 4_200)
    assert go(staging, accept_lag_seconds=3)[0] is None  # less than measured: still refused
    code, lines, _ = go(staging, accept_lag_seconds=5)
    assert code == 0 and lines[4].endswith("(accepted)")


def test_a_failed_promotion_refuses_and_leaves_no_region_taking_payments(staging):
    code, lines, regions = go(staging, regions=Rehearsed(staging, promotion_error="FailoverGlobalCluster: throttled"))
    assert code is None and lines[-1].startswith("NO-GO 4 promote database: FailoverGlobalCluster: throttled;")
    assert (fenced(PRIMARY), fenced(DR)) == (True, True) and not regions.verified


def test_a_verification_without_a_stored_payment_fails(staging):
    code, lines, regions = go(staging, regions=Rehearsed(staging, serving=False))
    assert code == 1 and lines[-1].startswith("FAIL  6 verify: the synthetic merchant's payment in us-west-2 was not stored")


def test_without_a_dr_region_there_is_nothing_to_fail_over_to(staging):
    from dataclasses import replace
    with pytest.raises(failover.FailoverRefused, match="has no dr_region"):
        failover.run(replace(staging, dr_region=""), "failover", Rehearsed(staging), print)


def test_names_in_each_region_match_the_stacks():
    from modules.settings import build_settings
    from modules.standby import standby_settings
    prod = build_settings({}, {"ENVIRONMENT_SUFFIX": "staging", "PAYMENTS_DR_REGION": "us-west-2"})
    assert failover.region_name(prod, "canary-alarm", DR) == standby_settings(prod).name("canary-alarm")
    assert failover.region_name(prod, "canary-alarm", PRIMARY) == prod.name("canary-alarm")


class Recording:
    """A client whose calls are recorded, then made (moto's RemoveFromGlobalCluster changes nothing it
    then describes, and it has no SwitchoverGlobalCluster: what was asked is what the test reads)."""

    def __init__(self, client, calls, answers=None):
        self._client, self._calls, self._answers = client, calls, answers or {}

    def __getattr__(self, name):
        def call(**kwargs):
            self._calls.append((name, kwargs))
            answer = self._answers.get(name)
            return answer(**kwargs) if answer else getattr(self._client, name)(**kwargs)
        return call


def global_database(instances: int):
    """The customer database as the stacks leave it: the global cluster, the primary in us-east-1,
    the secondary in us-west-2 with ``instances`` instances (0: headless)."""
    east, west = boto3.client("rds", region_name=PRIMARY), boto3.client("rds", region_name=DR)
    east.create_global_cluster(GlobalClusterIdentifier="payment-customer-db-global-staging", Engine="aurora-postgresql",
                               EngineVersion="15.4", StorageEncrypted=True)
    east.create_db_cluster(DBClusterIdentifier="payment-customer-db-staging", Engine="aurora-postgresql",
                           EngineVersion="15.4", GlobalClusterIdentifier="payment-customer-db-global-staging",
                           MasterUsername="dbadmin", MasterUserPassword="not-a-real-password-0")
    secondary = west.create_db_cluster(DBClusterIdentifier="payment-customer-db-staging-us-west-2", Engine="aurora-postgresql",
                                       EngineVersion="15.4", GlobalClusterIdentifier="payment-customer-db-global-staging")
    for n in range(instances):
        west.create_db_instance(DBInstanceIdentifier=f"payment-customer-db-staging-us-west-2-{n + 1}",
                                DBClusterIdentifier="payment-customer-db-staging-us-west-2", Engine="aurora-postgresql",
                                DBInstanceClass="db.serverless")
    return secondary["DBCluster"]["DBClusterArn"]


def rds_recorded(regions, calls, answers=None):
    real = regions._client
    regions.client = lambda service, region: Recording(real(service, region), calls, answers) if service == "rds" \
        else real(service, region)


def test_a_headless_secondary_is_detached_to_be_promoted(staging):
    arn = global_database(instances=0)
    regions, calls = Rehearsed(staging), []
    rds_recorded(regions, calls)
    code, lines, _ = go(staging, regions=regions)
    assert code == 0, lines
    assert ("remove_from_global_cluster", {"GlobalClusterIdentifier": "payment-customer-db-global-staging",
                                           "DbClusterIdentifier": arn}) in calls
    assert lines[5].startswith("GO    4 promote database: detached payment-customer-db-staging-us-west-2 from "
                               "payment-customer-db-global-staging: it writes alone (headless")


def test_a_secondary_with_instances_is_switched_over_and_waited_for(staging):
    arn = global_database(instances=1)
    regions, calls = Rehearsed(staging), []
    writer = {"now": False}

    def switchover(**_):
        writer["now"] = True
        return {}

    def describe(**kwargs):
        answer = boto3.client("rds", region_name=DR).describe_global_clusters(**kwargs)
        for member in answer["GlobalClusters"][0]["GlobalClusterMembers"]:
            member["IsWriter"] = (member["DBClusterArn"] == arn) == writer["now"]
        return answer
    rds_recorded(regions, calls, {"switchover_global_cluster": switchover, "describe_global_clusters": describe})
    code, lines, _ = go(staging, regions=regions)
    assert code == 0, lines
    assert ("switchover_global_cluster", {"GlobalClusterIdentifier": "payment-customer-db-global-staging",
                                          "TargetDbClusterIdentifier": arn}) in calls
    assert "GO    4 promote database: switched over: payment-customer-db-staging-us-west-2 writes (no data lost)" in lines
    assert not [c for c in calls if c[0] == "remove_from_global_cluster"]


def test_a_switchover_that_does_not_finish_refuses_and_opens_nothing(staging):
    global_database(instances=1)
    regions, calls = Rehearsed(staging), []
    rds_recorded(regions, calls, {"switchover_global_cluster": lambda **_: {}})  # the writer never moves
    code, lines, _ = go(staging, regions=regions)
    assert code is None and lines[-1].startswith("NO-GO 4 promote database: the switchover to "
                                                 "payment-customer-db-staging-us-west-2 did not finish in 10 min")
    assert (fenced(PRIMARY), fenced(DR)) == (True, True) and regions.slept.count(10) == 60


def test_with_the_source_lost_a_secondary_with_instances_is_detached(staging):
    global_database(instances=1)
    regions, calls = Rehearsed(staging, unreachable=[PRIMARY]), []
    rds_recorded(regions, calls)
    code, lines, _ = go(staging, regions=regions, source_lost=True)
    [step] = [line for line in lines if line.startswith("GO    4 promote database")]
    assert code == 0 and "(the source is lost)" in step
    assert [c[0] for c in calls if c[0].endswith("global_cluster")] == ["remove_from_global_cluster"]


def test_failback_after_a_detach_refuses_until_the_database_is_joined_back(staging):
    """A headless secondary was detached at the failover: it holds every SQL write since. Moving the
    traffic back to a primary that no longer receives them would leave them behind."""
    arn = global_database(instances=0)
    regions, calls = Rehearsed(staging), []
    detached = {"now": False}

    def remove(**_):
        detached["now"] = True   # what RemoveFromGlobalCluster does (the endpoint keeps the member)
        return {}

    def describe(**kwargs):
        answer = boto3.client("rds", region_name=PRIMARY).describe_global_clusters(**kwargs)
        for cluster in answer["GlobalClusters"]:
            cluster["GlobalClusterMembers"] = [m for m in cluster["GlobalClusterMembers"]
                                               if not (detached["now"] and m["DBClusterArn"] == arn)]
        return answer
    rds_recorded(regions, calls, {"remove_from_global_cluster": remove, "describe_global_clusters": describe})
    assert go(staging, regions=regions)[0] == 0 and detached["now"]
    code, lines, _ = go(staging, "failback", regions=regions)
    assert code is None and lines[-1].startswith(
        "NO-GO 4 promote database: payment-customer-db-global-staging has no cluster in us-west-2: it was "
        "detached at the failover and holds the writes since; join it back first")
    assert (fenced(PRIMARY), fenced(DR)) == (True, True)  # no region takes payments until it is resolved
