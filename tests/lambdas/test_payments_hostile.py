"""Hostile inputs against all three API routes (moto-backed).

Each case must produce HTTP 400 with the expected error code, write nothing
(both tables and the audit bucket stay empty), and never show a card number
in the response body or in the logs.
"""
from __future__ import annotations

import base64
import json

import pytest

from payments_testkit import AMEX, DROP, api_event, contains_pan, valid_payload

ROUTES = ("validate", "fraud_check", "process")
PATHS = {"validate": "/validate", "fraud_check": "/fraud-check", "process": "/process"}


def _raw(text):
    """Marker: send ``text`` as the body verbatim."""
    return ("raw", text)


def _p(**overrides):
    return ("json", valid_payload(**overrides))


# (id, body, expected code, expected field)
CASES = [
    ("missing-body", _raw(None), "MISSING_BODY", None),
    ("empty-body", _raw(""), "MISSING_BODY", None),
    ("malformed-json", _raw('{"customer_id": "c1", "card_number": "4111111111111111",'),
     "INVALID_JSON", None),
    ("not-json", _raw("customer_id=c1&card_number=4111111111111111"), "INVALID_JSON", None),
    ("deeply-nested", _raw("[" * 4000 + "]" * 4000), "INVALID_JSON", None),
    ("duplicate-keys", _raw('{"customer_id":"c1","amount":"1.00","amount":"999999",'
                            '"currency":"USD","card_number":"4111111111111111"}'),
     "INVALID_JSON", None),
    ("body-array", _raw("[]"), "INVALID_BODY_TYPE", None),
    ("body-string", _raw('"x"'), "INVALID_BODY_TYPE", None),
    ("body-number", _raw("1"), "INVALID_BODY_TYPE", None),
    ("body-null", _raw("null"), "INVALID_BODY_TYPE", None),
    ("oversize-body", _raw(json.dumps({**valid_payload(), "pad": "A" * 9000})),
     "BODY_TOO_LARGE", None),
    ("unknown-field", ("json", {**valid_payload(), "cvv": "123"}), "UNKNOWN_FIELD", None),
    ("missing-customer_id", _p(customer_id=DROP), "MISSING_FIELD", "customer_id"),
    ("missing-amount", _p(amount=DROP), "MISSING_FIELD", "amount"),
    ("missing-currency", _p(currency=DROP), "MISSING_FIELD", "currency"),
    ("missing-card_number", _p(card_number=DROP), "MISSING_FIELD", "card_number"),
    ("customer_id-int", _p(customer_id=12345), "INVALID_CUSTOMER_ID", "customer_id"),
    ("customer_id-empty", _p(customer_id=""), "INVALID_CUSTOMER_ID", "customer_id"),
    ("customer_id-too-long", _p(customer_id="c" * 65), "INVALID_CUSTOMER_ID", "customer_id"),
    ("customer_id-sqli", _p(customer_id="' OR 1=1 --"), "INVALID_CUSTOMER_ID", "customer_id"),
    ("customer_id-xss", _p(customer_id="<script>alert(1)</script>"),
     "INVALID_CUSTOMER_ID", "customer_id"),
    ("customer_id-traversal", _p(customer_id="../../etc/passwd"),
     "INVALID_CUSTOMER_ID", "customer_id"),
    ("customer_id-newline", _p(customer_id="cust\n"), "INVALID_CUSTOMER_ID", "customer_id"),
    ("customer_id-nosql", _p(customer_id={"$ne": None}), "INVALID_CUSTOMER_ID", "customer_id"),
    ("amount-NaN", _raw('{"customer_id":"c1","amount":NaN,"currency":"USD",'
                        '"card_number":"4111111111111111"}'), "INVALID_AMOUNT", "amount"),
    ("amount-Infinity", _raw('{"customer_id":"c1","amount":Infinity,"currency":"USD",'
                             '"card_number":"4111111111111111"}'), "INVALID_AMOUNT", "amount"),
    ("amount--Infinity", _raw('{"customer_id":"c1","amount":-Infinity,"currency":"USD",'
                              '"card_number":"4111111111111111"}'), "INVALID_AMOUNT", "amount"),
    ("amount-1e309", _raw('{"customer_id":"c1","amount":1e309,"currency":"USD",'
                          '"card_number":"4111111111111111"}'), "AMOUNT_TOO_LARGE", "amount"),
    ("amount-huge-int", _raw('{"customer_id":"c1","amount":' + "9" * 5000 + ',"currency":"USD",'
                             '"card_number":"4111111111111111"}'), "AMOUNT_TOO_LARGE", "amount"),
    ("amount-true", _p(amount=True), "INVALID_AMOUNT", "amount"),
    ("amount-null", _p(amount=None), "INVALID_AMOUNT", "amount"),
    ("amount-list", _p(amount=["1.00"]), "INVALID_AMOUNT", "amount"),
    ("amount-string-NaN", _p(amount="NaN"), "INVALID_AMOUNT", "amount"),
    ("amount-string-exponent", _p(amount="1e3"), "INVALID_AMOUNT", "amount"),
    ("amount-string-words", _p(amount="ten dollars"), "INVALID_AMOUNT", "amount"),
    ("amount-string-unicode-digits", _p(amount="١٢"), "INVALID_AMOUNT", "amount"),
    ("amount-zero", _p(amount="0"), "AMOUNT_NOT_POSITIVE", "amount"),
    ("amount-zero-number", _p(amount=0), "AMOUNT_NOT_POSITIVE", "amount"),
    ("amount-negative", _p(amount="-5.00"), "AMOUNT_NOT_POSITIVE", "amount"),
    ("amount-negative-number", _p(amount=-1), "AMOUNT_NOT_POSITIVE", "amount"),
    ("amount-too-precise-usd", _p(amount="1.001"), "AMOUNT_TOO_PRECISE", "amount"),
    ("amount-too-precise-jpy", _p(amount="100.5", currency="JPY"), "AMOUNT_TOO_PRECISE", "amount"),
    ("amount-too-precise-kwd", _p(amount="1.0001", currency="KWD"),
     "AMOUNT_TOO_PRECISE", "amount"),
    ("amount-over-max", _p(amount="1000000.01"), "AMOUNT_TOO_LARGE", "amount"),
    ("currency-unknown", _p(currency="XYZ"), "UNSUPPORTED_CURRENCY", "currency"),
    ("currency-metal", _p(currency="XAU"), "UNSUPPORTED_CURRENCY", "currency"),
    ("currency-lowercase", _p(currency="usd"), "INVALID_CURRENCY", "currency"),
    ("currency-int", _p(currency=840), "INVALID_CURRENCY", "currency"),
    ("currency-long", _p(currency="USDX"), "INVALID_CURRENCY", "currency"),
    ("card-int", _p(card_number=4111111111111111), "INVALID_CARD_NUMBER", "card_number"),
    ("card-letters", _p(card_number="4111-1111-1111-111a"), "INVALID_CARD_NUMBER", "card_number"),
    ("card-arabic-indic-digits", _p(card_number="٤١١١١١١١١١١١١١١١"),
     "INVALID_CARD_NUMBER", "card_number"),
    ("card-fullwidth-digits", _p(card_number="４１１１１１１１１１１１１１１１"),
     "INVALID_CARD_NUMBER", "card_number"),
    ("card-luhn-invalid", _p(card_number="4111111111111112"),
     "CARD_NUMBER_CHECKSUM_FAILED", "card_number"),
    ("card-too-short", _p(card_number="411111111111"), "INVALID_CARD_NUMBER_LENGTH", "card_number"),
    ("card-too-long", _p(card_number="41111111111111111113"),
     "INVALID_CARD_NUMBER_LENGTH", "card_number"),
    ("card-only-separators", _p(card_number=" - - "), "INVALID_CARD_NUMBER", "card_number"),
    ("card-tab-separated", _p(card_number="4111\t1111\t1111\t1111"),
     "INVALID_CARD_NUMBER", "card_number"),
]

BASE64_CASES = [
    ("base64-garbage", "!!!not base64!!!", "INVALID_ENCODING"),
    ("base64-not-utf8", base64.b64encode(b"\xff\xfe{\"a\":1}").decode(), "INVALID_ENCODING"),
    ("base64-oversize", base64.b64encode(b" " * 9000).decode(), "BODY_TOO_LARGE"),
    ("base64-luhn-invalid",
     base64.b64encode(json.dumps(valid_payload(card_number="4111111111111121")).encode()).decode(),
     "CARD_NUMBER_CHECKSUM_FAILED"),
]


def _body_text(spec):
    kind, value = spec
    return json.dumps(value) if kind == "json" else value


def _invoke(route, body, *, base64_encoded=False, headers=None):
    import fraud_check_handler
    import process_handler
    import validate_handler
    handler = {"validate": validate_handler, "fraud_check": fraud_check_handler,
               "process": process_handler}[route].handler
    if headers is None:
        headers = {"Content-Type": "application/json"}
        if route == "process":
            headers["Idempotency-Key"] = "hostile-key-1"
    event = api_event(None, headers=headers, path=PATHS[route], request_id="req-hostile")
    event["body"] = body
    event["isBase64Encoded"] = base64_encoded
    return handler(event, None)


def _assert_rejected(env, capsys, resp, code, field=None):
    assert resp["statusCode"] == 400, resp
    assert resp["headers"]["Content-Type"] == "application/json"
    assert resp["headers"]["X-Correlation-Id"] == "req-hostile"
    error = json.loads(resp["body"])["error"]
    assert error["code"] == code
    assert error["correlation_id"] == "req-hostile"
    assert error["field"] == field
    assert isinstance(error["message"], str) and error["message"]
    assert not contains_pan(resp["body"])
    assert not contains_pan(capsys.readouterr().out)
    env.helpers.assert_nothing_written()
    return error


@pytest.mark.parametrize("route", ROUTES)
@pytest.mark.parametrize("case_id,spec,code,field", CASES, ids=[c[0] for c in CASES])
def test_hostile_body_rejected(shared_aws, capsys, route, case_id, spec, code, field):
    error = _assert_rejected(shared_aws, capsys, _invoke(route, _body_text(spec)), code, field)
    # The message never echoes the input (e.g. the injection strings).
    for needle in ("OR 1=1", "<script>", "../", "NaN", "ten dollars", "cvv", "XYZ"):
        assert needle not in error["message"]


@pytest.mark.parametrize("route", ROUTES)
@pytest.mark.parametrize("case_id,body,code", BASE64_CASES, ids=[c[0] for c in BASE64_CASES])
def test_hostile_base64_body_rejected(shared_aws, capsys, route, case_id, body, code):
    field = "card_number" if code == "CARD_NUMBER_CHECKSUM_FAILED" else None
    _assert_rejected(shared_aws, capsys, _invoke(route, body, base64_encoded=True), code, field)


IDEMPOTENCY_HEADER_CASES = [
    ("no-headers", None, "MISSING_IDEMPOTENCY_KEY"),
    ("header-absent", {"Content-Type": "application/json"}, "MISSING_IDEMPOTENCY_KEY"),
    ("header-empty", {"Idempotency-Key": ""}, "MISSING_IDEMPOTENCY_KEY"),
    ("header-too-long", {"Idempotency-Key": "k" * 129}, "INVALID_IDEMPOTENCY_KEY"),
    ("header-spaces", {"Idempotency-Key": "key with spaces"}, "INVALID_IDEMPOTENCY_KEY"),
    ("header-traversal", {"Idempotency-Key": "../../x"}, "INVALID_IDEMPOTENCY_KEY"),
    ("header-sqli", {"idempotency-key": "' OR 1=1 --"}, "INVALID_IDEMPOTENCY_KEY"),
    ("header-unicode", {"Idempotency-Key": "ключ"}, "INVALID_IDEMPOTENCY_KEY"),
    ("header-is-pan", {"Idempotency-Key": "4111 1111 1111 1111"}, "INVALID_IDEMPOTENCY_KEY"),
]


@pytest.mark.parametrize("case_id,headers,code", IDEMPOTENCY_HEADER_CASES,
                         ids=[c[0] for c in IDEMPOTENCY_HEADER_CASES])
def test_process_requires_valid_idempotency_key(shared_aws, capsys, case_id, headers, code):
    import process_handler
    event = api_event(valid_payload(), path="/process", request_id="req-hostile")
    event["headers"] = headers
    _assert_rejected(shared_aws, capsys, process_handler.handler(event, None), code, "Idempotency-Key")


def test_valid_request_is_accepted_on_every_route(shared_aws, capsys):
    """Control case: the fixture payload itself is accepted (the tests above can fail)."""
    for route in ROUTES:
        resp = _invoke(route, json.dumps(valid_payload(card_number=AMEX)))
        assert resp["statusCode"] == 200, resp
    assert not contains_pan(capsys.readouterr().out)
    assert len(shared_aws.helpers.transactions()) == 1
