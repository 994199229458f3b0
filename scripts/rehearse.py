"""Offline deploy rehearsal: deploy, re-diff, smoke-test and destroy a stack against a local AWS endpoint.

``python -m scripts.rehearse [--environment dev]`` (``make rehearse``):

1. starts its own ``moto_server`` on a free loopback port (stopped again whatever happens);
2. synthesizes the app with ``PAYMENTS_AWS_ENDPOINT`` pointing at it and a rehearsal state bucket;
3. applies the ``payments-state`` bootstrap stack (local state, through a ``backend_override.tf.json``)
   in the background: the stack's S3 backend needs only the bucket, which exists within seconds,
   while the provider waits a minute on the bucket's lifecycle configuration; the rehearsal joins it
   before the no-change diff;
4. ``cdktf diff payments-<env>`` (the plan the plan-review gate reads: all creates), then
   ``cdktf deploy payments-<env> --auto-approve`` (S3 backend with lock file on the endpoint), whose
   state must hold exactly the reviewed creates; then ``cdktf diff`` must report no changes;
5. checks the applied API's authorizer and scopes and onboards a merchant with
   ``scripts/merchants.py`` (scripts/rehearse_identity.py); neither the command's output nor the
   Terraform state may carry the client secret or the API key value;
6. smoke-tests the payment flow against the deployed table and bucket (``smoke_test``), each call
   with the authorizer context API Gateway builds from that merchant's access token;
7. offboards the merchant, destroys the environment (Terraform: the gate reads the saved destroy plan
   that is then applied) and the state stack;

and prints a short report: resource count, seconds per phase, the exclusion list of
``modules/rehearsal.py``. Exits non-zero on any failure. Nothing is cached between runs: the app is
synthesized afresh and the work directory (``build/rehearsal/<env>``) is recreated. Terraform comes
from ``scripts/terraform.py`` (PAYMENTS_PROVIDER_MIRROR for an offline provider mirror); the cdktf
CLI from ``node_modules/.bin`` on the project's Node 22.
"""

from __future__ import annotations

import argparse
import atexit
import base64
import contextlib
import importlib.util
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator, Mapping

PROJECT_ROOT = Path(__file__).resolve().parent.parent
if str(PROJECT_ROOT) not in sys.path:
    sys.path.insert(0, str(PROJECT_ROOT))

from scripts import plan_summary, terraform  # noqa: E402
from scripts.rehearse_identity import (  # noqa: E402
    Merchant, check_api_authorization, offboard_merchant, onboard_merchant,
)


def _rehearsal_module() -> Any:
    """modules/rehearsal.py without the ``modules`` package __init__ (which loads the jsii assembly):
    its EXCLUSIONS are plain Python."""
    name = "modules.rehearsal"
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location("payments_rehearsal_exclusions",
                                                  PROJECT_ROOT / "modules" / "rehearsal.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # NamedTuple/dataclass machinery looks the module up
    spec.loader.exec_module(module)
    return module


_rehearsal = _rehearsal_module()
EXCLUSIONS = _rehearsal.EXCLUSIONS
Exclusion = _rehearsal.Exclusion

WORK_ROOT = PROJECT_ROOT / "build" / "rehearsal"
LAMBDAS = PROJECT_ROOT / "lambdas"
STATE_STACK = "payments-state"
REHEARSAL_KEY = "test"  # moto accepts any key; not credentials
PARALLELISM = "-parallelism=20"
CDKTF = PROJECT_ROOT / "node_modules" / ".bin" / "cdktf"
BUCKET_TIMEOUT = 120.0  # seconds for the state stack to create the state bucket
NO_COLOR = ("init", "apply", "plan", "destroy", "output")
READY_TIMEOUT = 60.0
# Settings of the caller's shell that must not leak into the rehearsal (it synthesizes its own).
LEAKING_PREFIXES = ("PAYMENTS_", "ENVIRONMENT_SUFFIX", "AWS_", "TF_")
KEEP = ("PAYMENTS_PROVIDER_MIRROR",)
# The function handlers the smoke test runs in-process: deployed name -> handler file.
FUNCTIONS = {
    "validate": "validate/validate_handler.py",
    "fraud-check": "fraud_check/fraud_check_handler.py",
    "process": "process/process_handler.py",
    "audit-writer": "audit_writer/audit_writer_handler.py",
}
TEST_CARD = "4111111111111111"  # Luhn-valid test PAN


class RehearsalError(RuntimeError):
    """A phase failed; the message is what the report shows."""


def log(message: str) -> None:
    print(message, flush=True)


# --------------------------------------------------------------------------- local AWS endpoint


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class MotoServer:
    """``python -m moto.server`` on a free loopback port; only this process is ever stopped."""

    def __init__(self, log_path: Path, port: int | None = None):
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = log_path
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = READY_TIMEOUT) -> "MotoServer":
        env = clean_env()
        env.update(MOTO_IAM_LOAD_MANAGED_POLICIES="true", PYTHONDONTWRITEBYTECODE="1")
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.log_path, "wb") as out:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(self.port)],
                stdout=out, stderr=subprocess.STDOUT, env=env, start_new_session=True)
        atexit.register(self.stop)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RehearsalError(f"moto_server exited with {self.proc.returncode}: "
                                     f"{tail(self.log_path)}")
            try:
                with urllib.request.urlopen(f"{self.url}/moto-api/data.json", timeout=2) as resp:
                    if resp.status == 200:
                        return self
            except OSError:
                time.sleep(0.2)
        self.stop()
        raise RehearsalError(f"moto_server not ready on {self.url} after {timeout:.0f}s")

    def stop(self) -> None:
        proc, self.proc = self.proc, None
        if proc is None or proc.poll() is not None:
            return
        proc.send_signal(signal.SIGTERM)  # our own child only (its pid, not a name)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)

    def __enter__(self) -> "MotoServer":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def clean_env(base: Mapping[str, str] | None = None) -> dict[str, str]:
    """The caller's environment without project settings, AWS credentials/profiles or TF_* knobs."""
    base = os.environ if base is None else base
    return {k: v for k, v in base.items() if k in KEEP or not k.startswith(LEAKING_PREFIXES)}


def endpoint_env(endpoint: str, region: str, base: Mapping[str, str] | None = None) -> dict[str, str]:
    """Environment for terraform and boto3 talking to the local endpoint only."""
    env = clean_env(base)
    env.update(
        AWS_ACCESS_KEY_ID=REHEARSAL_KEY, AWS_SECRET_ACCESS_KEY=REHEARSAL_KEY,
        AWS_REGION=region, AWS_DEFAULT_REGION=region, AWS_EC2_METADATA_DISABLED="true",
        AWS_ENDPOINT_URL=endpoint, PYTHONDONTWRITEBYTECODE="1",
    )
    return env


def tail(path: Path, lines: int = 40) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return ""


# --------------------------------------------------------------------------- synth and terraform


def synthesize(outdir: Path, environment: str, endpoint: str, state_bucket: str,
               settings: Mapping[str, str] | None = None) -> Path:
    """Fresh synth of the app in rehearsal mode; returns ``outdir/<env>/stacks``."""
    env = clean_env()
    env.update(PAYMENTS_AWS_ENDPOINT=endpoint, PAYMENTS_STATE_BUCKET=state_bucket,
               ENVIRONMENT_SUFFIX=environment, PYTHONDONTWRITEBYTECODE="1", **(settings or {}))
    if "JSII_NODE" not in env and (PROJECT_ROOT / "node_modules/.bin/node").exists():
        env["JSII_NODE"] = str(PROJECT_ROOT / "node_modules/.bin/node")
    proc = subprocess.run(
        [sys.executable, "-m", "scripts.rehearse", "--synth-into", str(outdir / environment)],
        cwd=PROJECT_ROOT, env=env, text=True, capture_output=True)
    if proc.returncode != 0:
        raise RehearsalError(f"synth failed:\n{proc.stdout}{proc.stderr}")
    return outdir / environment / "stacks"


def synth_app(outdir: Path) -> None:
    """In the synth subprocess: the app as main.py builds it, rehearsal overrides on every stack
    (PaymentStack adds them itself; the payments-state bootstrap stack does not), then synth."""
    import modules  # noqa: F401  (fast provider import)
    from cdktf import App, TerraformStack

    from main import build_app, synth
    from modules.rehearsal import apply_rehearsal_overrides

    if not os.environ.get("PAYMENTS_AWS_ENDPOINT"):
        raise SystemExit("--synth-into is for rehearsal mode only (PAYMENTS_AWS_ENDPOINT unset)")
    outdir.mkdir(parents=True, exist_ok=True)
    app = build_app(App(outdir=str(outdir)))
    for stack in app.node.children:
        if isinstance(stack, TerraformStack):
            apply_rehearsal_overrides(stack)
    synth(app)


def count_resources(stack_json: Mapping[str, Any]) -> int:
    return sum(len(v) for v in stack_json.get("resource", {}).values())


@dataclass
class Terraform:
    """``terraform`` in one synthesized stack directory, output logged to ``logs/``."""

    workdir: Path
    env: dict[str, str]
    logs: Path

    def __call__(self, name: str, *args: str, ok: tuple[int, ...] = (0,)) -> subprocess.CompletedProcess[str]:
        if args[0] in NO_COLOR:
            args = (args[0], "-no-color", *args[1:])
        proc = terraform.run(self.workdir, args, env=self.env, check=False)
        self.logs.mkdir(parents=True, exist_ok=True)
        (self.logs / f"{name}.log").write_text(proc.stdout or "")
        if proc.returncode not in ok:
            raise RehearsalError(f"terraform {' '.join(args)} exited {proc.returncode} "
                                 f"(log: {self.logs / (name + '.log')}):\n{errors_of(proc.stdout)}")
        return proc


@dataclass
class Cdktf:
    """``cdktf <command> <stack>`` on the already synthesized app in ``outdir`` (``--skip-synth``),
    as a user runs it from the project root; output logged to ``logs/``."""

    outdir: Path
    env: dict[str, str]
    logs: Path

    def __call__(self, name: str, command: str, stack: str, *args: str) -> subprocess.CompletedProcess[str]:
        cmd = [str(CDKTF), command, stack, "--skip-synth", "--output", str(self.outdir), "--no-color",
               "--terraform-parallelism", PARALLELISM.split("=")[1], *args]
        proc = subprocess.run(cmd, cwd=PROJECT_ROOT, env=self.env, text=True,
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        self.logs.mkdir(parents=True, exist_ok=True)
        (self.logs / f"{name}.log").write_text(proc.stdout or "")
        if proc.returncode != 0:
            raise RehearsalError(f"cdktf {command} {stack} exited {proc.returncode} "
                                 f"(log: {self.logs / (name + '.log')}):\n{errors_of(proc.stdout)}")
        return proc


def cdktf_env(env: Mapping[str, str]) -> dict[str, str]:
    """The cdktf CLI's environment: Terraform's (the project's CLI config with the mirror, the
    project's plugin cache instead of the CLI's own) and the project's Node 22 first on PATH."""
    result = terraform.terraform_env(env)
    result.update(PATH=f"{CDKTF.parent}{os.pathsep}{result.get('PATH', '')}",
                  CDKTF_DISABLE_PLUGIN_CACHE_ENV="true", CI="1", FORCE_COLOR="0")
    return result


class Background(threading.Thread):
    """Runs ``work`` beside the main line; ``join_result`` re-raises what it raised."""

    def __init__(self, work: Callable[[], None]):
        super().__init__(daemon=True)
        self.work, self.error, self.seconds = work, None, 0.0
        self.started_at = time.perf_counter()

    def run(self) -> None:
        try:
            self.work()
        except BaseException as err:  # noqa: BLE001 (handed to the main thread)
            self.error = err
        finally:
            self.seconds = time.perf_counter() - self.started_at

    def join_result(self) -> float:
        self.join()
        if self.error:
            raise self.error
        return self.seconds


def wait_for_bucket(s3: Any, bucket: str, background: Background, timeout: float = BUCKET_TIMEOUT) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            s3.head_bucket(Bucket=bucket)
            return
        except Exception:  # botocore ClientError 404 until the state stack creates it
            if not background.is_alive():
                background.join_result()
                raise RehearsalError(f"the state stack finished without creating {bucket}")
            time.sleep(0.5)
    raise RehearsalError(f"state bucket {bucket} not created after {timeout:.0f}s")


def no_changes(plan_json: Mapping[str, Any]) -> list[str]:
    """What a plan would change (resources and outputs); empty when the stack matches the config."""
    changed = [f"{c.action} {c.address}" for c in plan_summary.parse_changes(plan_json)]
    changed += [f"output {name}" for name, oc in (plan_json.get("output_changes") or {}).items()
                if (oc.get("actions") or ["no-op"]) != ["no-op"]]
    return changed


def errors_of(output: str, limit: int = 60) -> str:
    """The error blocks of Terraform output (else its tail), for the report."""
    lines = output.splitlines()
    picked = [line for i, line in enumerate(lines)
              if line.startswith("Error") or any(l.startswith("Error") for l in lines[max(0, i - 8):i])]
    return "\n".join((picked or lines)[-limit:])


def empty_bucket(s3: Any, bucket: str) -> None:
    """Delete every version and delete marker (the state bucket is versioned, force_destroy off)."""
    for page in s3.get_paginator("list_object_versions").paginate(Bucket=bucket):
        objects = [{"Key": v["Key"], "VersionId": v["VersionId"]}
                   for v in page.get("Versions", []) + page.get("DeleteMarkers", [])]
        if objects:
            s3.delete_objects(Bucket=bucket, Delete={"Objects": objects, "Quiet": True})


# --------------------------------------------------------------------------- migration (issue 15)

# The rehearsal applies the stack with the migration on, so its VPN, DMS and Route 53 resources are
# rehearsed in the same run. Example values only: nothing here reaches a real network or secret.
MIGRATION_SETTINGS = {
    "PAYMENTS_MIGRATION_ENABLED": "true",
    "PAYMENTS_ONPREM_PUBLIC_IP": "18.194.10.20",
    "PAYMENTS_ONPREM_CIDRS": "192.168.0.0/16",
    "PAYMENTS_ONPREM_DB_CIDR": "192.168.10.0/24",
    "PAYMENTS_ONPREM_DB_NAME": "payments",
    "PAYMENTS_ONPREM_DB_SECRET_ARN": "arn:aws:secretsmanager:us-east-1:123456789012:secret:payments/dms-source-AbCdEf",
    "PAYMENTS_ONPREM_DB_SSL_MODE": "require",
    "PAYMENTS_LEGACY_API_HOSTNAME": "legacy-api.dc.example.com",
    "PAYMENTS_CUTOVER_RECORD_NAME": "api.payments.example.com",
}
MIGRATION_ZONE = "payments.example.com."


def migration_settings(endpoint: str) -> dict[str, str]:
    """The migration's settings for the rehearsal synth; the hosted zone (which the stack does not
    own: it is the merchants' DNS) is created on the endpoint first, as it exists in an account."""
    import boto3
    route53 = boto3.session.Session(aws_access_key_id=REHEARSAL_KEY, aws_secret_access_key=REHEARSAL_KEY,
                                    region_name="us-east-1").client("route53", endpoint_url=endpoint)
    zone = route53.create_hosted_zone(Name=MIGRATION_ZONE, CallerReference="payments-rehearsal")["HostedZone"]
    return {**MIGRATION_SETTINGS, "PAYMENTS_CUTOVER_HOSTED_ZONE_ID": zone["Id"].split("/")[-1]}


def migration_smoke(ctx: SmokeContext, settings: Mapping[str, str]) -> None:
    """The migration as applied: DMS endpoints and subnet group, traffic all on legacy, the VPN.
    (The replication instance and task are not emulated: see EXCLUSIONS.)"""
    check(bool(ctx.outputs.get("migration-task-id")), "stack output migration-task-id missing")
    dms = ctx.boto("dms")
    endpoints = {e["EndpointIdentifier"]: e for e in dms.describe_endpoints()["Endpoints"]}
    for name, kind in ((f"payment-onprem-source-{ctx.environment}", "SOURCE"),
                       (f"payment-aurora-target-{ctx.environment}", "TARGET")):
        check(endpoints.get(name, {}).get("EndpointType", "").upper() == kind, f"DMS endpoint {name}: {endpoints.get(name)}")
    groups = dms.describe_replication_subnet_groups()["ReplicationSubnetGroups"]
    check([g["ReplicationSubnetGroupIdentifier"] for g in groups] == [f"payment-dms-{ctx.environment}"],
          f"DMS subnet groups: {groups}")
    name = settings["PAYMENTS_CUTOVER_RECORD_NAME"] + "."
    records = [r for r in ctx.boto("route53").list_resource_record_sets(
        HostedZoneId=settings["PAYMENTS_CUTOVER_HOSTED_ZONE_ID"])["ResourceRecordSets"] if r["Name"] == name]
    weights = {r.get("SetIdentifier"): r.get("Weight") for r in records}
    check(weights == {"legacy": 100, "aws": 0}, f"weighted records of {name}: {weights}")
    vpns = ctx.boto("ec2").describe_vpn_connections()["VpnConnections"]
    check(len([v for v in vpns if v.get("State") != "deleted"]) == 1, f"VPN connections: {vpns}")
    ctx.results.append(f"migration: DMS endpoints + subnet group, {name} legacy 100 / aws 0, VPN up")


# --------------------------------------------------------------------------- smoke test


@dataclass
class SmokeContext:
    """What the smoke test can see: the endpoint, the stack outputs and the synthesized JSON, and the
    merchant whose access token the calls carry."""

    environment: str
    region: str
    endpoint: str
    outputs: dict[str, Any]
    stack_json: dict[str, Any]
    results: list[str] = field(default_factory=list)
    merchant: Merchant | None = None

    def boto(self, service: str) -> Any:
        import boto3
        return boto3.session.Session(
            aws_access_key_id=REHEARSAL_KEY, aws_secret_access_key=REHEARSAL_KEY,
            region_name=self.region).client(service, endpoint_url=self.endpoint)

    def deployed_functions(self) -> list[str]:
        return [r.get("function_name", "") for r in
                self.stack_json.get("resource", {}).get("aws_lambda_function", {}).values()]

    def function_env(self, short: str) -> dict[str, str]:
        """Environment of function ``short`` (e.g. ``process``): the deployed function's own
        variables when the stack has it, else built from the stack outputs."""
        name = f"payment-{short}-{self.environment}"
        if name in self.deployed_functions():
            config = self.boto("lambda").get_function_configuration(FunctionName=name)
            return dict((config.get("Environment") or {}).get("Variables") or {})
        return {
            "ENVIRONMENT": self.environment,
            "TRANSACTION_TABLE": self.outputs["transaction-table"],
            "IDEMPOTENCY_TABLE": self.outputs["idempotency-table"],
            "AUDIT_BUCKET": self.outputs["audit-bucket"],
            "AUDIT_KMS_KEY_ID": self.outputs["kms-key-id"],
        }


@contextlib.contextmanager
def function_runtime(ctx: SmokeContext, variables: Mapping[str, str]) -> Iterator[None]:
    """os.environ as a deployed function sees it, with boto3 sent to the endpoint; restored after."""
    saved = dict(os.environ)
    os.environ.update(endpoint_env(ctx.endpoint, ctx.region, {}))
    os.environ.update(variables)
    for path in (LAMBDAS / "shared" / "python",):
        if str(path) not in sys.path:
            sys.path.insert(0, str(path))
    try:
        import payments_core.aws as core_aws
        core_aws.reset_clients()
        yield
    finally:
        os.environ.clear()
        os.environ.update(saved)
        with contextlib.suppress(ImportError):
            import payments_core.aws as core_aws
            core_aws.reset_clients()


def load_handler(short: str) -> Callable[[dict, Any], dict]:
    path = LAMBDAS / FUNCTIONS[short]
    spec = importlib.util.spec_from_file_location(f"rehearsal_{path.stem}", path)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.handler


class FakeContext:
    def __init__(self, name: str):
        self.function_name = name
        self.aws_request_id = str(uuid.uuid4())
        self.memory_limit_in_mb = 256

    @staticmethod
    def get_remaining_time_in_millis() -> int:
        return 30_000


def check(condition: bool, message: str) -> None:
    if not condition:
        raise RehearsalError(f"smoke: {message}")


def merchant_authorizer(ctx: SmokeContext, scope: str) -> dict[str, Any]:
    """``requestContext.authorizer`` as API Gateway's Cognito authorizer passes it for an access token
    of the onboarded merchant (client-credentials grant): the token's claims, every value a string."""
    check(ctx.merchant is not None, "no merchant onboarded")
    assert ctx.merchant is not None
    check(scope in ctx.merchant.scopes, f"merchant {ctx.merchant.name} was not granted {scope}")
    now = time.time()
    stamp = lambda t: time.strftime("%a %b %d %H:%M:%S UTC %Y", time.gmtime(t))  # noqa: E731
    pool = ctx.outputs.get("user-pool-id", "")
    return {"claims": {
        "sub": ctx.merchant.client_id, "client_id": ctx.merchant.client_id, "token_use": "access",
        "scope": scope, "iss": f"https://cognito-idp.{ctx.region}.amazonaws.com/{pool}",
        "auth_time": stamp(now), "iat": stamp(now), "exp": stamp(now + 3600),
        "jti": str(uuid.uuid4()), "version": "2",
    }}


def process_event(idempotency_key: str, body: dict[str, Any],
                  authorizer: dict[str, Any] | None = None) -> dict[str, Any]:
    context: dict[str, Any] = {"requestId": str(uuid.uuid4()), "stage": "rehearsal",
                               "httpMethod": "POST", "resourcePath": "/process"}
    if authorizer is not None:
        context["authorizer"] = authorizer
    return {
        "resource": "/process", "path": "/process", "httpMethod": "POST",
        "headers": {"Content-Type": "application/json", "Idempotency-Key": idempotency_key},
        "multiValueHeaders": None, "queryStringParameters": None, "pathParameters": None,
        "requestContext": context,
        "body": json.dumps(body), "isBase64Encoded": False,
    }


def stream_records(ctx: SmokeContext, table: str, transaction_id: str) -> list[dict[str, Any]]:
    """The table's stream records for ``transaction_id`` as the endpoint's dynamodbstreams has them."""
    arn = ctx.boto("dynamodb").describe_table(TableName=table)["Table"].get("LatestStreamArn")
    if not arn:
        return []
    streams = ctx.boto("dynamodbstreams")
    found = []
    for shard in streams.describe_stream(StreamArn=arn)["StreamDescription"].get("Shards", []):
        iterator = streams.get_shard_iterator(StreamArn=arn, ShardId=shard["ShardId"],
                                              ShardIteratorType="TRIM_HORIZON")["ShardIterator"]
        for record in streams.get_records(ShardIterator=iterator).get("Records", []):
            image = record.get("dynamodb", {}).get("NewImage", {})
            if image.get("transaction_id", {}).get("S") == transaction_id:
                record.setdefault("eventSourceARN", arn)
                record["dynamodb"].setdefault("SequenceNumber", str(len(found) + 1))
                found.append(jsonable(record))
    return found


def jsonable(value: Any) -> Any:
    """A boto3 response fragment as Lambda would receive it (datetimes and bytes to JSON)."""
    return json.loads(json.dumps(value, default=lambda v: v.timestamp() if hasattr(v, "timestamp")
                                 else base64.b64encode(v).decode() if isinstance(v, bytes) else str(v)))


def smoke_test(ctx: SmokeContext) -> list[str]:
    """The payment flow against the deployed resources; returns one line per check passed.

    Extend here when the stack grows (API Gateway, alarms...): each check appends to ctx.results.
    """
    for key in ("transaction-table", "idempotency-table", "audit-bucket", "kms-key-id"):
        check(bool(ctx.outputs.get(key)), f"stack output {key} missing")
    ddb, s3 = ctx.boto("dynamodb"), ctx.boto("s3")
    table = ctx.outputs["transaction-table"]
    for name in (table, ctx.outputs["idempotency-table"]):
        check(ddb.describe_table(TableName=name)["Table"]["TableStatus"] == "ACTIVE", f"{name} not ACTIVE")
    s3.head_bucket(Bucket=ctx.outputs["audit-bucket"])
    ctx.results.append("outputs: tables ACTIVE, audit bucket exists")

    if not (LAMBDAS / FUNCTIONS["process"]).exists():
        ctx.results.append("no lambdas/ yet: payment flow skipped")
        return ctx.results
    deployed = [f for f in FUNCTIONS if f"payment-{f}-{ctx.environment}" in ctx.deployed_functions()]
    ctx.results.append(f"env from {'deployed functions ' + ','.join(deployed) if deployed else 'stack outputs'}")

    # 1. POST /process, then the same request again (idempotent replay).
    key = f"rehearsal-{uuid.uuid4()}"
    body = {"amount": "12.34", "currency": "USD", "card_number": TEST_CARD,
            "customer_id": f"cust-rehearsal-{uuid.uuid4().hex[:8]}"}
    process_env = ctx.function_env("process")
    authorizer = merchant_authorizer(ctx, "payments/process")
    with function_runtime(ctx, process_env):
        handler = load_handler("process")
        first = handler(process_event(key, body, authorizer), FakeContext(f"payment-process-{ctx.environment}"))
        check(first.get("statusCode") == 200, f"process returned {first.get('statusCode')}: {first.get('body')}")
        transaction_id = json.loads(first["body"])["transaction_id"]
        again = handler(process_event(key, body, authorizer), FakeContext(f"payment-process-{ctx.environment}"))
        check(again.get("statusCode") == 200 and json.loads(again["body"])["transaction_id"] == transaction_id,
              f"replay with the same Idempotency-Key gave {again.get('statusCode')}: {again.get('body')}")
    table = process_env.get("TRANSACTION_TABLE", table)
    items = ddb.scan(TableName=table, FilterExpression="transaction_id = :t",
                     ExpressionAttributeValues={":t": {"S": transaction_id}})["Items"]
    check(len(items) == 1, f"expected 1 transaction {transaction_id} in {table}, found {len(items)}")
    check("card_number" not in items[0] and items[0].get("card_last4", {}).get("S") == TEST_CARD[-4:],
          "stored item must hold the last four digits only")
    ctx.results.append(f"process: transaction {transaction_id} stored once in {table} (replay ok, "
                       f"as merchant client {authorizer['claims']['client_id']})")
    # The merchant-data role as applied: Terraform rendered "$${...}" to the IAM policy variable.
    role = f"payment-merchant-write-{ctx.environment}"
    if role in [r.get("name") for r in ctx.stack_json.get("resource", {}).get("aws_iam_role", {}).values()]:
        iam = ctx.boto("iam")
        [policy] = iam.list_role_policies(RoleName=role)["PolicyNames"]
        document = json.dumps(iam.get_role_policy(RoleName=role, PolicyName=policy)["PolicyDocument"])
        check("${aws:PrincipalTag/merchant_id}#*" in document and "$${" not in document,
              f"{role} policy lacks the LeadingKeys merchant condition: {document[:300]}")
        ctx.results.append(f"iam: {role} allows only LeadingKeys ${{aws:PrincipalTag/merchant_id}}#*")

    # 2. The audit writer on the stream record of that insert.
    source = "dynamodbstreams"
    try:
        records = stream_records(ctx, table, transaction_id)
    except Exception as err:  # botocore errors: the endpoint's streams API is incomplete
        records, source = [], f"stored item; streams API: {str(err)[:80]}"
    if not records:
        source = source if source != "dynamodbstreams" else "stored item; stream had no record"
        records = [{"eventID": str(uuid.uuid4()), "eventName": "INSERT", "eventSource": "aws:dynamodb",
                    "awsRegion": ctx.region,
                    "dynamodb": {"Keys": {"transaction_id": items[0]["transaction_id"]},
                                 "NewImage": items[0], "SequenceNumber": "1",
                                 "StreamViewType": "NEW_IMAGE"}}]
    audit_env = ctx.function_env("audit-writer")
    with function_runtime(ctx, audit_env):
        result = load_handler("audit-writer")({"Records": records},
                                             FakeContext(f"payment-audit-writer-{ctx.environment}"))
    check(result == {"batchItemFailures": []}, f"audit writer reported failures: {result}")
    bucket = audit_env.get("AUDIT_BUCKET", ctx.outputs["audit-bucket"])
    keys = [o["Key"] for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket)
            for o in page.get("Contents", []) if transaction_id in o["Key"]]
    check(len(keys) == 1, f"expected exactly 1 audit object for {transaction_id}, found {keys}")
    head = s3.head_object(Bucket=bucket, Key=keys[0])
    check(head.get("ServerSideEncryption") == "aws:kms", f"audit object not SSE-KMS: {head}")
    key_id = audit_env.get("AUDIT_KMS_KEY_ID", ctx.outputs["kms-key-id"])
    check(key_id.split("/")[-1] in str(head.get("SSEKMSKeyId", "")),
          f"audit object encrypted with {head.get('SSEKMSKeyId')}, not {key_id}")
    ctx.results.append(f"audit: 1 object s3://{bucket}/{keys[0]} SSE-KMS (record from {source})")
    # 3. A redelivered batch writes nothing: create-only put into the Object Lock bucket.
    with function_runtime(ctx, audit_env):
        result = load_handler("audit-writer")({"Records": records},
                                             FakeContext(f"payment-audit-writer-{ctx.environment}"))
    check(result == {"batchItemFailures": []}, f"redelivered batch reported failures: {result}")
    versions = s3.list_object_versions(Bucket=bucket, Prefix=keys[0]).get("Versions", [])
    check(len(versions) == 1, f"redelivery created versions: {[v['VersionId'] for v in versions]}")
    check(head.get("ObjectLockMode") in ("GOVERNANCE", "COMPLIANCE"), f"audit object not locked: {head}")
    ctx.results.append(f"audit: redelivery wrote no new version; object locked ({head.get('ObjectLockMode')})")
    return ctx.results


# --------------------------------------------------------------------------- the rehearsal


@dataclass
class Report:
    environment: str
    endpoint: str = ""
    resources: int = 0
    state_resources: int = 0
    types: int = 0
    phases: list[tuple[str, float, str]] = field(default_factory=list)
    excluded_here: list[str] = field(default_factory=list)
    failure: str = ""

    @contextlib.contextmanager
    def phase(self, name: str) -> Iterator[list[str]]:
        note: list[str] = []
        started = time.perf_counter()
        log(f"[rehearsal] {name} ...")
        try:
            yield note
        except BaseException as err:
            self.phases.append((name, time.perf_counter() - started, "FAILED"))
            self.failure = f"{name}: {err}"
            raise
        self.phases.append((name, time.perf_counter() - started, "; ".join(note) or "ok"))

    def to_json(self) -> dict[str, Any]:
        """Machine-readable report (``--report-json``; read by ``make bench``)."""
        return {"environment": self.environment, "ok": not self.failure, "failure": self.failure,
                "resources": self.resources, "state_resources": self.state_resources,
                "phases": {name: round(seconds, 2) for name, seconds, _ in self.phases},
                "exclusions": [e.target for e in EXCLUSIONS], "excluded_here": self.excluded_here}

    def text(self) -> str:
        lines = [f"rehearsal report: payments-{self.environment} against {self.endpoint or 'moto'}",
                 f"  resources: {self.resources} ({self.types} types) in payments-{self.environment}, "
                 f"{self.state_resources} in {STATE_STACK}",
                 f"  {'phase':<14}{'seconds':>8}  result"]
        lines += [f"  {name:<14}{seconds:>8.1f}  {result}" for name, seconds, result in self.phases]
        lines.append(f"  {'total':<14}{sum(p[1] for p in self.phases):>8.1f}")
        lines.append(f"  exclusions ({len(EXCLUSIONS)} listed in modules/rehearsal.py, "
                     f"{len(self.excluded_here)} match this stack):")
        lines += [f"    - {e.target} [{e.kind}{'' if e.target in self.excluded_here else ', not in stack'}]"
                  f": {e.reason}; error: {e.error}" for e in EXCLUSIONS] or ["    (none)"]
        lines.append(f"rehearsal: FAILED in {self.failure}" if self.failure else "rehearsal: OK")
        return "\n".join(lines)


def exclusions_in(stack_json: Mapping[str, Any]) -> list[str]:
    """The exclusions that match a resource of this stack."""
    types = set(stack_json.get("resource", {}))
    return [e.target for e in EXCLUSIONS if e.resource_type in types]


def rehearse(environment: str, workdir: Path, report: Report, port: int | None = None) -> None:
    if workdir.exists():
        shutil.rmtree(workdir)
    workdir.mkdir(parents=True)
    logs = workdir / "logs"
    state_bucket = f"payments-rehearsal-state-{environment}"
    server = MotoServer(logs / "moto.log", port)
    state_apply: Background | None = None
    try:
        with report.phase("endpoint") as note:
            server.start()
            report.endpoint = server.url
            note.append(server.url)
        with report.phase("synth") as note:
            migration = migration_settings(server.url)
            stacks = synthesize(workdir / "synth", environment, server.url, state_bucket, migration)
            stack_dir, state_dir = stacks / f"payments-{environment}", stacks / STATE_STACK
            stack_json = json.loads((stack_dir / "cdk.tf.json").read_text())
            state_json = json.loads((state_dir / "cdk.tf.json").read_text())
            report.resources, report.types = count_resources(stack_json), len(stack_json.get("resource", {}))
            report.state_resources = count_resources(state_json)
            report.excluded_here = exclusions_in(stack_json)
            note.append(f"{report.resources} + {report.state_resources} resources")
        region = str(stack_json["provider"]["aws"][0]["region"])
        env = endpoint_env(server.url, region)
        env["TF_PLUGIN_CACHE_DIR"] = str(plugin_cache())
        state_tf = Terraform(state_dir, env, logs / "state")
        tf = Terraform(stack_dir, env, logs / "stack")

        # The state stack keeps local state here: the rehearsal destroys its bucket at the end
        # (make bootstrap's migration into the bucket is rehearsed by tests/test_bootstrap.py).
        (state_dir / "backend_override.tf.json").write_text(json.dumps(
            {"terraform": {"backend": {"local": {"path": str(workdir / "payments-state.tfstate")}}}}))
        cdktf = Cdktf(stacks.parent, cdktf_env(env), logs / "stack")
        stack_name = f"payments-{environment}"
        s3 = SmokeContext(environment, region, server.url, {}, {}).boto("s3")

        def apply_state_stack() -> None:
            state_tf("init", "init", "-input=false")
            state_tf("apply", "apply", "-auto-approve", "-input=false", PARALLELISM)

        state_apply = Background(apply_state_stack)
        with report.phase("state-apply") as note:
            state_apply.start()
            wait_for_bucket(s3, state_bucket, state_apply)
            note.append(f"bucket {state_bucket} exists; the stack's apply goes on beside the deploy")
        with report.phase("apply") as note:
            # The reviewed plan: `cdktf diff` writes it to <stack dir>/plan; all creates, gate passes.
            cdktf("diff-create", "diff", stack_name)
            changes = read_plan(tf, "create", "plan")
            totals = plan_summary.totals(changes)
            created = totals["create"]
            if not created or set(+totals) != {"create"} or plan_summary.blocked_changes(changes):
                raise RehearsalError(f"create plan of a new stack: {dict(totals)}; "
                                     f"gate: {plan_summary.blocked_changes(changes)}")
            cdktf("deploy", "deploy", stack_name, "--auto-approve")
            # cdktf deploy plans again (it cannot apply a saved plan): what it created must be
            # exactly what the gate reviewed.
            deployed = {a for a in state_addresses(tf) if not a.startswith("data.")}
            reviewed = {c.address for c in changes}
            if deployed != reviewed:
                raise RehearsalError(f"deployed resources differ from the reviewed plan: "
                                     f"not reviewed {sorted(deployed - reviewed)[:10]}, "
                                     f"missing {sorted(reviewed - deployed)[:10]}")
            note.append(f"plan gate passed ({created} creates), cdktf deploy created exactly those")
        with report.phase("state-join") as note:
            note.append(f"state stack applied in {state_apply.join_result():.1f}s, beside the deploy")
        with report.phase("plan") as note:
            cdktf("diff", "diff", stack_name)
            changed = no_changes(json.loads(tf("show-diff", "show", "-json", "plan").stdout))
            if changed:
                raise RehearsalError("cdktf diff after deploy is not empty (drift):\n" + "\n".join(changed))
            note.append("no changes")
        outputs = {k: v.get("value") for k, v in json.loads(tf("output", "output", "-json").stdout).items()}
        ctx = SmokeContext(environment, region, server.url, outputs, stack_json)
        with report.phase("onboard") as note:
            note.append(check_api_authorization(ctx))
            ctx.merchant = onboard_merchant(ctx, endpoint_env(server.url, region), stack_dir, env)
            note.append(f"merchant {ctx.merchant.name} client {ctx.merchant.client_id}; no secret in output or state")
        with report.phase("smoke") as note:
            smoke_test(ctx)
            migration_smoke(ctx, migration)
            for line in ctx.results:
                log(f"[rehearsal]   {line}")
            note.append(f"ok ({len(ctx.results)} checks)")
        with report.phase("offboard") as note:
            note.append(offboard_merchant(ctx, endpoint_env(server.url, region), ctx.merchant))
        with report.phase("destroy") as note:
            forget = [a for a in state_addresses(tf) if exclusion_for(a, "keep_on_destroy")]
            if forget:  # one command: each terraform run loads the provider's schema again
                tf("state-rm", "state", "rm", *forget)
            # The plan-review gate must refuse this plan (it deletes tables, buckets, the cluster,
            # the keys) unless every stateful address is named; then that exact plan is applied.
            # No refresh: the no-change `cdktf diff` just refreshed every resource and found the
            # state true (only the smoke test's data writes happened since); destroy still calls
            # Delete on every resource and fails on any it cannot delete.
            changes = saved_plan(tf, "destroy", ["-destroy", "-refresh=false"])
            blocked = [c.address for c in plan_summary.blocked_changes(changes)]
            if not blocked or plan_summary.blocked_changes(changes, blocked):
                raise RehearsalError(f"destroy plan: the gate blocked {blocked or 'nothing'}")
            tf("destroy", "apply", "-input=false", PARALLELISM, "destroy.tfplan")
            note.append(f"plan gate blocked {len(blocked)} stateful deletions until allowed")
        with report.phase("state-destroy"):
            empty_bucket(s3, state_bucket)
            state_tf("destroy", "destroy", "-auto-approve", "-input=false", PARALLELISM)
    finally:
        if state_apply is not None and state_apply.is_alive():
            state_apply.join(timeout=300)  # let its terraform finish before the endpoint goes
        server.stop()


def saved_plan(tf: Terraform, name: str, extra: list[str]) -> list[plan_summary.Change]:
    """``terraform plan -out <name>.tfplan``, read by ``read_plan``."""
    tf(f"plan-{name}", "plan", "-input=false", PARALLELISM, *extra, f"-out={name}.tfplan")
    return read_plan(tf, name, f"{name}.tfplan")


def read_plan(tf: Terraform, name: str, plan_file: str) -> list[plan_summary.Change]:
    """A saved plan's JSON (kept as ``plans/<name>.json``) parsed by the plan-review summary, whose
    text is logged next to it."""
    plan_json = tf(f"show-{name}", "show", "-json", plan_file).stdout
    plans = tf.logs.parent / "plans"
    plans.mkdir(parents=True, exist_ok=True)
    (plans / f"{name}.json").write_text(plan_json)
    changes = plan_summary.parse_changes(json.loads(plan_json))
    (plans / f"{name}-summary.txt").write_text(plan_summary.render(changes))
    return changes


def plan_diff(output: str) -> str:
    """The resource diff part of a plan (from the first '#' change line)."""
    lines = output.splitlines()
    start = next((i for i, line in enumerate(lines) if line.lstrip().startswith("# ")), 0)
    return "\n".join(lines[start:])


def state_addresses(tf: Terraform) -> list[str]:
    return [a for a in tf("state-list", "state", "list").stdout.split() if a]


def exclusion_for(address: str, kind: str) -> Exclusion | None:
    rtype = address.split(".")[0]
    return next((e for e in EXCLUSIONS if e.kind == kind and e.resource_type == rtype), None)


def plugin_cache() -> Path:
    """Terraform's provider cache (``build/``): the ~700 MB provider is linked, not copied, per init."""
    cache = PROJECT_ROOT / "build" / "terraform-plugin-cache"
    cache.mkdir(parents=True, exist_ok=True)
    return cache


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--environment", default="dev", help="environment to rehearse (default dev)")
    parser.add_argument("--workdir", type=Path, default=None,
                        help="work directory (default build/rehearsal/<environment>)")
    parser.add_argument("--port", type=int, default=None, help="loopback port (default: a free one)")
    parser.add_argument("--report-json", type=Path, help="also write the report as JSON to this file")
    parser.add_argument("--synth-into", type=Path, help=argparse.SUPPRESS)  # internal: synth step
    args = parser.parse_args(argv)
    if args.synth_into:
        synth_app(args.synth_into)
        return 0
    report = Report(args.environment)

    def interrupted(signum: int, frame: object) -> None:
        raise KeyboardInterrupt(signal.Signals(signum).name)

    signal.signal(signal.SIGTERM, interrupted)  # so `finally` stops moto_server and terraform
    try:
        rehearse(args.environment, args.workdir or WORK_ROOT / args.environment, report, args.port)
    except (RehearsalError, RuntimeError, OSError, KeyError, ValueError) as err:
        report.failure = report.failure or str(err)
        log(f"[rehearsal] FAILED: {err}")
    except KeyboardInterrupt as err:
        report.failure = report.failure or f"interrupted ({err or 'SIGINT'})"
    log(report.text())
    if args.report_json:
        args.report_json.write_text(json.dumps(report.to_json(), indent=2))
    return 1 if report.failure else 0


if __name__ == "__main__":
    sys.exit(main())
