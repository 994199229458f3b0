"""The disaster-recovery rehearsal (issue 21): the standby in the DR region of the local endpoint, a
merchant onboarded into both regions, ``make failover`` and ``make failback`` through them.

``python -m scripts.rehearsal.dr [--workdir DIR]`` (``make rehearse-dr``), staging with
``dr_region = us-west-2``, a custom domain and its zone:

1. a ``moto_server`` of its own (every region on one endpoint);
2. the app synthesized in rehearsal mode with those settings (local state);
3. the primary region laid out as its stack leaves it, and what replication makes in us-west-2
   (scripts/rehearsal/dr_layout.py: the main rehearsal applies the primary stack; the endpoint
   replicates nothing);
4. ``terraform apply`` of ``payments-staging-us-west-2``, then a plan that must change nothing;
5. ``make canary-onboard``: the synthetic merchant in both pools, the standby's client keyed by
   the merchant id, the secret replicated into us-west-2;
6. ``make failover``: refused while the standby's synthetic-merchant alarm is in ALARM (nothing
   changed), then done: the primary fenced, the standby opened, its synthetic merchant's payment
   (its handler in process, through the standby's deployed function environments: the endpoint
   runs no function) stored in us-west-2 under the merchant id;
7. ``make failback``: refused while us-west-2's replication lag is above the RPO (both regions
   fenced, nothing paid twice), then accepted with that lag: the standby fenced again, the primary
   open, its payment stored;
8. ``terraform destroy`` of the standby (not with ``--keep``: the test suite's run, whose endpoint is
   thrown away; the main rehearsal destroys every one of these resource types).

It prints a report (seconds per phase, what each checked) and exits non-zero on any failure.
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime as dt
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Callable

PROJECT_ROOT = Path(__file__).resolve().parents[2]
if str(PROJECT_ROOT) not in sys.path:
    sys.path.insert(0, str(PROJECT_ROOT))

from scripts import failover, fence  # noqa: E402
from scripts.rehearsal.accounts import ACCOUNT_ID  # noqa: E402
from scripts.rehearsal.canary import RehearsalGateway, run_canary, serving  # noqa: E402
from scripts.rehearsal.common import RehearsalError, exclusion_for, log  # noqa: E402
from scripts.rehearsal.dr_layout import lay_out_primary, primary_function_env, replicate  # noqa: E402
from scripts.rehearsal.endpoint import REHEARSAL_KEY, MotoServer, endpoint_env  # noqa: E402
from scripts.rehearsal.runners import PARALLELISM, Terraform, plugin_cache, state_addresses, synthesize  # noqa: E402
from scripts.rehearsal.smoke import SmokeContext, check  # noqa: E402

PRIMARY, DR = "us-east-1", "us-west-2"
ENVIRONMENT = os.environ.get("DR_REHEARSAL_ENVIRONMENT", "staging")
ZONE = "payments-dr.example.com"
DOMAIN = f"api.{ZONE}"
# Certificates are only named (the endpoint checks no certificate); the settings rules check their regions.
SETTINGS = {
    "PAYMENTS_DR_REGION": DR, "PAYMENTS_BACKEND": "local", "PAYMENTS_ACCOUNT_ID": ACCOUNT_ID,
    "PAYMENTS_DR_STATE_BUCKET": "unused",  # the local backend: no bucket (synthesize names one for the rules)
    "PAYMENTS_API_DOMAIN_NAME": DOMAIN,
    "PAYMENTS_API_CERTIFICATE_ARN": f"arn:aws:acm:{PRIMARY}:{ACCOUNT_ID}:certificate/0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d",
    "PAYMENTS_DR_API_CERTIFICATE_ARN": f"arn:aws:acm:{DR}:{ACCOUNT_ID}:certificate/1b2c3d4e-5f6a-4b7c-8d9e-0f1a2b3c4d5e",
}
STANDBY = f"payments-{ENVIRONMENT}-{DR}"
NO_CHANGES = "No changes. Your infrastructure matches the configuration."


@dataclasses.dataclass
class RegionContext(SmokeContext):
    """A region's view for the in-process handlers: the standby's deployed functions (their names
    carry the region), or the primary's synthesized environments resolved to what was laid out."""

    function_suffix: str = ""
    laid_out_env: Callable[[str], dict[str, str]] | None = None

    def function_env(self, short: str) -> dict[str, str]:
        if self.laid_out_env:
            env = self.laid_out_env(short)
        else:
            config = self.boto("lambda").get_function_configuration(
                FunctionName=f"payment-{short}-{self.environment}{self.function_suffix}")
            env = dict((config.get("Environment") or {}).get("Variables") or {})
        # The canary connects to its region's API endpoint; the local gateway stands in for it.
        return {k: v for k, v in env.items() if k != "API_CONNECT_TO"}


class RehearsalRegions(failover.Regions):
    """The failover commands' AWS, on the endpoint; ``verify`` runs the target's synthetic merchant's
    handler in process (the endpoint invokes no function: that needs a container runtime)."""

    def __init__(self, settings: Any, client: Callable[[str, str], Any], contexts: dict[str, RegionContext]):
        super().__init__(settings, client, sleep=lambda _: None)
        self.contexts = contexts

    def verify(self, target: str) -> dict[str, Any]:
        ctx = self.contexts[target]
        with serving(RehearsalGateway(ctx)) as gateway:
            return run_canary(ctx, gateway)


def rehearse_dr(workdir: Path, lines: list[str], keep: bool = False) -> None:
    if workdir.exists():
        shutil.rmtree(workdir)
    logs = workdir / "logs"
    server = MotoServer(logs / "moto.log").start()
    tf: Terraform | None = None
    applied = False
    try:
        import boto3

        def boto(service: str, region: str) -> Any:
            return boto3.session.Session(aws_access_key_id=REHEARSAL_KEY, aws_secret_access_key=REHEARSAL_KEY,
                                         region_name=region).client(service, endpoint_url=server.url)
        with phase(lines, "synth") as note:
            zone = boto("route53", PRIMARY).create_hosted_zone(Name=ZONE, CallerReference="payments-dr")["HostedZone"]
            settings_env = {**SETTINGS, "PAYMENTS_DR_HOSTED_ZONE_ID": zone["Id"].split("/")[-1]}
            stacks = synthesize(workdir / "synth", ENVIRONMENT, server.url, "unused", settings_env)
            primary_json = json.loads((stacks / f"payments-{ENVIRONMENT}" / "cdk.tf.json").read_text())
            standby_json = json.loads((stacks / STANDBY / "cdk.tf.json").read_text())
            note.append(f"{STANDBY}: {sum(len(v) for v in standby_json['resource'].values())} resources")
        with phase(lines, "lay-out") as note:
            laid = lay_out_primary(boto, primary_json, ENVIRONMENT, PRIMARY)
            database = (", the customer database's global cluster made from its primary"
                        if primary_json["resource"].get("aws_rds_global_cluster") else "")
            note.append(f"{PRIMARY}: {len(laid.keys)} keys, tables, pool, API stage, {len(laid.alarms)} alarms{database}")
            note.append(f"{DR}, as replication makes it: " + ", ".join(replicate(boto, primary_json, laid, PRIMARY, DR)))
        env = {**endpoint_env(server.url, DR), "TF_PLUGIN_CACHE_DIR": str(plugin_cache())}
        tf = Terraform(stacks / STANDBY, env, logs / "standby")
        with phase(lines, "apply") as note:
            tf("init", "init", "-input=false")
            tf("apply", "apply", "-auto-approve", "-input=false", PARALLELISM)
            applied = True
            plan = tf("plan", "plan", "-input=false", "-detailed-exitcode", PARALLELISM)
            check(plan.returncode == 0 and NO_CHANGES in plan.stdout, f"plan after apply: {plan.stdout[-3000:]}")
            note.append(f"{len(state_addresses(tf))} in state; plan after apply: no changes")
        outputs = {k: v["value"] for k, v in json.loads(tf("output", "output", "-json").stdout).items()}
        with phase(lines, "onboard") as note:
            note.append(onboard_canary(server.url, settings_env, boto, outputs))
            note.append(replicate_registry(boto, outputs["merchant-registry"]))
        settings = settings_for(settings_env)
        contexts = {
            DR: RegionContext(ENVIRONMENT, DR, server.url, outputs, standby_json, function_suffix=f"-{DR}"),
            PRIMARY: RegionContext(ENVIRONMENT, PRIMARY, server.url, laid.outputs, primary_json,
                                   laid_out_env=lambda short: primary_function_env(primary_json, short, ENVIRONMENT, laid)),
        }
        regions = RehearsalRegions(settings, boto, contexts)
        with phase(lines, "failover") as note:
            note.extend(fail_over(settings, regions, boto))
        with phase(lines, "failback") as note:
            note.extend(fail_back(settings, regions, boto))
        if keep:
            applied = False  # the endpoint goes with everything on it
            return
        with phase(lines, "destroy") as note:
            kept = destroy(tf, "destroy")
            applied = False
            note.append(f"{STANDBY} destroyed ({kept} kept: moto cannot delete them)")
    finally:
        if applied and tf is not None:
            destroy(tf, "destroy-after-failure")
        server.stop()


def destroy(tf: Terraform, name: str) -> int:
    """``terraform destroy`` of the standby, after forgetting what the endpoint cannot delete."""
    forget = sorted(a for a in state_addresses(tf) if exclusion_for(a, "keep_on_destroy"))
    if forget:
        tf(f"{name}-state-rm", "state", "rm", *forget)
    tf(name, "destroy", "-auto-approve", "-input=false", PARALLELISM)
    return len(forget)


class phase:
    """A timed phase of the report; a failure is reported and re-raised."""

    def __init__(self, lines: list[str], name: str):
        self.lines, self.name, self.notes = lines, name, []

    def __enter__(self) -> list[str]:
        self.started = time.monotonic()
        log(f"[dr-rehearsal] {self.name} ...")
        return self.notes

    def __exit__(self, kind: Any, error: Any, _: Any) -> None:
        took = time.monotonic() - self.started
        status = "FAILED" if kind else "ok"
        self.lines.append(f"  {self.name:<9} {took:6.1f}s {status}" + (f": {'; '.join(self.notes)}" if self.notes else ""))
        if kind:
            self.lines.append(f"    {error}")


def settings_for(settings_env: dict[str, str]) -> Any:
    from scripts.plain_modules import import_plain
    module = import_plain("settings")
    return module.build_settings(module.load_cdktf_context(), {**settings_env, "ENVIRONMENT_SUFFIX": ENVIRONMENT})


def onboard_canary(url: str, settings_env: dict[str, str], boto: Callable[[str, str], Any],
                   outputs: dict[str, Any]) -> str:
    """``make canary-onboard`` against both regions, and what it must have left."""
    env = {**endpoint_env(url, PRIMARY), **settings_env, "ENVIRONMENT_SUFFIX": ENVIRONMENT}
    proc = subprocess.run([sys.executable, "-m", "scripts.merchants", "canary", "--json", "--endpoint-url", url],
                          cwd=PROJECT_ROOT, env=env, capture_output=True, text=True, timeout=120)
    check(proc.returncode == 0, f"make canary-onboard: {proc.stderr[-2000:]}")
    onboarded = json.loads(proc.stdout)
    primary_id = onboarded["client_id"]
    secret = json.loads(boto("secretsmanager", DR).get_secret_value(SecretId=onboarded["secret_name"])["SecretString"])
    dr_id = secret["regions"][DR]["client_id"]
    item = boto("dynamodb", DR).get_item(TableName=outputs["merchant-registry"], Key={"client_id": {"S": dr_id}})["Item"]
    check(item.get("merchant_key") == {"S": primary_id} and item.get("synthetic") == {"S": "true"},
          f"the standby's registry item: {item}")
    clients = boto("cognito-idp", DR).list_user_pool_clients(UserPoolId=outputs["user-pool-id"], MaxResults=60)
    check(dr_id in {c["ClientId"] for c in clients["UserPoolClients"]}, "no app client in the standby's pool")
    return (f"synthetic merchant {primary_id} in {PRIMARY}, client {dr_id} in {DR}'s pool keyed by it; "
            f"its secret replicated to {DR} with both pairs")


def replicate_registry(boto: Callable[[str, str], Any], table: str) -> str:
    """What the registry's global table does between the regions: each region's items in the other
    (a standby client's ``merchant_key`` is checked against the primary client's item there)."""
    items = {region: _ddb(boto, region).scan(TableName=table, ConsistentRead=True)["Items"] for region in (PRIMARY, DR)}
    for source, target in ((PRIMARY, DR), (DR, PRIMARY)):
        for item in items[source]:
            _ddb(boto, target).put_item(TableName=table, Item=item)
    return f"registry items replicated as the global table does ({len(items[PRIMARY])} + {len(items[DR])})"


def _ddb(boto: Callable[[str, str], Any], region: str) -> Any:
    return boto("dynamodb", region)


def _fenced(settings: Any, boto: Callable[[str, str], Any], region: str) -> bool:
    return fence.read(_ddb(boto, region), fence.registry_table(settings), region,
                      fence.fenced_by_default(settings, region)).fenced


def _run(settings: Any, command: str, regions: RehearsalRegions, **kwargs: Any) -> tuple[int | None, list[str]]:
    out: list[str] = []
    try:
        code = failover.run(settings, command, regions, out.append, settle_seconds=0, **kwargs)
    except failover.FailoverRefused as err:
        out.append(f"NO-GO {err}")
        code = None
    for line in out:
        log(f"[dr-rehearsal]   {line}")
    return code, out


def _stored(boto: Callable[[str, str], Any], region: str, table: str) -> int:
    return len(_ddb(boto, region).scan(TableName=table, ConsistentRead=True)["Items"])


def fail_over(settings: Any, regions: RehearsalRegions, boto: Callable[[str, str], Any]) -> list[str]:
    notes = []
    alarm = f"payment-canary-alarm-{ENVIRONMENT}-{DR}"
    boto("cloudwatch", DR).set_alarm_state(AlarmName=alarm, StateValue="ALARM", StateReason="rehearsal")
    code, out = _run(settings, "failover", regions)
    check(code is None and out[-1].startswith(f"NO-GO 1 target ready: {alarm} ALARM"), f"refusal: {out}")
    check((_fenced(settings, boto, PRIMARY), _fenced(settings, boto, DR)) == (False, True), "a refusal changed the fences")
    notes.append("refused while the standby's canary alarm was ALARM, nothing changed")
    boto("cloudwatch", DR).set_alarm_state(AlarmName=alarm, StateValue="OK", StateReason="rehearsal")
    table = settings.name("transactions")
    before = _stored(boto, DR, table)
    code, out = _run(settings, "failover", regions)
    check(code == 0, f"failover: {out}")
    check((_fenced(settings, boto, PRIMARY), _fenced(settings, boto, DR)) == (True, False), "fences after failover")
    check(_stored(boto, DR, table) == before + 1, f"the standby's verifying payment in {table} ({DR})")
    # The standby's headless secondary (applied above) is detached from the laid-out global cluster.
    secondary = f"payment-customer-db-{ENVIRONMENT}-{DR}"
    [promoted] = [line for line in out if line.startswith("GO    4 promote database: ")]
    check(promoted.startswith(f"GO    4 promote database: detached {secondary} from "), f"step 4: {promoted}")
    notes.append(f"done: {PRIMARY} fenced, the database's headless secondary {secondary} detached, {DR} open, "
                 f"the synthetic merchant's payment stored in {DR} ({out[-1].split('(')[1].split(')')[0]})")
    return notes


def fail_back(settings: Any, regions: RehearsalRegions, boto: Callable[[str, str], Any]) -> list[str]:
    notes = []
    # A minute ago: inside a whole period of the command's 5-minute window (the endpoint leaves a
    # datapoint of the current, unfinished minute out of GetMetricStatistics).
    recent = dt.datetime.now(dt.timezone.utc) - dt.timedelta(minutes=1)
    boto("cloudwatch", DR).put_metric_data(Namespace="AWS/DynamoDB", MetricData=[{
        "MetricName": "ReplicationLatency", "Value": 4200, "Unit": "Milliseconds", "Timestamp": recent,
        "Dimensions": [{"Name": "TableName", "Value": settings.name("idempotency")},
                       {"Name": "ReceivingRegion", "Value": PRIMARY}]}])
    code, out = _run(settings, "failback", regions)
    check(code is None and out[-1].startswith("NO-GO 3 replication lag: slowest"), f"refusal: {out}")
    check((_fenced(settings, boto, PRIMARY), _fenced(settings, boto, DR)) == (True, True), "fences after the refusal")
    notes.append("refused at 4.2 s of lag (RPO 1 s): both regions fenced, no payment can be made twice")
    table = settings.name("transactions")
    before = _stored(boto, PRIMARY, table)
    code, out = _run(settings, "failback", regions, accept_lag_seconds=5)
    check(code == 0, f"failback: {out}")
    check((_fenced(settings, boto, PRIMARY), _fenced(settings, boto, DR)) == (False, True), "fences after failback")
    check(_stored(boto, PRIMARY, table) == before + 1, f"the primary's verifying payment in {table}")
    notes.append(f"accepted with ACCEPT_LAG_SECONDS=5: {DR} fenced, {PRIMARY} open, its payment stored")
    return notes


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m scripts.rehearsal.dr", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--workdir", type=Path, default=PROJECT_ROOT / "build" / "rehearsal-dr")
    parser.add_argument("--keep", action="store_true", help="do not destroy the standby (the endpoint is stopped anyway)")
    args = parser.parse_args(argv)
    lines: list[str] = []
    started = time.monotonic()
    try:
        rehearse_dr(args.workdir, lines, keep=args.keep)
        ok = True
    except (RehearsalError, Exception) as err:  # noqa: BLE001  (the report says what failed)
        lines.append(f"  error: {type(err).__name__}: {err}")
        ok = False
    print("dr rehearsal report:\n" + "\n".join(lines) +
          f"\n  total {time.monotonic() - started:.1f}s\ndr rehearsal: {'OK' if ok else 'FAILED'}")
    return 0 if ok else 1


if __name__ == "__main__":
    os.environ.setdefault("PYTHONDONTWRITEBYTECODE", "1")
    sys.exit(main())
