"""Pure business-rule tests (no AWS), including property-based tests."""
from __future__ import annotations

import hashlib
import hmac
import json
import logging
from decimal import Decimal

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from botocore.exceptions import ClientError, EndpointConnectionError, ParamValidationError

from payments_core import PAYMENT_REQUEST_SCHEMA
from payments_core.cardsec import (CardFingerprintError, canonical_request, card_fingerprint,
                                   fingerprint_message, request_hash)
from payments_core.config import load_config
from payments_core.currencies import MINOR_UNITS
from payments_core.errors import ConfigurationError, ValidationError
from payments_core.fraud import HistoricalTransaction, risk_level, score_transaction
from payments_core.log import PanMaskingFilter, JsonFormatter, mask_pans
from payments_core.validation import (decimal_places, format_amount, luhn_check_digit,
                                      luhn_valid, normalize_card_number, parse_amount,
                                      parse_json_object, validate_payment)

from payments_testkit import KNOWN_PANS, VISA

PROPS = settings(max_examples=200, deadline=None)
MAX = Decimal("1000000")

digit_strings = st.text(alphabet="0123456789", min_size=12, max_size=18)


@st.composite
def valid_pans(draw):
    body = draw(digit_strings)
    return body + luhn_check_digit(body)


# ------------------------------------------------------------------------- Luhn

def test_known_test_pans_are_luhn_valid():
    for pan in KNOWN_PANS:
        assert luhn_valid(pan), pan
    assert not luhn_valid("4111111111111112")
    assert not luhn_valid("")
    assert not luhn_valid("４１１１１１１１１１１１１１１１")


@PROPS
@given(valid_pans(), st.data())
def test_luhn_single_digit_change_is_detected(pan, data):
    assert luhn_valid(pan)
    index = data.draw(st.integers(0, len(pan) - 1))
    replacement = data.draw(st.sampled_from("0123456789").filter(lambda d: d != pan[index]))
    assert not luhn_valid(pan[:index] + replacement + pan[index + 1:])


@PROPS
@given(valid_pans(), st.sampled_from([" ", "-"]))
def test_card_normalization_strips_separators(pan, sep):
    spaced = sep.join(pan[i:i + 4] for i in range(0, len(pan), 4))
    assert normalize_card_number(spaced) == pan


@PROPS
@given(valid_pans(), st.data())
def test_unicode_digits_are_rejected(pan, data):
    index = data.draw(st.integers(0, len(pan) - 1))
    # Arabic-Indic, fullwidth and Devanagari digits: str.isdigit() is True for them.
    exotic = data.draw(st.sampled_from(["\u0660", "\uff10", "\u0966"]))
    foreign = chr(ord(exotic) + int(pan[index]))
    assert foreign.isdigit()
    with pytest.raises(ValidationError) as exc:
        normalize_card_number(pan[:index] + foreign + pan[index + 1:])
    assert exc.value.code == "INVALID_CARD_NUMBER"


@pytest.mark.parametrize("digits,ok", [(12, False), (13, True), (19, True), (20, False)])
def test_card_length_bounds(digits, ok):
    body = "4" + "1" * (digits - 2)
    pan = body + luhn_check_digit(body)
    if ok:
        assert normalize_card_number(pan) == pan
    else:
        with pytest.raises(ValidationError) as exc:
            normalize_card_number(pan)
        assert exc.value.code == "INVALID_CARD_NUMBER_LENGTH"


# ---------------------------------------------------------------------- amounts

@PROPS
@given(st.sampled_from(sorted(MINOR_UNITS)), st.data())
def test_amount_round_trips_exactly_per_currency(currency, data):
    places = MINOR_UNITS[currency]
    minor = data.draw(st.integers(1, 10 ** 8 * 10 ** places))
    amount = Decimal(minor).scaleb(-places)
    assume(amount <= MAX)
    text = format_amount(amount, currency)
    parsed_str = parse_amount(text, currency, MAX)
    parsed_num = parse_json_object(json.dumps({"a": 0}).replace("0", text))["a"]
    assert isinstance(parsed_num, Decimal)
    assert parse_amount(parsed_num, currency, MAX) == parsed_str == amount
    assert format_amount(parsed_str, currency) == text
    assert decimal_places(parsed_str) <= places


@PROPS
@given(st.sampled_from(sorted(MINOR_UNITS)), st.integers(1, 10 ** 6), st.integers(1, 9))
def test_amount_one_place_too_many_is_rejected(currency, whole, last_digit):
    places = MINOR_UNITS[currency]
    text = f"{whole % 1000}." + "0" * places + str(last_digit)
    with pytest.raises(ValidationError) as exc:
        parse_amount(text, currency, MAX)
    assert exc.value.code == "AMOUNT_TOO_PRECISE"


@pytest.mark.parametrize("currency,text,expected", [
    ("USD", "12.3", "12.30"), ("USD", "12.340", "12.34"), ("JPY", "100", "100"),
    ("JPY", "100.000", "100"), ("KRW", "5", "5"), ("BHD", "1.234", "1.234"),
    ("KWD", "0.001", "0.001"), ("EUR", "1000000", "1000000.00"), ("GBP", "0.01", "0.01"),
])
def test_amount_examples(currency, text, expected):
    assert format_amount(parse_amount(text, currency, MAX), currency) == expected


def test_amount_parser_never_uses_float():
    data = parse_json_object('{"a": 0.1, "b": 10, "c": 1e2}')
    assert all(isinstance(v, Decimal) for v in data.values())
    assert data["a"] + data["a"] + data["a"] == Decimal("0.3")
    with pytest.raises(ValidationError):
        parse_amount(0.1, "USD", MAX)  # a float handed in directly is refused
    with pytest.raises(ValidationError):
        parse_amount(True, "USD", MAX)


@pytest.mark.parametrize("raw,code", [
    ("NaN", "INVALID_AMOUNT"), ("Infinity", "INVALID_AMOUNT"), ("-Infinity", "INVALID_AMOUNT"),
    ("1e309", "AMOUNT_TOO_LARGE"), ("1e-9", "AMOUNT_TOO_PRECISE"), ("true", "INVALID_AMOUNT"),
    ("-0", "AMOUNT_NOT_POSITIVE"), ("0.00", "AMOUNT_NOT_POSITIVE"),
])
def test_special_json_amounts(raw, code):
    data = parse_json_object('{"customer_id":"c","amount":%s,"currency":"USD",'
                             '"card_number":"%s"}' % (raw, VISA))
    with pytest.raises(ValidationError) as exc:
        validate_payment(data, MAX)
    assert exc.value.code == code


def test_max_amount_is_configurable(monkeypatch):
    monkeypatch.setenv("MAX_AMOUNT", "500.00")
    cfg = load_config()
    assert cfg.max_amount == Decimal("500.00")
    assert parse_amount("500", "USD", cfg.max_amount) == Decimal("500.00")
    with pytest.raises(ValidationError):
        parse_amount("500.01", "USD", cfg.max_amount)
    monkeypatch.setenv("MAX_AMOUNT", "lots")
    with pytest.raises(ConfigurationError):
        load_config()


def test_config_defaults(monkeypatch):
    for name in ("MAX_AMOUNT", "CUSTOMER_ACTIVITY_TABLE", "MERCHANT_DATA_ROLE_ARN",
                 "FRAUD_WINDOW_SECONDS", "FRAUD_QUERY_LIMIT",
                 "IDEMPOTENCY_TTL_SECONDS", "AUDIT_PREFIX", "LOG_LEVEL"):
        monkeypatch.delenv(name, raising=False)
    cfg = load_config()
    assert (cfg.max_amount, cfg.activity_table, cfg.merchant_data_role_arn,
            cfg.fraud_window_seconds, cfg.fraud_query_limit,
            cfg.idempotency_ttl_seconds, cfg.audit_prefix, cfg.log_level) == (
        Decimal("1000000"), None, None, 86400, 100, 86400, "audit/", "INFO")
    monkeypatch.setenv("FRAUD_QUERY_LIMIT", "0")
    with pytest.raises(ConfigurationError):
        load_config()


# ------------------------------------------------------------------------ fraud

def _history(n, amount="10", currency="USD"):
    return [HistoricalTransaction(Decimal(amount), currency, 0) for _ in range(n)]


@pytest.mark.parametrize("amount,history,score,level,review,reasons", [
    ("10000", [], 0, "LOW", False, []),
    ("10000.01", [], 30, "MEDIUM", False, ["HIGH_VALUE"]),
    ("10", _history(4), 0, "LOW", False, []),
    ("10", _history(5), 20, "LOW", False, ["HIGH_VELOCITY"]),
    ("100", _history(1), 0, "LOW", False, []),             # exactly 10x: not a spike
    ("100.01", _history(1), 40, "MEDIUM", False, ["AMOUNT_SPIKE"]),
    ("20000", _history(5, "5000"), 50, "HIGH", True, ["HIGH_VALUE", "HIGH_VELOCITY"]),
    ("20000", _history(5, "100"), 90, "HIGH", True,
     ["HIGH_VALUE", "HIGH_VELOCITY", "AMOUNT_SPIKE"]),
    ("200", _history(1, "10", "EUR"), 0, "LOW", False, []),  # spike compares same currency
])
def test_fraud_rule_table(amount, history, score, level, review, reasons):
    result = score_transaction(Decimal(amount), "USD", history)
    assert (result.score, result.level, result.requires_review, list(result.reasons)) == (
        score, level, review, reasons)


@PROPS
@given(st.decimals(min_value=Decimal("0.01"), max_value=Decimal("1000000"), places=2),
       st.lists(st.decimals(min_value=Decimal("0.01"), max_value=Decimal("100000"), places=2),
                max_size=12))
def test_fraud_score_properties(amount, amounts):
    history = [HistoricalTransaction(a, "USD", 0) for a in amounts]
    result = score_transaction(amount, "USD", history)
    expected = (30 if amount > 10000 else 0) + (20 if len(amounts) >= 5 else 0)
    if amounts and amount > 10 * (sum(amounts) / len(amounts)):
        expected += 40
    assert result.score == expected
    assert result.level == risk_level(result.score)
    assert result.requires_review == (result.score >= 50) == (result.level == "HIGH")
    assert result.level == ("LOW" if expected < 30 else "MEDIUM" if expected < 50 else "HIGH")


# --------------------------------------------------------------- card security

class _FakeKms:
    """Stands in for the KMS client: records calls, HMACs locally with ``key``."""

    def __init__(self, key=b"k" * 32, error=None):
        self.key, self.error, self.calls = key, error, []

    def generate_mac(self, **kwargs):
        self.calls.append(kwargs)
        if self.error is not None:
            raise self.error
        return {"Mac": hmac.new(self.key, kwargs["Message"], hashlib.sha256).digest(),
                "MacAlgorithm": kwargs["MacAlgorithm"], "KeyId": kwargs["KeyId"]}


def test_fingerprint_is_a_kms_mac_of_the_domain_separated_pan():
    kms = _FakeKms()
    fp = card_fingerprint(VISA, "arn:key/1", kms)
    assert kms.calls == [{"KeyId": "arn:key/1", "MacAlgorithm": "HMAC_SHA_256",
                          "Message": fingerprint_message(VISA)}]
    assert fingerprint_message(VISA).endswith(VISA.encode()) and \
        fingerprint_message(VISA) != VISA.encode()  # domain-separated
    assert fp == hmac.new(kms.key, fingerprint_message(VISA), hashlib.sha256).hexdigest()
    assert len(fp) == 64 and VISA not in fp
    assert fp == card_fingerprint(VISA, "arn:key/1", kms) != card_fingerprint(
        "5555555555554444", "arn:key/1", kms)
    # neither the plain nor the domain-separated unkeyed SHA-256
    assert fp not in (hashlib.sha256(VISA.encode()).hexdigest(),
                      hashlib.sha256(fingerprint_message(VISA)).hexdigest())
    assert card_fingerprint(VISA, "arn:key/2", _FakeKms(key=b"x" * 32)) != fp


def test_fingerprint_has_no_unkeyed_fallback():
    kms = _FakeKms()
    for key_id in (None, ""):
        with pytest.raises(CardFingerprintError):
            card_fingerprint(VISA, key_id, kms)
    assert kms.calls == []


@pytest.mark.parametrize("error", [
    ClientError({"Error": {"Code": "AccessDeniedException",
                           "Message": f"denied for {VISA}"}}, "GenerateMac"),
    ParamValidationError(report=f"Invalid value {VISA}"),
    EndpointConnectionError(endpoint_url="https://kms.us-east-1.amazonaws.com"),
])
def test_kms_errors_become_a_fixed_message_without_the_pan(error):
    with pytest.raises(CardFingerprintError) as exc:
        card_fingerprint(VISA, "arn:key/1", _FakeKms(error=error))
    assert VISA not in str(exc.value) and exc.value.__cause__ is None
    assert exc.value.__suppress_context__
    if isinstance(error, ClientError):
        assert "AccessDeniedException" in str(exc.value)


def test_request_hash_uses_the_fingerprint_and_not_the_pan():
    from payments_core.validation import PaymentRequest
    req = PaymentRequest("c1", Decimal("1.00"), "USD", VISA)
    assert VISA not in repr(req) and VISA not in str(req)
    fp = card_fingerprint(VISA, "arn:key/1", _FakeKms())
    assert VISA not in canonical_request(req, fp) and fp in canonical_request(req, fp)
    assert request_hash(req, fp) == request_hash(
        PaymentRequest("c1", Decimal("1.0"), "USD", VISA), fp)
    assert request_hash(req, fp) != request_hash(
        PaymentRequest("c1", Decimal("1.01"), "USD", VISA), fp)
    assert request_hash(req, fp) != request_hash(req, "0" * 64)


def test_fingerprint_key_config(monkeypatch):
    monkeypatch.delenv("CARD_FINGERPRINT_KEY_ID", raising=False)
    assert load_config().card_fingerprint_key_id is None
    with pytest.raises(ConfigurationError):
        load_config().require("card_fingerprint_key_id")
    monkeypatch.setenv("CARD_FINGERPRINT_KEY_ID", "  ")
    assert load_config().card_fingerprint_key_id is None
    arn = "arn:aws:kms:us-east-1:111122223333:key/abc"
    monkeypatch.setenv("CARD_FINGERPRINT_KEY_ID", arn)
    assert load_config().require("card_fingerprint_key_id") == arn


# --------------------------------------------------------------------- masking

@PROPS
@given(valid_pans(), st.sampled_from(["", " ", "-"]),
       st.text(alphabet="abc XYZ:=", max_size=10), st.text(alphabet="abc XYZ:=", max_size=10))
def test_mask_pans_hides_all_but_last_four(pan, sep, before, after):
    shown = sep.join(pan[i:i + 4] for i in range(0, len(pan), 4)) if sep else pan
    masked = mask_pans(f"{before}{shown}{after}")
    assert pan not in masked.replace(" ", "").replace("-", "")
    assert masked.endswith(pan[-4:] + after)
    assert "*" * (len(pan) - 4) in masked


def test_mask_pans_leaves_short_numbers():
    assert mask_pans("amount 12345.67 id 42 ts 2024-01-01") == "amount 12345.67 id 42 ts 2024-01-01"


def test_log_record_is_masked_everywhere():
    record = logging.LogRecord("payments", logging.INFO, __file__, 1, "card %s", (VISA,), None)
    record.card = {"pan": VISA, "nested": [VISA]}
    assert PanMaskingFilter().filter(record)
    line = JsonFormatter().format(record)
    assert VISA not in line and "************1111" in line
    assert json.loads(line)["message"] == "card ************1111"


# ---------------------------------------------------------------------- schema

def test_schema_is_valid_draft4():
    import jsonschema
    jsonschema.Draft4Validator.check_schema(PAYMENT_REQUEST_SCHEMA)
    assert PAYMENT_REQUEST_SCHEMA["$schema"] == "http://json-schema.org/draft-04/schema#"
    assert set(PAYMENT_REQUEST_SCHEMA["required"]) == {
        "customer_id", "amount", "currency", "card_number"}


@PROPS
@given(customer_id=st.from_regex(r"\A[A-Za-z0-9_-]{1,64}\Z"),
       currency=st.sampled_from(sorted(MINOR_UNITS)),
       minor=st.integers(1, 10 ** 9), pan=valid_pans(), as_number=st.booleans(),
       sep=st.sampled_from(["", " ", "-"]))
def test_schema_accepts_everything_the_handler_accepts(customer_id, currency, minor, pan,
                                                        as_number, sep):
    import jsonschema
    amount = Decimal(minor).scaleb(-MINOR_UNITS[currency])
    assume(amount <= MAX)
    card = sep.join(pan[i:i + 4] for i in range(0, len(pan), 4)) if sep else pan
    text = format_amount(amount, currency)
    body = '{"customer_id":%s,"amount":%s,"currency":"%s","card_number":"%s"}' % (
        json.dumps(customer_id), text if as_number else json.dumps(text), currency, card)
    validate_payment(parse_json_object(body), MAX)  # the handler accepts it...
    jsonschema.Draft4Validator(PAYMENT_REQUEST_SCHEMA).validate(json.loads(body))  # ...so must the schema


@pytest.mark.parametrize("body", [
    {"customer_id": "c", "amount": "1", "currency": "USD"},
    {"customer_id": "c", "amount": "1", "currency": "usd", "card_number": VISA},
    {"customer_id": "' OR 1=1 --", "amount": "1", "currency": "USD", "card_number": VISA},
    {"customer_id": "c", "amount": True, "currency": "USD", "card_number": VISA},
    {"customer_id": "c", "amount": "1e3", "currency": "USD", "card_number": VISA},
    {"customer_id": "c", "amount": "1", "currency": "USD", "card_number": VISA, "x": 1},
])
def test_schema_rejects_obviously_bad_bodies(body):
    import jsonschema
    assert not jsonschema.Draft4Validator(PAYMENT_REQUEST_SCHEMA).is_valid(body)
