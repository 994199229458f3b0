"""Fixtures for the payment Lambda tests.

Puts the layer package (lambdas/shared/python) and each function dir on
sys.path, and provides a moto-backed AWS environment with the same schema
Terraform creates (the ledger keyed "<merchant>#<transaction_id>" + GSIs + new-and-old-image stream, idempotency
table with TTL, customer-activity table, audit bucket, audit KMS key, and the KMS HMAC_256 key used for
card fingerprints, whose ARN is CARD_FINGERPRINT_KEY_ID).
"""
from __future__ import annotations

import contextlib
import pathlib
import sys
from types import SimpleNamespace

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]
LAMBDAS = ROOT / "lambdas"
for _path in (LAMBDAS / "shared" / "python", LAMBDAS / "validate", LAMBDAS / "fraud_check",
              LAMBDAS / "process", LAMBDAS / "audit_writer"):
    if str(_path) not in sys.path:
        sys.path.insert(0, str(_path))

from payments_testkit import (  # noqa: E402  (after sys.path setup)
    ACTIVITY_TABLE, AUDIT_BUCKET, IDEMPOTENCY_TABLE, MERCHANT_ROLE_ARN, REGION, TRANSACTION_TABLE,
    AwsHelpers, create_hmac_key)
from payments_testkit import REGISTRY_TABLE, create_registry  # noqa: E402


_LAMBDA_ENV = {
    "AWS_DEFAULT_REGION": REGION, "AWS_REGION": REGION,
    "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SESSION_TOKEN": "testing", "AWS_SECURITY_TOKEN": "testing",
    "ENVIRONMENT": "test", "LOG_LEVEL": "INFO",
    "TRANSACTION_TABLE": TRANSACTION_TABLE, "CUSTOMER_ACTIVITY_TABLE": ACTIVITY_TABLE,
    "MERCHANT_DATA_ROLE_ARN": MERCHANT_ROLE_ARN,
    "FRAUD_WINDOW_SECONDS": "86400", "FRAUD_QUERY_LIMIT": "100",
    "IDEMPOTENCY_TABLE": IDEMPOTENCY_TABLE, "IDEMPOTENCY_TTL_SECONDS": "86400",
    "AUDIT_BUCKET": AUDIT_BUCKET, "AUDIT_PREFIX": "audit/",
    "MERCHANT_REGISTRY_TABLE": REGISTRY_TABLE,
}


def _apply_env(mp: pytest.MonkeyPatch) -> None:
    for name, value in _LAMBDA_ENV.items():
        mp.setenv(name, value)
    for name in ("AWS_PROFILE", "AWS_ENDPOINT_URL", "AUDIT_KMS_KEY_ID", "CARD_FINGERPRINT_KEY_ID",
                 "MAX_AMOUNT", "PAYMENT_LIMITS"):
        mp.delenv(name, raising=False)


@pytest.fixture
def lambda_env(monkeypatch):
    """The environment variables the infrastructure sets (fake AWS credentials)."""
    _apply_env(monkeypatch)


def _create_resources(boto3):
    ddb = boto3.client("dynamodb", region_name=REGION)
    ddb.create_table(
        TableName=TRANSACTION_TABLE,
        BillingMode="PAY_PER_REQUEST",
        AttributeDefinitions=[
            {"AttributeName": "merchant_transaction", "AttributeType": "S"},
            {"AttributeName": "timestamp", "AttributeType": "N"},
            {"AttributeName": "merchant_customer", "AttributeType": "S"},
            {"AttributeName": "merchant_status", "AttributeType": "S"},
        ],
        KeySchema=[{"AttributeName": "merchant_transaction", "KeyType": "HASH"}],
        GlobalSecondaryIndexes=[
            {"IndexName": "customer-index",
             "KeySchema": [{"AttributeName": "merchant_customer", "KeyType": "HASH"},
                           {"AttributeName": "timestamp", "KeyType": "RANGE"}],
             "Projection": {"ProjectionType": "ALL"}},
            {"IndexName": "status-index",
             "KeySchema": [{"AttributeName": "merchant_status", "KeyType": "HASH"},
                           {"AttributeName": "timestamp", "KeyType": "RANGE"}],
             "Projection": {"ProjectionType": "ALL"}},
        ],
        StreamSpecification={"StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"},
    )
    ddb.create_table(
        TableName=IDEMPOTENCY_TABLE,
        BillingMode="PAY_PER_REQUEST",
        AttributeDefinitions=[{"AttributeName": "idempotency_key", "AttributeType": "S"}],
        KeySchema=[{"AttributeName": "idempotency_key", "KeyType": "HASH"}],
    )
    ddb.update_time_to_live(TableName=IDEMPOTENCY_TABLE,
                            TimeToLiveSpecification={"Enabled": True,
                                                     "AttributeName": "expires_at"})
    ddb.create_table(
        TableName=ACTIVITY_TABLE,
        BillingMode="PAY_PER_REQUEST",
        AttributeDefinitions=[{"AttributeName": "merchant_customer", "AttributeType": "S"}],
        KeySchema=[{"AttributeName": "merchant_customer", "KeyType": "HASH"}],
    )
    create_registry(ddb)
    s3 = boto3.client("s3", region_name=REGION)
    s3.create_bucket(Bucket=AUDIT_BUCKET)
    kms = boto3.client("kms", region_name=REGION)
    key_arn = kms.create_key(Description="audit")["KeyMetadata"]["Arn"]
    fingerprint_key_arn = create_hmac_key(kms)
    return ddb, s3, kms, key_arn, fingerprint_key_arn


@contextlib.contextmanager
def _mocked_aws(mp: pytest.MonkeyPatch):
    import boto3
    from moto import mock_aws
    from payments_core import aws as core_aws

    core_aws.reset_clients()
    with mock_aws():
        ddb, s3, kms, key_arn, fingerprint_key_arn = _create_resources(boto3)
        mp.setenv("AUDIT_KMS_KEY_ID", key_arn)
        mp.setenv("CARD_FINGERPRINT_KEY_ID", fingerprint_key_arn)
        # botocore >= 1.40 resolves account-based stream endpoints
        # (<account>.streams-ddb.<region>...) that moto 5.2 does not route; pin
        # the classic endpoint, which moto serves.
        streams = boto3.client("dynamodbstreams", region_name=REGION,
                               endpoint_url=f"https://streams.dynamodb.{REGION}.amazonaws.com")
        yield SimpleNamespace(ddb=ddb, s3=s3, kms=kms, kms_key_arn=key_arn,
                              fingerprint_key_arn=fingerprint_key_arn, streams=streams,
                              helpers=AwsHelpers(ddb, s3, streams))
    core_aws.reset_clients()


@pytest.fixture
def aws(lambda_env, monkeypatch):
    """moto-backed AWS with the Terraform data model (fresh per test)."""
    with _mocked_aws(monkeypatch) as env:
        yield env


@pytest.fixture(scope="module")
def _module_aws():
    with pytest.MonkeyPatch.context() as mp:
        _apply_env(mp)
        with _mocked_aws(mp) as env:
            yield env, mp


@pytest.fixture
def shared_aws(_module_aws):
    """One moto environment per test module (creating clients/tables per test is
    slow); emptied after each test so tests stay independent."""
    env, mp = _module_aws
    _apply_env(mp)
    mp.setenv("AUDIT_KMS_KEY_ID", env.kms_key_arn)
    mp.setenv("CARD_FINGERPRINT_KEY_ID", env.fingerprint_key_arn)
    yield env
    env.helpers.purge()




@pytest.fixture
def gateway(shared_aws, monkeypatch):
    """API Gateway and the token endpoint in front of the real handlers (tests/lambdas/fake_gateway.py)."""
    from fake_gateway import FakeGateway
    from scripts.rehearsal.canary import serving
    for name in ("no_proxy", "NO_PROXY"):  # a proxy configured on the machine must not carry 127.0.0.1
        monkeypatch.setenv(name, "127.0.0.1")
    with serving(FakeGateway()) as server:
        yield server
