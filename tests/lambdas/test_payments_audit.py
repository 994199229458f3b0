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
        assert doc["event"] == "INSERT" and doc["digest"].startswith("sha256:")
        assert not contains_pan(json.dumps(doc))
    assert not contains_pan(capsys.readouterr().out)


def _ledger_key(body, merchant=MERCHANT_A):
    return {"merchant_transaction": {"S": f"{merchant}#{body['transaction_id']}"}}


def _doc(aws, key, bucket=AUDIT_BUCKET):
    return json.loads(aws.s3.get_object(Bucket=bucket, Key=key)["Body"].read())


def _metrics(out):
    """The embedded-metric-format lines the writer printed, as {metric: value}."""
    lines = [json.loads(line) for line in out.splitlines() if line.startswith('{"_aws"')]
    for line in lines:
        [directive] = line["_aws"]["CloudWatchMetrics"]
        assert directive["Namespace"] == "PaymentPlatform/Audit" and directive["Dimensions"] == [["Environment"]]
        assert line["Environment"] == "test"
    return [{m["Name"]: line[m["Name"]] for m in line["_aws"]["CloudWatchMetrics"][0]["Metrics"]}
            for line in lines]


def test_modify_and_remove_become_their_own_change_objects_and_count_as_ledger_changes(aws, capsys):
    body = _pay("audit-modify", card_number=MASTERCARD)
    assert _audit(aws.helpers.stream_event()) == {"batchItemFailures": []}
    [insert_key] = aws.helpers.audit_keys()
    insert = _doc(aws, insert_key)
    capsys.readouterr()

    aws.ddb.update_item(
        TableName=TRANSACTION_TABLE, Key=_ledger_key(body),
        UpdateExpression="SET #s = :s", ExpressionAttributeNames={"#s": "status"},
        ExpressionAttributeValues={":s": {"S": "REFUNDED"}})
    aws.ddb.delete_item(TableName=TRANSACTION_TABLE, Key=_ledger_key(body))
    records = [r for r in aws.helpers.stream_event()["Records"] if r["eventName"] != "INSERT"]
    assert [r["eventName"] for r in records] == ["MODIFY", "REMOVE"]
    assert _audit({"Records": records}) == {"batchItemFailures": []}

    out = capsys.readouterr().out
    changes = sorted(k for k in aws.helpers.audit_keys() if k != insert_key)
    assert len(changes) == 2
    prefix = f"audit/merchant={MERCHANT_A}/changes/"
    modify, remove = sorted((_doc(aws, k) for k in changes), key=lambda d: d["event"])
    for doc, record in ((modify, records[0]), (remove, records[1])):
        day = dt.datetime.fromtimestamp(record["dynamodb"]["ApproximateCreationDateTime"], dt.timezone.utc)
        expected = (f"{prefix}{day:%Y/%m/%d}/{body['transaction_id']}/"
                    f"{record['dynamodb']['SequenceNumber']}.json")
        assert expected in changes
        assert doc["merchant_id"] == MERCHANT_A and doc["transaction_id"] == body["transaction_id"]
    assert modify["event"] == "MODIFY" and modify["old_digest"] == insert["digest"]
    assert modify["new_digest"] not in (None, insert["digest"])
    assert modify["changed_attributes"] == ["status"] and modify["new"]["status"] == "REFUNDED"
    assert remove["event"] == "REMOVE" and remove["new_digest"] is None and remove["new"] is None
    assert remove["old_digest"] == modify["new_digest"]
    assert not contains_pan(json.dumps([modify, remove]))
    assert _metrics(out) == [{"FailedRecords": 0, "LedgerChanges": 2, "ObjectsWritten": 2}]


def test_owner_is_read_from_the_ledger_key_never_from_a_planted_attribute(aws):
    """Merchant A's session can only write keys "A#..." (LeadingKeys); whatever merchant_id it plants,
    the row is A's and is filed under A's prefix."""
    body = _pay("audit-planted")
    aws.helpers.purge()
    planted = {"merchant_transaction": {"S": f"{MERCHANT_A}#{body['transaction_id']}"},
               "transaction_id": {"S": body["transaction_id"]}, "merchant_id": {"S": MERCHANT_B},
               "timestamp": {"N": "1704067199"}, "amount": {"N": "5"}, "currency": {"S": "USD"}}
    aws.ddb.put_item(TableName=TRANSACTION_TABLE, Item=planted)
    inserts = [r for r in aws.helpers.stream_event()["Records"]
               if r["dynamodb"]["Keys"] == {"merchant_transaction": planted["merchant_transaction"]}
               and r["eventName"] == "INSERT"]
    assert _audit({"Records": inserts[-1:]}) == {"batchItemFailures": []}
    [key] = aws.helpers.audit_keys()
    assert key == f"audit/merchant={MERCHANT_A}/2023/12/31/{body['transaction_id']}.json"
    assert _doc(aws, key)["merchant_id"] == MERCHANT_A


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
    bad["dynamodb"]["Keys"]["merchant_transaction"] = {"S": f"{MERCHANT_A}#../../../etc/passwd"}
    bad["dynamodb"]["SequenceNumber"] = "999"
    result = _audit({"Records": [record, bad]})
    assert result == {"batchItemFailures": [{"itemIdentifier": "999"}]}
    assert len(aws.helpers.audit_keys()) == 1
    assert all(".." not in k for k in aws.helpers.audit_keys())


def test_audit_prefix_and_date_come_from_config_and_utc_timestamp(aws, monkeypatch):
    from payments_core.audit import LedgerKey, insert_key
    key = LedgerKey(MERCHANT_B, "0b7c7a4e-8f6a-4d4e-9a51-3f0d2a7c1e11")
    assert insert_key("audit/", key, {"timestamp": 1704067199}) == \
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


@pytest.mark.parametrize("value", [
    None, "", "0b7c7a4e-8f6a-4d4e-9a51-3f0d2a7c1e11",            # no merchant prefix
    "#0b7c7a4e-8f6a-4d4e-9a51-3f0d2a7c1e11", "../other#0b7c7a4e-8f6a-4d4e-9a51-3f0d2a7c1e11",
    "a/b#0b7c7a4e-8f6a-4d4e-9a51-3f0d2a7c1e11", "x" * 129 + "#0b7c7a4e-8f6a-4d4e-9a51-3f0d2a7c1e11",
    "m1#not-a-uuid", "m1#0B7C7A4E-8F6A-4D4E-9A51-3F0D2A7C1E11", "m1#../../etc/passwd",
])
def test_a_ledger_key_without_a_valid_merchant_and_canonical_uuid_is_refused(value):
    from payments_core.audit import AuditRecordError, LedgerKey
    with pytest.raises(AuditRecordError):
        LedgerKey.parse(value)


def test_failed_records_are_counted_in_the_writers_own_metric(aws, capsys):
    """process_stream_batch never errors on a bad record (it reports it), so the function's Errors
    alarm cannot see it: the writer's FailedRecords metric does."""
    _pay("audit-failed-metric")
    [record] = aws.helpers.stream_event()["Records"]
    bad = json.loads(json.dumps(record))
    bad["dynamodb"]["Keys"] = {}
    bad["dynamodb"]["SequenceNumber"] = "7"
    capsys.readouterr()
    assert _audit({"Records": [record, bad]}) == {"batchItemFailures": [{"itemIdentifier": "7"}]}
    assert _metrics(capsys.readouterr().out) == [{"FailedRecords": 1, "LedgerChanges": 0, "ObjectsWritten": 1}]


def test_every_put_carries_a_sha256_checksum(aws):
    """An Object Lock bucket with default retention refuses a put without an integrity header; the
    local endpoint does not, so the request itself is checked, as botocore sends it."""
    from payments_core import aws as core_aws
    _pay("audit-checksum")
    s3 = core_aws.client("s3")
    sent = []

    def capture(request, **_):
        sent.append(dict(request.headers))
    s3.meta.events.register("before-send.s3.PutObject", capture)
    try:
        assert _audit(aws.helpers.stream_event()) == {"batchItemFailures": []}
    finally:
        s3.meta.events.unregister("before-send.s3.PutObject", capture)
    assert len(sent) == 1
    headers = {k.lower(): (v.decode() if isinstance(v, bytes) else v) for k, v in sent[0].items()}
    # Without ChecksumAlgorithm botocore would pick its own default (CRC32), or none before 1.36.
    assert headers["x-amz-sdk-checksum-algorithm"] == "SHA256", headers
    assert "x-amz-checksum-sha256" in headers or headers.get("x-amz-trailer") == "x-amz-checksum-sha256"
    assert headers.get("if-none-match") == "*"


LOCKED_BUCKET = "test-audit-locked"


def _locked_bucket(aws):
    """The audit bucket as Terraform makes it: Object Lock (versioned), governance default retention."""
    aws.s3.create_bucket(Bucket=LOCKED_BUCKET, ObjectLockEnabledForBucket=True)
    aws.s3.put_object_lock_configuration(Bucket=LOCKED_BUCKET, ObjectLockConfiguration={
        "ObjectLockEnabled": "Enabled", "Rule": {"DefaultRetention": {"Mode": "GOVERNANCE", "Days": 1}}})


def _versions(aws):
    return aws.s3.list_object_versions(Bucket=LOCKED_BUCKET).get("Versions", [])


def test_redelivered_batch_writes_no_new_version(aws, monkeypatch, capsys):
    _locked_bucket(aws)
    monkeypatch.setenv("AUDIT_BUCKET", LOCKED_BUCKET)
    _pay("audit-once-1")
    _pay("audit-once-2", customer_id="cust_002")
    event = aws.helpers.stream_event()
    assert _audit(event) == {"batchItemFailures": []}
    first = {v["Key"]: (v["VersionId"], v["ETag"]) for v in _versions(aws)}
    assert len(first) == 2
    capsys.readouterr()

    assert _audit(event) == {"batchItemFailures": []}  # the whole batch again: success, not failure
    versions = _versions(aws)
    assert len(versions) == 2 and {v["Key"]: (v["VersionId"], v["ETag"]) for v in versions} == first
    summary = [json.loads(line) for line in capsys.readouterr().out.splitlines()
               if "audit batch processed" in line][-1]
    assert (summary["written"], summary["already_written"], summary["failed"]) == (0, 2, 0)
    head = aws.s3.head_object(Bucket=LOCKED_BUCKET, Key=next(iter(first)))
    assert head["ObjectLockMode"] == "GOVERNANCE"


def test_put_is_create_only_against_the_object_lock_bucket(aws):
    from payments_core.audit import put_audit_object
    _locked_bucket(aws)
    assert put_audit_object(aws.s3, LOCKED_BUCKET, "audit/k.json", aws.kms_key_arn, {"n": 1}) is True
    assert put_audit_object(aws.s3, LOCKED_BUCKET, "audit/k.json", aws.kms_key_arn, {"n": 2}) is False
    assert len(_versions(aws)) == 1
    body = aws.s3.get_object(Bucket=LOCKED_BUCKET, Key="audit/k.json")["Body"].read()
    assert json.loads(body) == {"n": 1}  # the first write stands
    # moto honours If-None-Match itself: the raw second put is the 412 the writer treats as done.
    with pytest.raises(ClientError) as err:
        aws.s3.put_object(Bucket=LOCKED_BUCKET, Key="audit/k.json", Body=b"{}", IfNoneMatch="*")
    assert err.value.response["ResponseMetadata"]["HTTPStatusCode"] == 412
    assert err.value.response["Error"]["Code"] == "PreconditionFailed"


def test_concurrent_write_conflict_is_retried_not_taken_as_written(aws, monkeypatch):
    """409 ConditionalRequestConflict: another write of the key is in flight with an unknown outcome;
    S3 says retry, so the record is reported failed (Lambda redelivers it), never counted as written."""
    from payments_core import aws as core_aws
    _pay("audit-conflict")
    event = aws.helpers.stream_event()
    s3 = core_aws.client("s3")

    def conflicting_put(**kwargs):
        assert kwargs["IfNoneMatch"] == "*"
        raise ClientError({"Error": {"Code": "ConditionalRequestConflict", "Message": "conflict"},
                           "ResponseMetadata": {"HTTPStatusCode": 409}}, "PutObject")

    monkeypatch.setattr(s3, "put_object", conflicting_put)
    result = _audit(event)
    assert result == {"batchItemFailures": [
        {"itemIdentifier": event["Records"][0]["dynamodb"]["SequenceNumber"]}]}
