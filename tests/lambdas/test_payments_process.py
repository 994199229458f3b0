"""Handler tests for /process (and /fraud-check scoring) against moto."""
from __future__ import annotations

import datetime as dt
import json
import threading
import time
from decimal import Decimal

import pytest

from payments_testkit import (ACTIVITY_TABLE, AMEX, IDEMPOTENCY_TABLE, MASTERCARD, MERCHANT_A,
                              TRANSACTION_TABLE, VISA, api_event, contains_pan, seed_activity,
                              valid_payload)


def _process(body, key="key-0001", **kw):
    import process_handler
    headers = {"Content-Type": "application/json"}
    if key is not None:
        headers["Idempotency-Key"] = key
    return process_handler.handler(api_event(body, headers=headers, path="/process", **kw), None)


def _fraud(body):
    import fraud_check_handler
    return fraud_check_handler.handler(api_event(body, path="/fraud-check"), None)


def _seed_history(aws, customer_id, amounts, currency="USD", age_seconds=60):
    seed_activity(aws.ddb, MERCHANT_A, customer_id, amounts, currency, age_seconds)


def _record_key(aws, key, merchant=MERCHANT_A):
    """The idempotency table key of ``key``, computed independently of payments_core."""
    import hashlib
    import hmac
    secret = aws.kms.generate_mac(KeyId=aws.fingerprint_key_arn, MacAlgorithm="HMAC_SHA_256",
                                  Message=b"payments-core/idempotency-key/v1")["Mac"]
    digest = hmac.new(secret, merchant.encode() + b"\x00" + key.encode(), hashlib.sha256).hexdigest()
    return f"{merchant}#{digest}"


def test_process_success_stores_safe_item(aws, capsys):
    resp = _process(valid_payload(card_number="4111 1111-1111 1111", amount="99.5"))
    assert resp["statusCode"] == 200, resp
    assert resp["headers"]["Content-Type"] == "application/json"
    assert "Idempotent-Replay" not in resp["headers"]
    body = json.loads(resp["body"])
    assert body["status"] == "COMPLETED"
    assert body["amount"] == "99.50"
    assert body["card_last4"] == "1111"
    assert body["risk_level"] == "LOW" and body["requires_review"] is False

    items = aws.helpers.transactions()
    assert len(items) == 1
    item = items[0]
    assert item["transaction_id"] == body["transaction_id"]
    assert isinstance(item["amount"], Decimal) and item["amount"] == Decimal("99.50")
    assert item["card_last4"] == "1111"
    assert len(item["card_fingerprint"]) == 64
    assert set(item) == {"merchant_transaction", "transaction_id", "timestamp", "created_at",
                         "merchant_id", "merchant_customer", "merchant_status", "customer_id", "amount",
                         "currency", "card_last4", "card_fingerprint", "risk_score",
                         "risk_level", "status", "idempotency_key"}
    assert item["merchant_id"] == MERCHANT_A
    assert item["merchant_customer"] == f"{MERCHANT_A}#cust_001"
    # the ledger and status keys are the merchant's own: IAM's LeadingKeys pins them
    assert item["merchant_transaction"] == f"{MERCHANT_A}#{body['transaction_id']}"
    assert item["merchant_status"] == f"{MERCHANT_A}#COMPLETED"
    # the client's Idempotency-Key is stored only as its keyed digest
    assert item["idempotency_key"] == _record_key(aws, "key-0001").split("#")[1]
    created = dt.datetime.fromisoformat(item["created_at"])
    assert created.tzinfo is not None and created.utcoffset() == dt.timedelta(0)
    assert int(created.timestamp()) == int(item["timestamp"])
    assert abs(int(item["timestamp"]) - time.time()) < 60

    records = aws.helpers.idempotency_records()
    assert len(records) == 1
    record = records[0]
    assert record["idempotency_key"] == _record_key(aws, "key-0001")
    assert record["transaction_id"] == body["transaction_id"]
    assert len(record["request_hash"]) == 64
    assert int(record["expires_at"]) - int(item["timestamp"]) == 86400
    assert json.loads(record["response"])["body"] == body

    # No PAN anywhere: stored items (raw DynamoDB JSON), response, logs.
    raw = json.dumps(aws.helpers.scan(TRANSACTION_TABLE) + aws.helpers.scan(IDEMPOTENCY_TABLE))
    assert not contains_pan(raw)
    assert not contains_pan(resp["body"])
    assert not contains_pan(capsys.readouterr().out)


def test_process_declines_high_risk_and_says_so(aws):
    # amount > 10,000 (+30) and > 10x the recent average (+40) -> 70 = HIGH
    _seed_history(aws, "cust_001", [Decimal("20.00"), Decimal("30.00")])
    resp = _process(valid_payload(amount="15000.00"))
    assert resp["statusCode"] == 200
    body = json.loads(resp["body"])
    assert body["status"] == "DECLINED_REVIEW"
    assert body["risk_level"] == "HIGH" and body["requires_review"] is True
    assert body["risk_score"] == 70
    assert set(body["reasons"]) == {"HIGH_VALUE", "AMOUNT_SPIKE"}
    stored = [t for t in aws.helpers.transactions() if t["transaction_id"] == body["transaction_id"]]
    assert stored[0]["status"] == "DECLINED_REVIEW"


def test_process_rescoring_ignores_client_supplied_scores(aws):
    # The caller cannot smuggle a "risk_score"/"status": unknown fields are rejected.
    resp = _process({**valid_payload(amount="15000"), "risk_score": 0, "status": "COMPLETED"})
    assert resp["statusCode"] == 400
    assert json.loads(resp["body"])["error"]["code"] == "UNKNOWN_FIELD"
    aws.helpers.assert_nothing_written()


def test_fraud_check_scores_from_history_and_writes_nothing(aws):
    _seed_history(aws, "cust_velocity", [Decimal("10")] * 6)
    _seed_history(aws, "cust_velocity_old", [Decimal("10")] * 6, age_seconds=3 * 86400)
    before = aws.helpers.scan(ACTIVITY_TABLE)
    resp = _fraud(valid_payload(customer_id="cust_velocity", amount="50"))
    assert resp["statusCode"] == 200
    body = json.loads(resp["body"])
    assert body["reasons"] == ["HIGH_VELOCITY"]
    assert body["risk_score"] == 20 and body["risk_level"] == "LOW"
    assert body["recent_transaction_count"] == 6
    # history outside FRAUD_WINDOW_SECONDS is ignored
    old = json.loads(_fraud(valid_payload(customer_id="cust_velocity_old", amount="50"))["body"])
    assert old["risk_score"] == 0 and old["recent_transaction_count"] == 0
    assert aws.helpers.scan(ACTIVITY_TABLE) == before
    assert aws.helpers.scan(TRANSACTION_TABLE) == []
    assert aws.helpers.scan(IDEMPOTENCY_TABLE) == []


def test_fraud_check_query_is_bounded(aws, monkeypatch):
    monkeypatch.setenv("FRAUD_QUERY_LIMIT", "3")
    _seed_history(aws, "cust_many", [Decimal("1")] * 10)
    body = json.loads(_fraud(valid_payload(customer_id="cust_many"))["body"])
    assert body["recent_transaction_count"] == 3
    assert "HIGH_VELOCITY" not in body["reasons"]


def test_fraud_check_high_value_medium(aws):
    body = json.loads(_fraud(valid_payload(amount="10000.01"))["body"])
    assert (body["risk_score"], body["risk_level"], body["requires_review"]) == (30, "MEDIUM", False)
    body = json.loads(_fraud(valid_payload(amount="10000.00"))["body"])
    assert body["risk_score"] == 0


def test_idempotent_retry_returns_same_response_and_one_item(aws):
    first = _process(valid_payload(), key="retry-key")
    second = _process(valid_payload(), key="retry-key")
    # whitespace/separators/equivalent amount spelling do not change the request
    third = _process(valid_payload(card_number="4111-1111-1111-1111", amount="12.340"),
                     key="retry-key")
    assert first["statusCode"] == second["statusCode"] == third["statusCode"] == 200
    assert second["body"] == first["body"] == third["body"]
    assert second["headers"]["Idempotent-Replay"] == "true"
    assert "Idempotent-Replay" not in first["headers"]
    assert len(aws.helpers.transactions()) == 1
    assert len(aws.helpers.idempotency_records()) == 1


def test_idempotency_header_is_case_insensitive(aws):
    import process_handler
    a = process_handler.handler(api_event(valid_payload(), headers={"idempotency-key": "ci-key"},
                                          path="/process"), None)
    b = process_handler.handler(api_event(valid_payload(), headers={"IDEMPOTENCY-KEY": "ci-key"},
                                          path="/process"), None)
    assert a["statusCode"] == 200 and b["body"] == a["body"]
    assert b["headers"]["Idempotent-Replay"] == "true"
    assert len(aws.helpers.transactions()) == 1


@pytest.mark.parametrize("change", [
    {"amount": "12.35"}, {"currency": "EUR"}, {"customer_id": "cust_002"},
    {"card_number": MASTERCARD},
])
def test_idempotency_key_reuse_with_different_body_is_422(aws, change, capsys):
    assert _process(valid_payload(), key="reuse-key")["statusCode"] == 200
    resp = _process(valid_payload(**change), key="reuse-key")
    assert resp["statusCode"] == 422
    error = json.loads(resp["body"])["error"]
    assert error["code"] == "IDEMPOTENCY_KEY_REUSED"
    assert error["correlation_id"] == resp["headers"]["X-Correlation-Id"]
    assert len(aws.helpers.transactions()) == 1
    assert not contains_pan(resp["body"] + capsys.readouterr().out)


def test_idempotency_conflict_detected_inside_transaction(aws, monkeypatch):
    """Race path: the pre-read misses, the TransactWriteItems condition catches it."""
    from payments_core import repository
    assert _process(valid_payload(), key="race-key")["statusCode"] == 200
    real_get = repository.get_idempotency_record
    calls = {"n": 0}

    def first_read_misses(*args, **kwargs):
        calls["n"] += 1
        return None if calls["n"] == 1 else real_get(*args, **kwargs)

    monkeypatch.setattr(repository, "get_idempotency_record", first_read_misses)
    replay = _process(valid_payload(), key="race-key")
    assert replay["statusCode"] == 200 and replay["headers"]["Idempotent-Replay"] == "true"
    calls["n"] = 0
    reused = _process(valid_payload(amount="1.00"), key="race-key")
    assert reused["statusCode"] == 422
    assert len(aws.helpers.transactions()) == 1


def test_expired_idempotency_record_does_not_block_new_payment(aws):
    aws.ddb.put_item(TableName=IDEMPOTENCY_TABLE, Item={
        "idempotency_key": {"S": _record_key(aws, "old-key")}, "request_hash": {"S": "0" * 64},
        "transaction_id": {"S": "x"}, "response": {"S": "{}"},
        "expires_at": {"N": str(int(time.time()) - 10)}})
    resp = _process(valid_payload(), key="old-key")
    assert resp["statusCode"] == 200 and "Idempotent-Replay" not in resp["headers"]
    assert len(aws.helpers.transactions()) == 1


@pytest.fixture
def serialized_dynamodb(monkeypatch):
    """Make moto's DynamoDB backend serialisable, like the real service.

    moto's TransactWriteItems is not atomic across threads (it snapshots and
    restores whole tables); real DynamoDB is. The lock models the server side
    only: the handler threads still race on read-check-write.
    """
    from moto.dynamodb.models import DynamoDBBackend
    lock = threading.RLock()
    for name in ("transact_write_items", "get_item", "query", "put_item", "scan"):
        original = getattr(DynamoDBBackend, name)

        def locked(self, *args, __original=original, **kwargs):
            with lock:
                return __original(self, *args, **kwargs)
        monkeypatch.setattr(DynamoDBBackend, name, locked)


def _in_threads(call, n, timeout):
    """``call(i)`` for i in 0..n-1, each in its own thread; their results in order. Fails on any
    exception a call raised."""
    results, errors = [None] * n, []

    def worker(i):
        try:
            results[i] = call(i)
        except Exception as exc:  # pragma: no cover - surfaced below
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=timeout)
    assert not errors
    return results


def test_concurrent_duplicates_yield_one_transaction_and_one_audit_object(
        aws, serialized_dynamodb, capsys):
    import audit_writer_handler
    import process_handler
    from payments_core import aws as core_aws
    core_aws.client("dynamodb")  # warm the shared client (as in a warm container)

    threads_n = 8
    barrier = threading.Barrier(threads_n)

    def pay(_i):
        barrier.wait(timeout=10)
        return process_handler.handler(api_event(
            valid_payload(card_number=AMEX, amount="250.00", currency="EUR"),
            headers={"Idempotency-Key": "concurrent-key"}, path="/process"), None)

    results = _in_threads(pay, threads_n, timeout=30)
    assert all(r is not None and r["statusCode"] == 200 for r in results), results
    assert len({r["body"] for r in results}) == 1
    assert sum("Idempotent-Replay" not in r["headers"] for r in results) == 1

    transactions = aws.helpers.transactions()
    assert len(transactions) == 1
    assert len(aws.helpers.idempotency_records()) == 1

    event = aws.helpers.stream_event()
    inserts = [r for r in event["Records"] if r["eventName"] == "INSERT"]
    assert len(inserts) == 1
    # deliver the batch twice (a Lambda retry): still exactly one object
    assert audit_writer_handler.handler(event, None) == {"batchItemFailures": []}
    assert audit_writer_handler.handler(event, None) == {"batchItemFailures": []}
    keys = aws.helpers.audit_keys()
    assert len(keys) == 1
    assert keys[0].endswith(f"/{transactions[0]['transaction_id']}.json")
    assert not contains_pan(capsys.readouterr().out)


def _parallel_payments_after_one_shared_read(monkeypatch, n):
    """``n`` payments of one customer (distinct keys), run so that every one of them has read
    the customer's activity before any of them writes: the interleaving that beats a
    read-then-write velocity check. Returns the responses, in thread order."""
    import process_handler
    from payments_core import aws as core_aws
    from payments_core import repository
    core_aws.client("sts")  # warm the shared clients (as in a warm container)
    barrier = threading.Barrier(n)
    first_read = threading.local()
    real_get_activity = repository.get_activity

    def read_then_wait_for_everyone(*args, **kwargs):
        activity = real_get_activity(*args, **kwargs)
        if not getattr(first_read, "done", False):
            first_read.done = True
            barrier.wait(timeout=20)
        return activity

    monkeypatch.setattr(repository, "get_activity", read_then_wait_for_everyone)
    return _in_threads(lambda i: process_handler.handler(api_event(
        valid_payload(amount="10.00"), headers={"Idempotency-Key": f"velocity-{i}"},
        path="/process"), None), n, timeout=60)


def test_parallel_payments_cannot_beat_the_velocity_rule(aws, serialized_dynamodb, monkeypatch,
                                                         capsys):
    from payments_core.fraud import VELOCITY_THRESHOLD
    n = VELOCITY_THRESHOLD + 1
    results = _parallel_payments_after_one_shared_read(monkeypatch, n)
    assert all(r is not None and r["statusCode"] == 200 for r in results), results
    bodies = [json.loads(r["body"]) for r in results]
    # Every payment was scored against all the ones committed before it: exactly the last
    # one saw VELOCITY_THRESHOLD earlier payments.
    assert sum("HIGH_VELOCITY" in b["reasons"] for b in bodies) == 1
    [activity] = aws.helpers.activity()
    assert activity["version"] == n and len(activity["recent"]) == n
    assert len(aws.helpers.transactions()) == n
    rescored = [json.loads(line) for line in capsys.readouterr().out.splitlines()
                if "re-scoring" in line]
    assert len(rescored) >= n - 1  # the first round had one winner; everyone else re-scored


def test_without_the_version_condition_parallel_payments_would_beat_it(aws, serialized_dynamodb,
                                                                        monkeypatch):
    """The interleaving above is real: drop the activity condition and the rule is beaten."""
    from payments_core import repository
    from payments_core.fraud import VELOCITY_THRESHOLD
    real_put = repository.activity_put

    def unconditional(*args, **kwargs):
        put = real_put(*args, **kwargs)["Put"]
        return {"Put": {"TableName": put["TableName"], "Item": put["Item"]}}

    monkeypatch.setattr(repository, "activity_put", unconditional)
    results = _parallel_payments_after_one_shared_read(monkeypatch, VELOCITY_THRESHOLD + 1)
    assert all(r["statusCode"] == 200 for r in results)
    assert not any("HIGH_VELOCITY" in json.loads(r["body"])["reasons"] for r in results)


def test_endless_contention_is_a_409_that_writes_nothing(aws, monkeypatch):
    from payments_core import repository

    def always_stale(*args, **kwargs):
        raise repository.ActivityConflict()

    monkeypatch.setattr(repository, "write_transaction", always_stale)
    resp = _process(valid_payload(), key="contended")
    assert resp["statusCode"] == 409
    assert json.loads(resp["body"])["error"]["code"] == "CONCURRENT_PAYMENTS"
    aws.helpers.assert_nothing_written()


def test_unexpected_exception_returns_generic_500(aws, monkeypatch, capsys, caplog):
    from payments_core import repository

    def boom(*args, **kwargs):
        raise RuntimeError(f"database exploded while handling {VISA} / 4111-1111-1111-1111")

    monkeypatch.setattr(repository, "get_activity", boom)
    from payments_core.log import get_logger
    logger = get_logger()
    logger.addHandler(caplog.handler)  # also check what any other handler would receive
    try:
        resp = _process(valid_payload(), key="boom-key", request_id="req-500")
    finally:
        logger.removeHandler(caplog.handler)
    assert resp["statusCode"] == 500
    error = json.loads(resp["body"])["error"]
    assert error["code"] == "INTERNAL_ERROR"
    assert error["correlation_id"] == "req-500" == resp["headers"]["X-Correlation-Id"]
    assert "exploded" not in resp["body"]
    out = capsys.readouterr().out
    lines = [json.loads(line) for line in out.splitlines()]  # one JSON object per line
    error_lines = [line for line in lines if line["level"] == "ERROR"]
    assert len(error_lines) == 1
    assert error_lines[0]["correlation_id"] == "req-500"
    assert error_lines[0]["function"] == "process"
    assert "RuntimeError" in error_lines[0]["exception"]
    assert "database exploded" in out and "req-500" in out  # it was logged...
    assert "************1111" in out
    assert not contains_pan(out)  # ...masked
    assert "database exploded" in caplog.text and not contains_pan(caplog.text)
    aws.helpers.assert_nothing_written()

    fraud = _fraud(valid_payload())
    assert fraud["statusCode"] == 500
    assert json.loads(fraud["body"])["error"]["code"] == "INTERNAL_ERROR"


def test_misconfiguration_is_a_500(aws, monkeypatch):
    monkeypatch.delenv("IDEMPOTENCY_TABLE")
    resp = _process(valid_payload())
    assert resp["statusCode"] == 500
    aws.helpers.assert_nothing_written()


def test_correlation_id_falls_back_to_uuid(aws):
    import uuid
    import validate_handler
    event = api_event(valid_payload())
    del event["requestContext"]["requestId"]
    resp = validate_handler.handler(event, None)
    assert resp["statusCode"] == 200
    uuid.UUID(resp["headers"]["X-Correlation-Id"])


def test_replay_does_not_rescore_or_query(aws, monkeypatch):
    from payments_core import repository
    first = _process(valid_payload(), key="no-rescore")

    def must_not_query(*args, **kwargs):
        raise AssertionError("a replay must not re-score")

    monkeypatch.setattr(repository, "get_activity", must_not_query)
    again = _process(valid_payload(), key="no-rescore")
    assert again["statusCode"] == 200 and again["body"] == first["body"]
    assert again["headers"]["Idempotent-Replay"] == "true"


def test_any_handler_attached_to_the_logger_sees_masked_records(aws, caplog):
    from payments_core.log import get_logger
    logger = get_logger()
    logger.addHandler(caplog.handler)
    try:
        logger.warning("customer typed %s into the wrong field", "4111 1111 1111 1111",
                       extra={"raw": VISA})
    finally:
        logger.removeHandler(caplog.handler)
    assert "************1111" in caplog.text
    assert not contains_pan(caplog.text)
    assert all(not contains_pan(str(vars(r))) for r in caplog.records)


def test_base64_encoded_body_is_decoded(aws):
    import validate_handler
    resp = validate_handler.handler(api_event(valid_payload(amount=7, currency="KRW"),
                                              base64_encoded=True), None)
    assert resp["statusCode"] == 200
    assert json.loads(resp["body"]) == {"valid": True, "card_last4": "1111", "amount": "7",
                                        "currency": "KRW"}


def test_log_level_is_read_from_the_environment(aws, monkeypatch, capsys):
    import validate_handler
    monkeypatch.setenv("LOG_LEVEL", "ERROR")
    validate_handler.handler(api_event(valid_payload()), None)
    assert capsys.readouterr().out == ""
    monkeypatch.setenv("LOG_LEVEL", "DEBUG")
    validate_handler.handler(api_event(valid_payload(), request_id="req-debug"), None)
    line = json.loads(capsys.readouterr().out.splitlines()[-1])
    assert line["correlation_id"] == "req-debug" and line["function"] == "validate"
