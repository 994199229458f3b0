"""Move the taking of payments to the disaster-recovery region, or back (docs/operators/disaster-recovery.md
"Failover and failback").

    make failover ENVIRONMENT_SUFFIX=prod [ACCEPT_LAG_SECONDS=30] [SOURCE_LOST=1]
    make failback ENVIRONMENT_SUFFIX=prod [ACCEPT_LAG_SECONDS=30]
    python -m scripts.failover {failover,failback} [--accept-lag-seconds N] [--source-lost] [--endpoint-url URL]

``failover`` moves payments from the platform's region (the *source*) to ``dr_region`` (the
*target*); ``failback`` from ``dr_region`` back. Each step is printed; the first red one stops the
command, and nothing after it is done:

1. **target ready**: the target's synthetic-merchant and API 5xx alarms are ``OK`` (``ALARM``,
   ``INSUFFICIENT_DATA`` or missing is red). A fenced target's canary passes (token, validate,
   fraud-check answer; the refused payment is by order), so this is its request path working.
2. **fence the source**: the fence is written in the source's replica of the registry (when it
   answers) and the target's; the source's own replica must say fenced. A source that cannot be
   read is red unless the operator declares it lost (``SOURCE_LOST``): its functions then find the
   fence when the region returns and replication resumes. Then the functions' fence cache and the
   longest ``/process`` run out (``settle_seconds``): nothing in flight there can still write.
3. **replication lag**: each replicated table's ``ReplicationLatency`` from the source to the
   target (the source region's CloudWatch), the maximum over the last ``LAG_WINDOW``. Above
   ``dr_rpo_seconds`` is red unless the operator accepts at least that much (``ACCEPT_LAG_SECONDS``);
   unreadable is red unless ``SOURCE_LOST`` (the data at risk is then the source's last lag).
   With eventual replication (provider 5.100.0), this and the fence are what keep a retried
   Idempotency-Key from being paid twice: the target opens only after the source's writes are in it.
4. **promote the database**: the target's cluster of the Aurora global database becomes the writer:
   a switchover (managed, nothing lost) when it has instances and the source answers; a detach
   (RemoveFromGlobalCluster) when it is headless or the source is lost. A promotion that fails is
   red: the target stays fenced and the source fenced (no region takes payments), which the
   operator resolves by hand (the page's runbook).
5. **open the target**: its fence item says ``fenced = false``.
6. **verify**: the target's synthetic merchant is invoked now; its payment must be stored. Route
   53 then answers the merchant-facing name from the target: its health check reads that canary's
   ``canary-serving`` alarm (modules/failover_routing.py).

Exit status: 0 done (or nothing to do), 1 refused or failed, with the step that stopped it.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Sequence

PROJECT_ROOT = Path(__file__).resolve().parent.parent
if str(PROJECT_ROOT) not in sys.path:
    sys.path.insert(0, str(PROJECT_ROOT))

from scripts import fence as fences  # noqa: E402
from scripts.plain_modules import import_plain  # noqa: E402

LAG_WINDOW = dt.timedelta(minutes=5)
# The functions trust a fence for its cache time; a /process already past its fence check may
# still write for up to its timeout (modules/compute.py: 15 s).
PROCESS_TIMEOUT_SECONDS = 15
TABLES = ("transactions", "idempotency", "customer-activity", "merchant-registry")
READY_ALARMS = ("canary", "api-5xx")
SWITCHOVER_POLLS, SWITCHOVER_POLL_SECONDS = 60, 10   # a switchover takes a minute or two
# The customer database's global cluster: settings.name(GLOBAL_DATABASE) (modules/global_database.py).
GLOBAL_DATABASE = "customer-db-global"


class FailoverRefused(RuntimeError):
    """A step is red: it and every later step were not done."""


@dataclass(frozen=True)
class Direction:
    command: str
    source: str
    target: str


def direction(settings: Any, command: str) -> Direction:
    if not settings.dr_region:
        raise FailoverRefused(f"{settings.environment} has no dr_region: there is no other region to move to")
    if command == "failover":
        return Direction(command, settings.region, settings.dr_region)
    return Direction(command, settings.dr_region, settings.region)


def region_name(settings: Any, component: str, region: str) -> str:
    """A component's name in ``region``: the primary's plain, the standby's with the region
    (modules/standby.py StandbySettings.name)."""
    base = settings.name(component)
    return base if region == settings.region else f"{base}-{region}"


class Regions:
    """What the command reads and does in each region. One method per AWS interaction, so a test
    can replace what the local endpoint cannot do (invoking a function, an Aurora global database)
    and nothing else."""

    def __init__(self, settings: Any, client: Callable[[str, str], Any], sleep: Callable[[float], None] = time.sleep):
        self.s, self.client, self.sleep = settings, client, sleep

    def alarm_states(self, region: str, names: Sequence[str]) -> dict[str, str]:
        found = self.client("cloudwatch", region).describe_alarms(AlarmNames=list(names))["MetricAlarms"]
        return {a["AlarmName"]: a["StateValue"] for a in found}

    def replication_lag_ms(self, source: str, target: str, now: dt.datetime) -> dict[str, float]:
        """Each table's highest ``ReplicationLatency`` (ms) into ``target`` over ``LAG_WINDOW``; 0 for a
        table without datapoints (no write to replicate in the window)."""
        cloudwatch = self.client("cloudwatch", source)
        lag = {}
        for short in TABLES:
            table = self.s.name(short)
            points = cloudwatch.get_metric_statistics(
                Namespace="AWS/DynamoDB", MetricName="ReplicationLatency", StartTime=now - LAG_WINDOW, EndTime=now,
                Period=60, Statistics=["Maximum"],
                Dimensions=[{"Name": "TableName", "Value": table}, {"Name": "ReceivingRegion", "Value": target}],
            )["Datapoints"]
            lag[table] = max((p["Maximum"] for p in points), default=0.0)
        return lag

    def promote_database(self, target: str, source: str, source_lost: bool = False) -> str:
        """Make ``target``'s member of the customer database's global cluster the writer: a switchover
        (managed, no data lost) when it has instances and the source answers; otherwise a detach
        (RemoveFromGlobalCluster: it writes alone, with what replication brought it). Raises when it
        cannot (the step is then red and the target is not opened), and when ``target`` writes but
        ``source`` has no member: the source's cluster was detached at a failover and holds every
        write since, which moving the traffic back would leave behind."""
        name = self.s.name(GLOBAL_DATABASE)
        rds = self.client("rds", target)
        found = rds.describe_global_clusters(GlobalClusterIdentifier=name).get("GlobalClusters", [])
        if not found:
            return "skipped: no Aurora global database in this environment"
        member = next((m for m in found[0].get("GlobalClusterMembers", []) if f":rds:{target}:" in m["DBClusterArn"]), None)
        if member is None:
            raise RuntimeError(f"{name} has no cluster in {target}")
        arn = member["DBClusterArn"]
        if member.get("IsWriter"):
            members = found[0].get("GlobalClusterMembers", [])
            if not source_lost and not any(f":rds:{source}:" in m["DBClusterArn"] for m in members):
                raise RuntimeError(
                    f"{name} has no cluster in {source}: it was detached at the failover and holds the writes "
                    f"since; join it back first (docs/operators/disaster-recovery.md \"The customer database\")")
            return f"{arn.rsplit(':', 1)[1]} already writes"
        [cluster] = rds.describe_db_clusters(DBClusterIdentifier=arn)["DBClusters"]
        if source_lost or not cluster.get("DBClusterMembers"):
            rds.remove_from_global_cluster(GlobalClusterIdentifier=name, DbClusterIdentifier=arn)
            why = "the source is lost" if source_lost else "headless: add an instance before a client needs SQL"
            return (f"detached {cluster['DBClusterIdentifier']} from {name}: it writes alone ({why}); "
                    "make it the primary of a new global database after the failback")
        rds.switchover_global_cluster(GlobalClusterIdentifier=name, TargetDbClusterIdentifier=arn)
        for _ in range(SWITCHOVER_POLLS):
            members = rds.describe_global_clusters(GlobalClusterIdentifier=name)["GlobalClusters"][0]["GlobalClusterMembers"]
            if any(m["DBClusterArn"] == arn and m.get("IsWriter") for m in members):
                return f"switched over: {cluster['DBClusterIdentifier']} writes (no data lost)"
            self.sleep(SWITCHOVER_POLL_SECONDS)
        raise RuntimeError(f"the switchover to {cluster['DBClusterIdentifier']} did not finish in "
                           f"{SWITCHOVER_POLLS * SWITCHOVER_POLL_SECONDS // 60} min")

    def verify(self, target: str) -> dict[str, Any]:
        """One run of the target's synthetic merchant, now; its summary."""
        answer = self.client("lambda", target).invoke(
            FunctionName=region_name(self.s, "canary", target), Qualifier="live", InvocationType="RequestResponse")
        return json.loads(answer["Payload"].read() or b"{}")


def _ddb(regions: Regions, region: str) -> Any:
    return regions.client("dynamodb", region)


def run(s: Any, command: str, regions: Regions, out: Callable[[str], None], *, accept_lag_seconds: float = 0,
        source_lost: bool = False, now: Callable[[], dt.datetime] | None = None,
        settle_seconds: float | None = None) -> int:
    clock = now or (lambda: dt.datetime.now(dt.timezone.utc))
    way = direction(s, command)
    table = fences.registry_table(s)
    source_default = fences.fenced_by_default(s, way.source)
    target_default = fences.fenced_by_default(s, way.target)
    out(f"{command} {s.environment}: payments from {way.source} to {way.target}")

    # 1. The target's request path works (its canary passes even while it is fenced).
    names = [region_name(s, f"{key}-alarm", way.target) for key in READY_ALARMS]
    states = regions.alarm_states(way.target, names)
    red = [f"{n} {states.get(n, 'missing')}" for n in names if states.get(n) != "OK"]
    if red:
        raise FailoverRefused(f"1 target ready: {', '.join(red)} in {way.target}; nothing changed")
    out(f"GO    1 target ready: {', '.join(names)} OK in {way.target}")

    # 2. Fence the source, in the target's replica and (when it answers) the source's own.
    reason = f"{command} to {way.target}"
    fences.fence(_ddb(regions, way.target), table, way.source, reason, clock(), source_default)
    try:
        fences.fence(_ddb(regions, way.source), table, way.source, reason, clock(), source_default)
        seen = fences.read(_ddb(regions, way.source), table, way.source, source_default)
        confirmed, detail = seen.fenced, f"its own replica says {seen.describe()}"
    except Exception as err:  # the source region does not answer
        code = getattr(err, "response", {}).get("Error", {}).get("Code") or type(err).__name__
        confirmed, detail = False, f"its own replica cannot be read ({code})"
    if not confirmed and not source_lost:
        raise FailoverRefused(f"2 source fenced: {way.source} {detail}; the fence is written in {way.target}'s "
                              f"replica; if {way.source} is lost, run again with SOURCE_LOST=1")
    out(f"GO    2 source fenced: {way.source} {detail}" + ("" if confirmed else " (declared lost)"))
    settle = (fences.FUNCTION_CACHE_SECONDS + PROCESS_TIMEOUT_SECONDS) if settle_seconds is None else settle_seconds
    if confirmed and settle:
        out(f"      waiting {settle:g} s: the functions' fence cache and the longest /process in {way.source}")
        regions.sleep(settle)

    # 3. Everything the source stored is in the target (or the operator accepts what is not).
    threshold_ms = s.dr_rpo_seconds * 1000
    try:
        lag = regions.replication_lag_ms(way.source, way.target, clock())
    except Exception as err:
        code = getattr(err, "response", {}).get("Error", {}).get("Code") or type(err).__name__
        if not source_lost:
            raise FailoverRefused(f"3 replication lag: cannot be read in {way.source} ({code}); the source stays "
                                  "fenced; with SOURCE_LOST=1 the data at risk is its last lag") from None
        out(f"GO    3 replication lag: unknown ({code}); accepted with the source declared lost")
    else:
        worst_table, worst = max(lag.items(), key=lambda item: item[1])
        text = f"slowest {worst_table} {worst:.0f} ms over the last {int(LAG_WINDOW.total_seconds() // 60)} min"
        if worst > threshold_ms and worst > accept_lag_seconds * 1000:
            raise FailoverRefused(f"3 replication lag: {text}, above the RPO ({threshold_ms} ms); the source stays "
                                  f"fenced; wait, or accept it with ACCEPT_LAG_SECONDS={int(worst // 1000) + 1}")
        out(f"GO    3 replication lag: {text}" + (" (accepted)" if worst > threshold_ms else ""))

    # 4. The database follows.
    try:
        promoted = regions.promote_database(way.target, way.source, source_lost)
    except Exception as err:
        raise FailoverRefused(f"4 promote database: {err}; {way.source} is fenced and {way.target} not opened: "
                              "no region takes payments until the database is resolved (the page's runbook)") from None
    out(f"GO    4 promote database: {promoted}")

    # 5. Open the target.
    opened, changed = fences.unfence(_ddb(regions, way.target), table, way.target, clock(), target_default, reason)
    out(f"GO    5 {way.target} open: " + ("payments stored there within "
                                            f"{fences.FUNCTION_CACHE_SECONDS} s" if changed else "it already was"))

    # 6. A real payment through the target's public API.
    summary = regions.verify(way.target)
    if not summary.get("serving"):
        out(f"FAIL  6 verify: the synthetic merchant's payment in {way.target} was not stored: "
            f"{summary.get('failed_step') or ('fenced' if summary.get('fenced') else '?')} "
            f"{summary.get('detail', '')}".rstrip())
        return 1
    out(f"GO    6 verify: the synthetic merchant paid in {way.target} ({summary.get('duration_ms')} ms); Route 53 "
        f"answers from {way.target} once its health check turns healthy ({s.canary_failed_runs} canary runs at most)")
    return 0


def main(argv: Sequence[str] | None = None, out: Callable[[str], None] = print) -> int:
    parser = argparse.ArgumentParser(prog="python -m scripts.failover", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("command", choices=("failover", "failback"))
    parser.add_argument("--environment", help="environment (default ENVIRONMENT_SUFFIX, cdktf.json, dev)")
    parser.add_argument("--accept-lag-seconds", type=float, default=0,
                        help="replication lag the operator accepts as data at risk")
    parser.add_argument("--source-lost", action="store_true",
                        help="the source region does not answer: go on without its fence confirmed or its lag")
    parser.add_argument("--endpoint-url", help="AWS endpoint (default PAYMENTS_AWS_ENDPOINT; empty: real AWS)")
    args = parser.parse_args(argv)
    settings_module = import_plain("settings")
    try:
        env_vars = {**os.environ, "ENVIRONMENT_SUFFIX": args.environment} if args.environment else None
        s = settings_module.build_settings(settings_module.load_cdktf_context(), env_vars)
        import boto3  # noqa: PLC0415  (only when talking to AWS)

        sessions: dict[str, Any] = {}

        def client(service: str, region: str) -> Any:
            session = sessions.setdefault(region, boto3.session.Session(region_name=region))
            return session.client(service, endpoint_url=args.endpoint_url or s.aws_endpoint or None)
        return run(s, args.command, Regions(s, client), out, accept_lag_seconds=args.accept_lag_seconds,
                   source_lost=args.source_lost)
    except FailoverRefused as err:
        out(f"NO-GO {err}")
    except settings_module.SettingsError as err:
        out(f"error: {err}")
    return 1


if __name__ == "__main__":
    sys.exit(main())
