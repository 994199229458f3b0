"""scripts/reconcile.py and scripts/audit_replay.py against moto: real payments through the process
handler, real audit objects from the writer, then each kind of difference injected."""
from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal

import pytest

from payments_testkit import AUDIT_BUCKET, MERCHANT_A, MERCHANT_B, REGION, TRANSACTION_TABLE, api_event, valid_payload
from scripts import audit_replay, reconcile
from scripts.audit_trail import Trail, Window

NOW = dt.datetime.now(dt.timezone.utc)
WINDOW = Window(NOW - dt.timedelta(hours=1), NOW + dt.timedelta(hours=1))


class _Context:
    aws_request_id = "reconcile-1"


def _pay(key, merchant=MERCHANT_A, **overrides):
    import process_handler
    resp = process_handler.handler(api_event(valid_payload(**overrides), path="/process",
                                             headers={"Idempotency-Key": key}, merchant=merchant), None)
    assert resp["statusCode"] == 200, resp
    return json.loads(resp["body"])["transaction_id"]


def _deliver(aws, events=("INSERT", "MODIFY", "REMOVE"), seen=None):
    """Run the audit writer on the stream's records of ``events`` (as the event source mapping would)."""
    import audit_writer_handler
    records = [r for r in aws.helpers.stream_event()["Records"] if r["eventName"] in events]
    assert audit_writer_handler.handler({"Records": records}, _Context()) == {"batchItemFailures": []}


def _trail(aws):
    import boto3
    return Trail("test", TRANSACTION_TABLE, AUDIT_BUCKET, aws.kms_key_arn, aws.ddb, aws.s3,
                 boto3.client("sqs", region_name=REGION))


def _key(merchant, transaction_id):
    return {"merchant_transaction": {"S": f"{merchant}#{transaction_id}"}}


def _object(aws, transaction_id):
    [key] = [k for k in aws.helpers.audit_keys() if k.endswith(f"/{transaction_id}.json")]
    return key


def _findings(reports):
    return sorted((f.kind, f.merchant, f.transaction_id) for r in reports for f in r.findings
                  if f.kind != "totals_differ")


@pytest.fixture
def ledger(aws):
    """Three payments of two merchants, each with its audit object."""
    ids = {"a1": _pay("r-a1", amount="10.50"), "a2": _pay("r-a2", amount="0.25", customer_id="cust_002"),
           "b1": _pay("r-b1", merchant=MERCHANT_B, amount="7", currency="EUR")}
    _deliver(aws)
    return ids


def test_a_ledger_and_trail_that_agree_reconcile_clean_with_totals_per_merchant_and_currency(aws, ledger):
    reports = reconcile.reconcile(_trail(aws), WINDOW)
    assert [r.merchant for r in reports] == sorted([MERCHANT_A, MERCHANT_B])
    by = {r.merchant: r for r in reports}
    assert by[MERCHANT_A].ledger.as_json() == by[MERCHANT_A].trail.as_json() == {
        "USD": {"count": 2, "amount": "10.75"}}
    assert by[MERCHANT_B].trail.as_json() == {"EUR": {"count": 1, "amount": "7.00"}}
    assert isinstance(by[MERCHANT_A].ledger.amount["USD"], Decimal)
    assert all(not r.findings for r in reports)


def test_each_kind_of_difference_is_reported(aws, ledger):
    trail = _trail(aws)
    aws.s3.delete_object(Bucket=AUDIT_BUCKET, Key=_object(aws, ledger["a1"]))            # missing object
    aws.ddb.update_item(TableName=TRANSACTION_TABLE, Key=_key(MERCHANT_A, ledger["a2"]),   # unaudited change
                        UpdateExpression="SET amount = :a", ExpressionAttributeValues={":a": {"N": "250"}})
    aws.ddb.delete_item(TableName=TRANSACTION_TABLE, Key=_key(MERCHANT_B, ledger["b1"]))  # row gone
    reports = reconcile.reconcile(trail, WINDOW)
    assert _findings(reports) == sorted([("missing_object", MERCHANT_A, ledger["a1"]),
                                         ("digest_differs", MERCHANT_A, ledger["a2"]),
                                         ("object_without_row", MERCHANT_B, ledger["b1"])])
    totals = {(f.merchant, f.detail) for r in reports for f in r.findings if f.kind == "totals_differ"}
    assert totals == {(MERCHANT_A, "USD: ledger 2 / 260.50, trail 1 / 0.25"),
                      (MERCHANT_B, "EUR: ledger 0 / 0.00, trail 1 / 7.00")}


def test_audited_changes_and_a_replayed_object_reconcile_clean(aws, ledger):
    """The rehearsal's story: the change reaches the trail, replay restores the deleted object."""
    trail = _trail(aws)
    aws.s3.delete_object(Bucket=AUDIT_BUCKET, Key=_object(aws, ledger["a1"]))
    aws.ddb.update_item(TableName=TRANSACTION_TABLE, Key=_key(MERCHANT_A, ledger["a2"]),
                        UpdateExpression="SET amount = :a", ExpressionAttributeValues={":a": {"N": "250"}})
    aws.ddb.delete_item(TableName=TRANSACTION_TABLE, Key=_key(MERCHANT_B, ledger["b1"]))
    _deliver(aws, events=("MODIFY", "REMOVE"))
    result = audit_replay.replay(trail, WINDOW, NOW)
    assert (result.rows, result.written, result.present, result.failed) == (2, 1, 1, 0)
    reports = reconcile.reconcile(trail, WINDOW)
    assert all(not r.findings for r in reports), [r.findings for r in reports]
    changes = sorted((c["event"], c["transaction_id"]) for r in reports for c in r.changes)
    assert changes == sorted([("MODIFY", ledger["a2"]), ("REMOVE", ledger["b1"])])
    restored = json.loads(aws.s3.get_object(Bucket=AUDIT_BUCKET, Key=_object(aws, ledger["a1"]))["Body"].read())
    assert restored["audit_source"]["replayed_from"] == "ledger" and restored["amount"] == "10.50"


def test_replay_rebuilds_the_writers_document_and_a_second_run_writes_nothing(aws, ledger):
    trail = _trail(aws)
    originals = {k: json.loads(aws.s3.get_object(Bucket=AUDIT_BUCKET, Key=k)["Body"].read())
                 for k in aws.helpers.audit_keys()}
    for key in originals:
        aws.s3.delete_object(Bucket=AUDIT_BUCKET, Key=key)
    first = audit_replay.replay(trail, WINDOW, NOW)
    assert (first.rows, first.written, first.present) == (3, 3, 0)
    for key, original in originals.items():
        rebuilt = json.loads(aws.s3.get_object(Bucket=AUDIT_BUCKET, Key=key)["Body"].read())
        assert {k: v for k, v in rebuilt.items() if k != "audit_source"} == \
            {k: v for k, v in original.items() if k != "audit_source"}
    second = audit_replay.replay(trail, WINDOW, NOW)
    assert (second.written, second.present) == (0, 3)


def test_replay_is_create_only_even_when_the_listing_missed_an_object(aws, ledger, monkeypatch):
    """Between the listing and the put the writer may deliver the object: If-None-Match keeps its."""
    trail = _trail(aws)
    key = _object(aws, ledger["a1"])
    before = aws.s3.get_object(Bucket=AUDIT_BUCKET, Key=key)["Body"].read()
    monkeypatch.setattr(Trail, "insert_keys", lambda self, merchant, window: [])
    result = audit_replay.replay(trail, WINDOW, NOW)
    assert (result.written, result.present) == (0, 3)
    assert aws.s3.get_object(Bucket=AUDIT_BUCKET, Key=key)["Body"].read() == before


def test_replay_of_a_dlq_batch_uses_its_arrival_window_and_acks_only_when_asked(aws, ledger, monkeypatch, capsys):
    import boto3
    sqs = boto3.client("sqs", region_name=REGION)
    url = sqs.create_queue(QueueName="payment-audit-dlq-dev")["QueueUrl"]
    # the batch arrived now, just after the ledger fixture's payments (not at import: a slow run drifts)
    stamp = dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.000Z")
    sqs.send_message(QueueUrl=url, MessageBody=json.dumps({"requestContext": {"condition": "RetryAttemptsExhausted"},
                     "DDBStreamBatchInfo": {"shardId": "shardId-1", "startSequenceNumber": "1",
                                            "endSequenceNumber": "9", "approximateArrivalOfFirstRecord": stamp,
                                            "approximateArrivalOfLastRecord": stamp, "batchSize": 3}}))
    aws.s3.delete_object(Bucket=AUDIT_BUCKET, Key=_object(aws, ledger["b1"]))
    _ssm(aws, monkeypatch)
    assert audit_replay.main(["--environment", "dev", "--dlq"]) == 0
    assert _object(aws, ledger["b1"])
    assert audit_replay.main(["--environment", "dev", "--dlq", "--ack"]) == 0
    out = capsys.readouterr().out
    assert "1 written" in out and "0 written" in out and "acknowledged" in out
    sqs.set_queue_attributes(QueueUrl=url, Attributes={"VisibilityTimeout": "0"})
    assert int(sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"][
        "ApproximateNumberOfMessages"]) == 0


def _ssm(aws, monkeypatch):
    """The SSM parameters the stack writes, for environment dev, naming the test resources."""
    import boto3
    ssm = boto3.client("ssm", region_name=REGION)
    for name, value in (("transaction-table", TRANSACTION_TABLE), ("audit-bucket", AUDIT_BUCKET),
                        ("kms-key-id", aws.kms_key_arn)):
        ssm.put_parameter(Name=f"/payment/{name}-dev", Value=value, Type="String", Overwrite=True)
    monkeypatch.delenv("PAYMENTS_AWS_ENDPOINT", raising=False)
    monkeypatch.delenv("ENVIRONMENT_SUFFIX", raising=False)


def test_reconcile_command_exits_1_on_a_difference_and_writes_a_json_report(aws, ledger, monkeypatch, tmp_path, capsys):
    _ssm(aws, monkeypatch)
    window = ["--since", WINDOW.since.isoformat(), "--until", WINDOW.until.isoformat()]
    assert reconcile.main(["--environment", "dev", *window, "--json", str(tmp_path / "clean.json")]) == 0
    assert json.loads((tmp_path / "clean.json").read_text())["clean"] is True
    aws.s3.delete_object(Bucket=AUDIT_BUCKET, Key=_object(aws, ledger["a1"]))
    assert reconcile.main(["--environment", "dev", *window, "--json", str(tmp_path / "r.json")]) == 1
    report = json.loads((tmp_path / "r.json").read_text())
    assert report["clean"] is False and report["environment"] == "dev"
    [merchant] = [m for m in report["merchants"] if m["merchant"] == MERCHANT_A]
    assert {"kind": "missing_object", "merchant": MERCHANT_A, "transaction_id": ledger["a1"],
            "detail": ""} in merchant["findings"]
    assert merchant["ledger"] == {"USD": {"count": 2, "amount": "10.75"}}
    out = capsys.readouterr().out
    assert f"DIFFERENCE missing_object {ledger['a1']}" in out and "CLEAN" in out


def test_commands_refuse_an_environment_that_is_not_deployed_or_an_empty_window(aws, monkeypatch, capsys):
    monkeypatch.delenv("PAYMENTS_AWS_ENDPOINT", raising=False)
    assert reconcile.main(["--environment", "staging"]) == 2
    assert "not deployed" in capsys.readouterr().err
    assert reconcile.main(["--since", "2026-01-02", "--until", "2026-01-01"]) == 2
    assert audit_replay.main(["--environment", "dev"]) == 2  # neither --since nor --dlq


def test_the_canarys_payments_reconcile_clean_and_are_labelled_synthetic(aws):
    """The synthetic merchant (the registry says so) pays like any merchant; its rows carry
    ``synthetic``, the audit trail agrees with them, and the report tells them from merchants' money."""
    from payments_core import registry
    from payments_testkit import REGISTRY_TABLE
    aws.ddb.update_item(TableName=REGISTRY_TABLE, Key={"client_id": {"S": MERCHANT_B}},
                        UpdateExpression="SET synthetic = :t", ExpressionAttributeValues={":t": {"S": "true"}})
    registry.reset_cache()
    _pay("r-a1", amount="10.50")
    _pay("r-b1", merchant=MERCHANT_B, amount="1.00")
    _deliver(aws)
    reports = reconcile.reconcile(_trail(aws), WINDOW)
    assert {r.merchant: r.synthetic for r in reports} == {MERCHANT_A: False, MERCHANT_B: True}
    trail = _trail(aws)
    documents = {m: [trail.document(k) for k in trail.insert_keys(m, WINDOW)] for m in (MERCHANT_A, MERCHANT_B)}
    assert [d.get("synthetic") for d in documents[MERCHANT_B]] == [True]   # in the audit object and its digest
    assert ["synthetic" in d for d in documents[MERCHANT_A]] == [False]    # a merchant's document is unchanged
    assert all(not r.findings for r in reports)
    text = reconcile.render("test", WINDOW, reports)
    assert "2 merchant(s) (1 synthetic), CLEAN" in text
    assert f"merchant {MERCHANT_B} (synthetic: the canary, test cards)" in text
    assert [m["synthetic"] for m in reconcile.as_json("test", WINDOW, reports)["merchants"]] == [
        r.synthetic for r in reports]
    registry.reset_cache()
