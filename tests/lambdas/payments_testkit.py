"""Shared constants and helpers for the payment Lambda tests (imported by tests)."""
from __future__ import annotations

import base64
import json
import re
import uuid

REGION = "us-east-1"
TRANSACTION_TABLE = "test-transactions"
IDEMPOTENCY_TABLE = "test-idempotency"
ACTIVITY_TABLE = "test-customer-activity"
ACCOUNT = "123456789012"  # moto's default account: assumed-role sessions land in the same backend
MERCHANT_ROLE_ARN = f"arn:aws:iam::{ACCOUNT}:role/test-merchant-data"
# Two merchants (Cognito app client ids: 26 lowercase alphanumerics).
MERCHANT_A = "1h57kf5cpq17m0eml12example"
MERCHANT_B = "7m2p9q4r6s8t0u1v3w5example"
AUDIT_BUCKET = "test-audit-bucket"
# The merchant registry: each merchant's API key id (what API Gateway puts in
# requestContext.identity.apiKeyId), both merchants active (seed_registry).
REGISTRY_TABLE = "test-merchant-registry"
API_KEY_IDS = {MERCHANT_A: "a1b2c3d4e5", MERCHANT_B: "f6g7h8i9j0"}

# Luhn-valid test PANs (public test numbers).
VISA = "4111111111111111"
MASTERCARD = "5555555555554444"
AMEX = "378282246310005"
VISA_13 = "4222222222222"
VISA_19 = "4111111111111111110"  # 19 digits, Luhn-valid (checked in tests)
KNOWN_PANS = (VISA, MASTERCARD, AMEX, VISA_13, VISA_19)


def valid_payload(**overrides) -> dict:
    payload = {"customer_id": "cust_001", "amount": "12.34", "currency": "USD",
               "card_number": VISA}
    payload.update(overrides)
    return {k: v for k, v in payload.items() if v is not _DROP}


class _Drop:
    def __repr__(self) -> str:
        return "<DROP>"


_DROP = _Drop()
DROP = _DROP


def authorizer_context(client_id=MERCHANT_A, scope="payments/validate"):
    """``requestContext.authorizer`` as API Gateway's COGNITO_USER_POOLS authorizer passes it
    for a client-credentials access token (every claim a string)."""
    return {"claims": {
        "sub": client_id, "client_id": client_id, "token_use": "access", "scope": scope,
        "iss": "https://cognito-idp.us-east-1.amazonaws.com/us-east-1_example",
        "auth_time": "1767225600", "exp": "Thu Jan 01 01:00:00 UTC 2026",
        "iat": "Thu Jan 01 00:00:00 UTC 2026", "jti": str(uuid.uuid4()), "version": "2",
    }}


def api_event(body, *, headers=None, base64_encoded=False, request_id=None, path="/validate",
              merchant=MERCHANT_A, scope=None, api_key_id=DROP):
    """An API Gateway REST proxy (v1) event, authorized for ``merchant`` with the path's scope
    (``merchant=None``: no authorizer context at all) and the merchant's own API key id
    (``api_key_id``: another one; None: no key id)."""
    if isinstance(body, (dict, list)):
        body = json.dumps(body)
    if base64_encoded and isinstance(body, str):
        body = base64.b64encode(body.encode("utf-8")).decode("ascii")
    context = {"requestId": request_id or str(uuid.uuid4()), "stage": "test",
               "resourcePath": path, "httpMethod": "POST"}
    if merchant is not None:
        context["authorizer"] = authorizer_context(merchant, scope or "payments" + path)
    key_id = API_KEY_IDS.get(merchant) if api_key_id is DROP else api_key_id
    if key_id is not None:
        context["identity"] = {"apiKeyId": key_id, "sourceIp": "198.51.100.7"}
    return {
        "resource": path,
        "path": path,
        "httpMethod": "POST",
        "headers": headers if headers is not None else {"Content-Type": "application/json"},
        "multiValueHeaders": None,
        "queryStringParameters": None,
        "pathParameters": None,
        "requestContext": context,
        "body": body,
        "isBase64Encoded": base64_encoded,
    }


def register_merchant(ddb, client_id, api_key_id, status="active", table=REGISTRY_TABLE):
    """A registry row as scripts/merchants.py writes it."""
    ddb.put_item(TableName=table, Item={
        "client_id": {"S": client_id}, "merchant": {"S": f"m-{client_id[:6]}"},
        "api_key_id": {"S": api_key_id}, "status": {"S": status},
        "created_at": {"S": "2026-01-01T00:00:00+00:00"}})


def create_registry(ddb, table=REGISTRY_TABLE):
    """The registry table with both test merchants active on their own keys."""
    ddb.create_table(TableName=table, BillingMode="PAY_PER_REQUEST",
                     AttributeDefinitions=[{"AttributeName": "client_id", "AttributeType": "S"}],
                     KeySchema=[{"AttributeName": "client_id", "KeyType": "HASH"}])
    for client_id, key_id in API_KEY_IDS.items():
        register_merchant(ddb, client_id, key_id, table=table)


def create_hmac_key(kms, description="card-fingerprint") -> str:
    """An HMAC_256 / GENERATE_VERIFY_MAC key, as the infrastructure creates it; its ARN."""
    return kms.create_key(Description=description, KeySpec="HMAC_256",
                          KeyUsage="GENERATE_VERIFY_MAC")["KeyMetadata"]["Arn"]


def contains_pan(text: str, pans=KNOWN_PANS) -> bool:
    """True if any PAN appears in text (also with separators removed)."""
    squashed = re.sub(r"[ \-]", "", text)
    return any(p in text or p in squashed for p in pans)


def seed_activity(ddb, merchant, customer_id, amounts, currency="USD", age_seconds=60, now=None):
    """A merchant-customer's recent payments, stored as /process stores them (newest first)."""
    import time
    now = int(time.time()) if now is None else now
    recent = [{"M": {"amount": {"N": str(a)}, "currency": {"S": currency},
                     "timestamp": {"N": str(now - age_seconds - i)}}} for i, a in enumerate(amounts)]
    ddb.put_item(TableName=ACTIVITY_TABLE, Item={
        "merchant_customer": {"S": f"{merchant}#{customer_id}"}, "version": {"N": "1"},
        "recent": {"L": recent}, "expires_at": {"N": str(now + 86400)}})


class AwsHelpers:
    def __init__(self, ddb, s3, streams):
        self.ddb, self.s3, self.streams = ddb, s3, streams

    def scan(self, table):
        return self.ddb.scan(TableName=table, ConsistentRead=True)["Items"]

    def items(self, table):
        """Every item of ``table``, deserialised (amounts stay Decimal)."""
        from boto3.dynamodb.types import TypeDeserializer
        d = TypeDeserializer()
        return [{k: d.deserialize(v) for k, v in i.items()} for i in self.scan(table)]

    def transactions(self):
        return self.items(TRANSACTION_TABLE)

    def idempotency_records(self):
        return self.items(IDEMPOTENCY_TABLE)

    def activity(self):
        return self.items(ACTIVITY_TABLE)

    def audit_keys(self):
        resp = self.s3.list_objects_v2(Bucket=AUDIT_BUCKET)
        return [o["Key"] for o in resp.get("Contents", [])]

    def purge(self):
        """Delete every item and audit object (used between tests sharing moto)."""
        for table, keys in ((TRANSACTION_TABLE, ("merchant_transaction",)),
                            (IDEMPOTENCY_TABLE, ("idempotency_key",)),
                            (ACTIVITY_TABLE, ("merchant_customer",))):
            for item in self.scan(table):
                self.ddb.delete_item(TableName=table, Key={k: item[k] for k in keys})
        for key in self.audit_keys():
            self.s3.delete_object(Bucket=AUDIT_BUCKET, Key=key)

    def assert_nothing_written(self):
        assert self.scan(TRANSACTION_TABLE) == []
        assert self.scan(IDEMPOTENCY_TABLE) == []
        assert self.scan(ACTIVITY_TABLE) == []
        assert self.audit_keys() == []

    def stream_event(self):
        """All records currently in the transactions stream, as a Lambda event.

        Read through moto's DynamoDB Streams API and reshaped the way the Lambda
        event source mapping delivers them (ApproximateCreationDateTime as epoch
        seconds, eventSource/eventSourceARN/awsRegion added).
        """
        arn = self.ddb.describe_table(TableName=TRANSACTION_TABLE)["Table"]["LatestStreamArn"]
        records = []
        description = self.streams.describe_stream(StreamArn=arn)["StreamDescription"]
        for shard in description["Shards"]:
            iterator = self.streams.get_shard_iterator(
                StreamArn=arn, ShardId=shard["ShardId"],
                ShardIteratorType="TRIM_HORIZON")["ShardIterator"]
            while iterator:
                page = self.streams.get_records(ShardIterator=iterator)
                for rec in page["Records"]:
                    stream = dict(rec["dynamodb"])
                    created = stream.get("ApproximateCreationDateTime")
                    if hasattr(created, "timestamp"):
                        stream["ApproximateCreationDateTime"] = int(created.timestamp())
                    records.append({
                        "eventID": rec["eventID"], "eventName": rec["eventName"],
                        "eventVersion": rec.get("eventVersion", "1.1"),
                        "eventSource": "aws:dynamodb", "awsRegion": REGION,
                        "dynamodb": stream, "eventSourceARN": arn,
                    })
                if not page["Records"]:
                    break
                iterator = page.get("NextShardIterator")
        return {"Records": records}


class HandClock:
    """A module's cache clock (``registry.clock``, ``fence.clock``), advanced by hand."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now
