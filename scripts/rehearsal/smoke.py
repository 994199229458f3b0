"""The rehearsal's smoke test against the applied stack: the payment handlers run in-process with
the deployed functions' environment and a merchant's authorizer claims (``smoke_test``), and the
migration's settings and applied resources (``migration_settings``, ``migration_smoke``)."""

from __future__ import annotations

import base64
import contextlib
import importlib.util
import json
import os
import sys
import time
import uuid
from dataclasses import dataclass, field
from typing import Any, Callable, Iterator, Mapping

from scripts.rehearsal.common import PROJECT_ROOT, RehearsalError
from scripts.rehearsal.endpoint import REHEARSAL_KEY, endpoint_env
from scripts.rehearse_identity import Merchant

LAMBDAS = PROJECT_ROOT / "lambdas"
# The function handlers the smoke test runs in-process: deployed name -> handler file.
FUNCTIONS = {
    "validate": "validate/validate_handler.py",
    "fraud-check": "fraud_check/fraud_check_handler.py",
    "process": "process/process_handler.py",
    "audit-writer": "audit_writer/audit_writer_handler.py",
}
TEST_CARD = "4111111111111111"  # Luhn-valid test PAN


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
    "PAYMENTS_NAT_GATEWAYS": "1",  # DMS reaches Secrets Manager and CloudWatch Logs through it
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
            "MERCHANT_REGISTRY_TABLE": self.outputs.get("merchant-registry", ""),
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
                  authorizer: dict[str, Any] | None = None, api_key_id: str | None = None) -> dict[str, Any]:
    context: dict[str, Any] = {"requestId": str(uuid.uuid4()), "stage": "rehearsal",
                               "httpMethod": "POST", "resourcePath": "/process"}
    if authorizer is not None:
        context["authorizer"] = authorizer
    if api_key_id is not None:  # API Gateway: the id of the x-api-key it checked
        context["identity"] = {"apiKeyId": api_key_id}
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


def wrong_key_refused(ctx: SmokeContext, process_env: Mapping[str, str], authorizer: dict[str, Any],
                      table: str) -> None:
    """The merchant's token with an API key id that is not its own: 403 API_KEY_NOT_BOUND from the
    merchant registry check, and nothing stored."""
    ddb = ctx.boto("dynamodb")
    before = ddb.scan(TableName=table, Select="COUNT", ConsistentRead=True)["Count"]
    body = {"amount": "5.00", "currency": "USD", "card_number": TEST_CARD, "customer_id": "cust-wrong-key"}
    with function_runtime(ctx, process_env):
        refused = load_handler("process")(process_event(f"rehearsal-{uuid.uuid4()}", body, authorizer,
                                                        "another-merchants-key"),
                                          FakeContext(f"payment-process-{ctx.environment}"))
    code = json.loads(refused.get("body") or "{}").get("error", {}).get("code")
    check(refused.get("statusCode") == 403 and code == "API_KEY_NOT_BOUND",
          f"another API key id gave {refused.get('statusCode')} {code}")
    after = ddb.scan(TableName=table, Select="COUNT", ConsistentRead=True)["Count"]
    check(after == before, f"a refused payment changed {table}: {before} -> {after} items")
    ctx.results.append("registry: the merchant's token with another API key id is refused 403 "
                       "API_KEY_NOT_BOUND, nothing stored")


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
    api_key_id = ctx.merchant.api_key_id if ctx.merchant else None
    with function_runtime(ctx, process_env):
        handler = load_handler("process")
        first = handler(process_event(key, body, authorizer, api_key_id),
                        FakeContext(f"payment-process-{ctx.environment}"))
        check(first.get("statusCode") == 200, f"process returned {first.get('statusCode')}: {first.get('body')}")
        transaction_id = json.loads(first["body"])["transaction_id"]
        again = handler(process_event(key, body, authorizer, api_key_id),
                        FakeContext(f"payment-process-{ctx.environment}"))
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
    wrong_key_refused(ctx, process_env, authorizer, table)
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
                    "dynamodb": {"Keys": {"merchant_transaction": items[0]["merchant_transaction"]},
                                 "NewImage": items[0], "SequenceNumber": "1",
                                 "StreamViewType": "NEW_AND_OLD_IMAGES"}}]
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
