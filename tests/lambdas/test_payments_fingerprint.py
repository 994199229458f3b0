"""card_fingerprint is a KMS HMAC (GenerateMac) of the domain-separated PAN (moto-backed).

PCI DSS v4.0 req. 3.5.1.1: the stored fingerprint and the idempotency request
hash must come from a keyed hash. The key (HMAC_256, GENERATE_VERIFY_MAC) lives
in KMS; /process gets its ARN as CARD_FINGERPRINT_KEY_ID and must refuse to run
without it (no unkeyed fallback). /validate and /fraud-check never need it.
"""
from __future__ import annotations

import hashlib
import json

import pytest
from botocore.stub import Stubber

from payments_testkit import (AMEX, MASTERCARD, VISA, api_event, contains_pan,
                              create_hmac_key, valid_payload)

DOMAIN = b"payments-core/card-fingerprint/v2:"


def _process(body, key):
    import process_handler
    return process_handler.handler(api_event(body, headers={"Idempotency-Key": key},
                                             path="/process"), None)


def _kms_mac(aws, key_arn, pan):
    """The expected fingerprint, computed independently through the KMS API."""
    mac = aws.kms.generate_mac(KeyId=key_arn, MacAlgorithm="HMAC_SHA_256",
                               Message=DOMAIN + pan.encode("ascii"))["Mac"]
    return mac.hex()


def _stored(aws, transaction_id):
    [item] = [t for t in aws.helpers.transactions() if t["transaction_id"] == transaction_id]
    [record] = [r for r in aws.helpers.idempotency_records()
                if r["transaction_id"] == transaction_id]
    return item, record


@pytest.fixture
def mac_calls():
    """Count GenerateMac calls made through the cached payments_core KMS client."""
    from payments_core import aws as core_aws
    calls = []
    core_aws.client("kms").meta.events.register(
        "before-parameter-build.kms.GenerateMac",
        lambda params, **kw: calls.append(params["KeyId"]))
    return calls


def test_stored_fingerprint_is_the_kms_mac_of_the_domain_separated_pan(aws, capsys):
    resp = _process(valid_payload(card_number="4111 1111-1111 1111", amount="12.34"), "fp-1")
    assert resp["statusCode"] == 200, resp
    item, record = _stored(aws, json.loads(resp["body"])["transaction_id"])

    expected = _kms_mac(aws, aws.fingerprint_key_arn, VISA)
    assert item["card_fingerprint"] == expected and len(expected) == 64
    # not an unkeyed hash (plain or domain-separated)
    assert expected != hashlib.sha256(VISA.encode()).hexdigest()
    assert expected != hashlib.sha256(DOMAIN + VISA.encode()).hexdigest()
    # the idempotency request hash is built from the same keyed fingerprint
    canonical = json.dumps({"amount": "12.34", "card_fingerprint": expected, "currency": "USD",
                            "customer_id": "cust_001"}, sort_keys=True, separators=(",", ":"))
    assert record["request_hash"] == hashlib.sha256(canonical.encode()).hexdigest()
    assert not contains_pan(json.dumps(aws.helpers.scan("test-transactions")))
    assert not contains_pan(capsys.readouterr().out)


def test_different_keys_give_different_fingerprints(aws, monkeypatch):
    first = json.loads(_process(valid_payload(card_number=AMEX), "key-a-1")["body"])
    same = json.loads(_process(valid_payload(card_number=AMEX), "key-a-2")["body"])
    other_key = create_hmac_key(aws.kms, "rotated-fingerprint-key")
    monkeypatch.setenv("CARD_FINGERPRINT_KEY_ID", other_key)
    other = json.loads(_process(valid_payload(card_number=AMEX), "key-b-1")["body"])

    fp_a = _stored(aws, first["transaction_id"])[0]["card_fingerprint"]
    fp_a2 = _stored(aws, same["transaction_id"])[0]["card_fingerprint"]
    fp_b = _stored(aws, other["transaction_id"])[0]["card_fingerprint"]
    assert fp_a == fp_a2 == _kms_mac(aws, aws.fingerprint_key_arn, AMEX)  # deterministic
    assert fp_b == _kms_mac(aws, other_key, AMEX)
    assert fp_a != fp_b


def test_one_generate_mac_call_per_request_on_a_cached_client(aws, mac_calls):
    from payments_core import aws as core_aws
    kms = core_aws.client("kms")
    assert _process(valid_payload(), "once-1")["statusCode"] == 200          # new payment
    # the fingerprint, plus (once per container and key) the Idempotency-Key digest secret
    assert mac_calls == [aws.fingerprint_key_arn] * 2
    assert _process(valid_payload(), "once-1")["statusCode"] == 200          # replay
    assert _process(valid_payload(amount="1.00"), "once-1")["statusCode"] == 422  # reuse
    assert len(mac_calls) == 4
    assert core_aws.client("kms") is kms


def test_validate_and_fraud_check_never_need_the_key(aws, monkeypatch, mac_calls):
    import fraud_check_handler
    import validate_handler
    for configured in (True, False):
        if not configured:
            monkeypatch.delenv("CARD_FINGERPRINT_KEY_ID")
        assert validate_handler.handler(api_event(valid_payload()), None)["statusCode"] == 200
        assert fraud_check_handler.handler(api_event(valid_payload(), path="/fraud-check"),
                                           None)["statusCode"] == 200
    assert mac_calls == []
    aws.helpers.assert_nothing_written()


@pytest.mark.parametrize("value", [None, "", "   "])
def test_process_without_the_key_is_a_500_and_writes_nothing(aws, monkeypatch, capsys,
                                                              mac_calls, value):
    if value is None:
        monkeypatch.delenv("CARD_FINGERPRINT_KEY_ID")
    else:
        monkeypatch.setenv("CARD_FINGERPRINT_KEY_ID", value)
    resp = _process(valid_payload(card_number=MASTERCARD), "no-key")
    assert resp["statusCode"] == 500
    assert json.loads(resp["body"])["error"]["code"] == "INTERNAL_ERROR"
    assert mac_calls == []  # no fallback and no attempt
    aws.helpers.assert_nothing_written()
    out = capsys.readouterr().out
    assert "CARD_FINGERPRINT_KEY_ID" in out  # the operator sees why
    assert not contains_pan(out + resp["body"])


def _assert_kms_failure(aws, capsys, caplog, resp, code):
    assert resp["statusCode"] == 500
    error = json.loads(resp["body"])["error"]
    assert error["code"] == "INTERNAL_ERROR"
    aws.helpers.assert_nothing_written()
    out = capsys.readouterr().out
    [line] = [json.loads(x) for x in out.splitlines() if json.loads(x)["level"] == "ERROR"]
    assert "CardFingerprintError" in line["exception"] and code in line["exception"]
    assert not contains_pan(out + caplog.text + resp["body"])


def test_kms_access_denied_is_a_500_and_writes_nothing(aws, capsys, caplog):
    from payments_core import aws as core_aws
    from payments_core.log import get_logger
    logger = get_logger()
    logger.addHandler(caplog.handler)
    stubber = Stubber(core_aws.client("kms"))
    stubber.add_client_error(
        "generate_mac", service_error_code="AccessDeniedException", http_status_code=400,
        service_message=f"not authorized to perform kms:GenerateMac (input {VISA})",
        expected_params={"KeyId": aws.fingerprint_key_arn, "MacAlgorithm": "HMAC_SHA_256",
                         "Message": DOMAIN + VISA.encode()})
    try:
        with stubber:
            resp = _process(valid_payload(card_number="4111-1111-1111-1111"), "denied")
            stubber.assert_no_pending_responses()
    finally:
        logger.removeHandler(caplog.handler)
    _assert_kms_failure(aws, capsys, caplog, resp, "AccessDeniedException")


def test_key_with_the_wrong_usage_is_a_500_and_writes_nothing(aws, monkeypatch, capsys, caplog):
    # e.g. the audit (ENCRYPT_DECRYPT) key configured by mistake: KMS rejects GenerateMac.
    monkeypatch.setenv("CARD_FINGERPRINT_KEY_ID", aws.kms_key_arn)
    resp = _process(valid_payload(), "wrong-usage")
    _assert_kms_failure(aws, capsys, caplog, resp, "InvalidKeyUsageException")
