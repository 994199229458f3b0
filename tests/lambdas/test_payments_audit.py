"""audit_writer: DynamoDB Stream records -> one SSE-KMS audit object each."""
from __future__ import annotations

import datetime as dt
import json

import pytest
from botocore.exceptions import ClientError

from payments_testkit import (AUDIT_BUCKET, MASTERCARD, MERCHANT_A, MERCHANT_B, TRANSACTION_TABLE,
                              api_event, contains_pan, valid_payload)


class _Context:
    aws_request_id = "audit-invocation-1"


def _pay(key, merchant=MERCHANT_A, **overrides):
    import process_handler
    resp = process_handler.handler(api_event(valid_payload(**overrides), path="/process",
                                             headers={"Idempotency-Key": key}, merchant=merchant),
                                   None)
    assert resp["statusCode"] == 200, resp
    return json.loads(resp["body"])


def _audit(event):
    import audit_writer_handler
    return audit_writer_handler.handler(event, _Context())


def test_insert_records_become_encrypted_audit_objects(aws, capsys):
    first = _pay("audit-1", card_number=MASTERCARD, amount="10.50")
    second = _pay("audit-2", customer_id="cust_002", amount="7", currency="JPY")
    event = aws.helpers.stream_event()
    assert [r["eventName"] for r in event["Records"]] == ["INSERT", "INSERT"]

    assert _audit(event) == {"batchItemFailures": []}
    keys = sorted(aws.helpers.audit_keys())
    assert len(keys) == 2
    for body in (first, second):
        created = dt.datetime.fromisoformat(body["created_at"])
        expected = f"audit/merchant={MERCHANT_A}/{created:%Y/%m/%d}/{body['transaction_id']}.json"
        assert expected in keys
        head = aws.s3.head_object(Bucket=AUDIT_BUCKET, Key=expected)
        assert head["ServerSideEncryption"] == "aws:kms"
        assert head["SSEKMSKeyId"] == aws.kms_key_arn
        assert head["ContentType"] == "application/json"
        doc = json.loads(aws.s3.get_object(Bucket=AUDIT_BUCKET, Key=expected)["Body"].read())
        assert doc["transaction_id"] == body["transaction_id"]
        assert doc["merchant_id"] == MERCHANT_A
        assert doc["amount"] == body["amount"]  # exact decimal text
        assert doc["status"] == "COMPLETED" and doc["card_last4"] == body["card_last4"]
        assert doc["audit_source"]["event_source_arn"].startswith("arn:aws:dynamodb")
        assert not contains_pan(json.dumps(doc))
    assert not contains_pan(capsys.readouterr().out)


def test_non_insert_records_are_ignored(aws):
    body = _pay("audit-modify")
    aws.ddb.update_item(
        TableName=TRANSACTION_TABLE,
        Key={"transaction_id": {"S": body["transaction_id"]},
             "timestamp": {"N": str(int(dt.datetime.fromisoformat(body["created_at"]).timestamp()))}},
        UpdateExpression="SET #s = :s", ExpressionAttributeNames={"#s": "status"},
        ExpressionAttributeValues={":s": {"S": "REFUNDED"}})
    event = aws.helpers.stream_event()
    modify = [r for r in event["Records"] if r["eventName"] == "MODIFY"]
    assert modify, "moto should emit a MODIFY record"
    assert _audit({"Records": modify}) == {"batchItemFailures": []}
    assert aws.helpers.audit_keys() == []
    remove = {**modify[0], "eventName": "REMOVE"}
    assert _audit({"Records": [remove]}) == {"batchItemFailures": []}
    assert aws.helpers.audit_keys() == []


def test_s3_failure_reports_only_the_failed_record_then_retry_succeeds(aws, monkeypatch, capsys):
    from payments_core import aws as core_aws
    bodies = [_pay(f"audit-fail-{i}", amount=f"{i + 1}.00") for i in range(3)]
    event = aws.helpers.stream_event()
    records = event["Records"]
    assert len(records) == 3
    failing_id = bodies[1]["transaction_id"]

    s3 = core_aws.client("s3")
    real_put = s3.put_object

    def flaky_put(**kwargs):
        if failing_id in kwargs["Key"]:
            raise ClientError({"Error": {"Code": "SlowDown", "Message": "Please reduce"}},
                              "PutObject")
        return real_put(**kwargs)

    monkeypatch.setattr(s3, "put_object", flaky_put)
    result = _audit(event)
    assert result == {"batchItemFailures": [
        {"itemIdentifier": records[1]["dynamodb"]["SequenceNumber"]}]}
    assert len(aws.helpers.audit_keys()) == 2
    # nothing lost: the transaction is still in DynamoDB
    assert failing_id in {t["transaction_id"] for t in aws.helpers.transactions()}

    # Lambda retries from the failed record (for streams: that record and later ones)
    monkeypatch.setattr(s3, "put_object", real_put)
    assert _audit({"Records": records[1:]}) == {"batchItemFailures": []}
    keys = aws.helpers.audit_keys()
    assert len(keys) == 3 and len([k for k in keys if failing_id in k]) == 1
    key = next(k for k in keys if failing_id in k)
    assert aws.s3.head_object(Bucket=AUDIT_BUCKET, Key=key)["ServerSideEncryption"] == "aws:kms"
    assert not contains_pan(capsys.readouterr().out)


def test_missing_bucket_fails_every_record_and_loses_nothing(aws, monkeypatch):
    _pay("audit-nobucket")
    event = aws.helpers.stream_event()
    monkeypatch.setenv("AUDIT_BUCKET", "bucket-that-does-not-exist")
    result = _audit(event)
    assert result == {"batchItemFailures": [
        {"itemIdentifier": r["dynamodb"]["SequenceNumber"]} for r in event["Records"]]}
    assert len(aws.helpers.transactions()) == 1
    monkeypatch.setenv("AUDIT_BUCKET", AUDIT_BUCKET)
    assert _audit(event) == {"batchItemFailures": []}
    assert len(aws.helpers.audit_keys()) == 1


def test_malformed_record_is_reported_not_written(aws):
    _pay("audit-malformed")
    record = aws.helpers.stream_event()["Records"][0]
    bad = json.loads(json.dumps(record))
    bad["dynamodb"]["NewImage"]["transaction_id"] = {"S": "../../../etc/passwd"}
    bad["dynamodb"]["SequenceNumber"] = "999"
    result = _audit({"Records": [record, bad]})
    assert result == {"batchItemFailures": [{"itemIdentifier": "999"}]}
    assert len(aws.helpers.audit_keys()) == 1
    assert all(".." not in k for k in aws.helpers.audit_keys())


def test_audit_prefix_and_date_come_from_config_and_utc_timestamp(aws, monkeypatch):
    from payments_core.audit import audit_key
    item = {"transaction_id": "0b7c7a4e-8f6a-4d4e-9a51-3f0d2a7c1e11", "timestamp": 1704067199,
            "merchant_id": MERCHANT_B}
    assert audit_key("audit/", item) == \
        f"audit/merchant={MERCHANT_B}/2023/12/31/0b7c7a4e-8f6a-4d4e-9a51-3f0d2a7c1e11.json"  # 23:59:59 UTC
    monkeypatch.setenv("AUDIT_PREFIX", "trail")
    _pay("audit-prefix")
    assert _audit(aws.helpers.stream_event()) == {"batchItemFailures": []}
    assert all(k.startswith("trail/") for k in aws.helpers.audit_keys())


def test_audit_writer_requires_configuration(aws, monkeypatch):
    monkeypatch.delenv("AUDIT_KMS_KEY_ID")
    from payments_core.errors import ConfigurationError
    with pytest.raises(ConfigurationError):  # whole batch fails -> retried by Lambda
        _audit({"Records": []})


def test_audit_objects_of_two_merchants_are_separated_by_prefix(aws):
    a = _pay("same-key", merchant=MERCHANT_A)
    b = _pay("same-key", merchant=MERCHANT_B)  # same key, same customer id, other merchant
    assert a["transaction_id"] != b["transaction_id"]
    assert _audit(aws.helpers.stream_event()) == {"batchItemFailures": []}
    keys = aws.helpers.audit_keys()
    assert len(keys) == 2
    for merchant, body in ((MERCHANT_A, a), (MERCHANT_B, b)):
        listed = [o["Key"] for o in aws.s3.list_objects_v2(
            Bucket=AUDIT_BUCKET, Prefix=f"audit/merchant={merchant}/").get("Contents", [])]
        assert len(listed) == 1 and listed[0].endswith(f"/{body['transaction_id']}.json")
        doc = json.loads(aws.s3.get_object(Bucket=AUDIT_BUCKET, Key=listed[0])["Body"].read())
        assert doc["merchant_id"] == merchant


@pytest.mark.parametrize("merchant_id,expected", [
    (None, "audit/unattributed/2023/12/31/"),  # written before merchants existed
    (MERCHANT_A, f"audit/merchant={MERCHANT_A}/2023/12/31/"),
])
def test_audit_key_names_the_merchant_or_unattributed(merchant_id, expected):
    from payments_core.audit import audit_key
    item = {"transaction_id": "0b7c7a4e-8f6a-4d4e-9a51-3f0d2a7c1e11", "timestamp": 1704067199}
    if merchant_id is not None:
        item["merchant_id"] = merchant_id
    assert audit_key("audit/", item).startswith(expected)


@pytest.mark.parametrize("merchant_id", ["", "../other", "a/b", "m#1", 42, "x" * 129])
def test_audit_key_refuses_a_malformed_merchant_id(merchant_id):
    from payments_core.audit import AuditRecordError, audit_key
    item = {"transaction_id": "0b7c7a4e-8f6a-4d4e-9a51-3f0d2a7c1e11", "timestamp": 1704067199,
            "merchant_id": merchant_id}
    with pytest.raises(AuditRecordError):
        audit_key("audit/", item)
