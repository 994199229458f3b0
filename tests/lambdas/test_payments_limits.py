"""Payment rules that hold in every currency: per-currency limits, HIGH_VALUE, audit amounts."""
from __future__ import annotations

import json
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from payments_core.audit import LedgerKey, audit_amount, audited_fields
from payments_core.config import load_config
from payments_core.currencies import (CURRENCIES, HIGH_VALUE_USD, MAX_AMOUNT_USD, MINOR_UNITS,
                                      USD_RATES)
from payments_core.errors import ConfigurationError, ValidationError
from payments_core.fraud import score_transaction
from payments_core.limits import DEFAULT_LIMITS, LimitsError, build_limits
from payments_core.validation import parse_amount, validate_payment

from payments_testkit import VISA, api_event, valid_payload

PROPS = settings(max_examples=100, deadline=None)
CODES = sorted(CURRENCIES)


def _one_minor_unit(currency):
    return Decimal(1).scaleb(-MINOR_UNITS[currency])


def _reasons(amount, currency, **kw):
    return score_transaction(Decimal(amount), currency, [], **kw).reasons


# ------------------------------------------------------------------- HIGH_VALUE

def test_jpy_10001_is_not_a_high_value():
    assert _reasons("10001", "JPY") == ()  # about USD 65


def test_kwd_9000_is_a_high_value():
    assert _reasons("9000", "KWD") == ("HIGH_VALUE",)  # about USD 29,000


@pytest.mark.parametrize("currency, threshold", [
    ("USD", "10000"), ("EUR", "9000"), ("GBP", "8000"), ("JPY", "2000000"), ("KRW", "10000000"),
    ("KWD", "3000"), ("BHD", "4000"), ("IDR", "200000000"),
])
def test_high_value_starts_one_minor_unit_above_the_currency_threshold(currency, threshold):
    threshold = Decimal(threshold)
    assert CURRENCIES[currency].high_value == threshold
    assert _reasons(threshold, currency) == ()
    assert _reasons(threshold + _one_minor_unit(currency), currency) == ("HIGH_VALUE",)


@PROPS
@given(st.sampled_from(CODES))
def test_every_currency_has_a_high_value_boundary_in_its_minor_units(currency):
    threshold = CURRENCIES[currency].high_value
    assert _reasons(threshold, currency) == ()
    assert _reasons(threshold + _one_minor_unit(currency), currency) == ("HIGH_VALUE",)


def test_high_value_threshold_comes_from_the_configured_table(monkeypatch):
    monkeypatch.setenv("PAYMENT_LIMITS", "JPY:high=10000")
    config = load_config()
    assert _reasons("10001", "JPY", high_value=config.high_value) == ("HIGH_VALUE",)
    assert _reasons("10000", "JPY", high_value=config.high_value) == ()
    assert _reasons("10001", "JPY") == ()  # the table default is untouched


def test_fraud_check_applies_the_environment_override(aws, monkeypatch):
    import fraud_check_handler

    def reasons():
        resp = fraud_check_handler.handler(api_event(
            valid_payload(amount="10001", currency="JPY"), path="/fraud-check"), None)
        assert resp["statusCode"] == 200, resp
        return json.loads(resp["body"])["reasons"]

    assert reasons() == []
    monkeypatch.setenv("PAYMENT_LIMITS", "JPY:high=10000")
    assert reasons() == ["HIGH_VALUE"]


# ------------------------------------------------------------ maximum per transaction

def _payment(amount, currency):
    return {"customer_id": "c1", "amount": amount, "currency": currency, "card_number": VISA}


@pytest.mark.parametrize("currency, maximum", [
    ("USD", "1000000"), ("JPY", "200000000"), ("KWD", "300000"), ("IDR", "20000000000"),
])
def test_maximum_per_transaction_is_per_currency(currency, maximum):
    limits = DEFAULT_LIMITS.max_amount
    assert validate_payment(_payment(maximum, currency), limits).amount == Decimal(maximum)
    above = f"{Decimal(maximum) + _one_minor_unit(currency):f}"
    with pytest.raises(ValidationError) as exc:
        validate_payment(_payment(above, currency), limits)
    assert (exc.value.code, exc.value.status_code, exc.value.field) == (
        "AMOUNT_TOO_LARGE", 400, "amount")


def test_a_flat_million_no_longer_decides_for_every_currency():
    limits = DEFAULT_LIMITS.max_amount
    assert validate_payment(_payment("1000001", "JPY"), limits)  # ~USD 6,500: fine
    with pytest.raises(ValidationError) as exc:
        validate_payment(_payment("1000000", "KWD"), limits)  # ~USD 3.3 million: too large
    assert exc.value.code == "AMOUNT_TOO_LARGE"


@pytest.mark.parametrize("amount, currency, status, code", [
    ("200000000", "JPY", 200, None),
    ("200000001", "JPY", 400, "AMOUNT_TOO_LARGE"),
    ("300000.000", "KWD", 200, None),
    ("300000.001", "KWD", 400, "AMOUNT_TOO_LARGE"),
])
def test_validate_route_answers_amount_too_large_per_currency(aws, amount, currency, status,
                                                              code):
    import validate_handler
    resp = validate_handler.handler(api_event(valid_payload(amount=amount, currency=currency)), None)
    assert resp["statusCode"] == status, resp
    if code:
        assert json.loads(resp["body"])["error"]["code"] == code


def test_maximum_override_via_config(monkeypatch):
    monkeypatch.setenv("PAYMENT_LIMITS", "USD:max=500:high=100")
    limits = load_config().max_amount
    assert parse_amount("500.00", "USD", limits) == Decimal("500.00")
    with pytest.raises(ValidationError) as exc:
        parse_amount("500.01", "USD", limits)
    assert exc.value.code == "AMOUNT_TOO_LARGE"
    assert parse_amount("500.01", "EUR", limits) == Decimal("500.01")  # other currencies keep theirs


# ------------------------------------------------------------------ configuration

def test_limits_are_parsed_once_per_value(monkeypatch):
    monkeypatch.setenv("PAYMENT_LIMITS", "JPY:max=150000000")
    first, second = load_config(), load_config()
    assert first.max_amount is second.max_amount and first.max_amount["JPY"] == Decimal("150000000")


@pytest.mark.parametrize("value", ["XYZ:max=1", "JPY:high=1.5", "USD:max=10:high=20", "USD:max=-1"])
def test_bad_limits_variable_is_a_configuration_error(monkeypatch, value):
    monkeypatch.setenv("PAYMENT_LIMITS", value)
    with pytest.raises(ConfigurationError) as exc:
        load_config()
    assert str(exc.value).startswith("PAYMENT_LIMITS: ")


def test_retired_max_amount_variable_is_refused_with_its_replacement(monkeypatch):
    monkeypatch.setenv("MAX_AMOUNT", "1000000")
    with pytest.raises(ConfigurationError) as exc:
        load_config()
    assert "PAYMENT_LIMITS" in str(exc.value)


def test_retired_max_amount_makes_a_generic_500_that_the_log_explains(aws, monkeypatch, capsys):
    import validate_handler
    monkeypatch.setenv("MAX_AMOUNT", "1000000")
    resp = validate_handler.handler(api_event(valid_payload()), None)
    assert resp["statusCode"] == 500
    assert "MAX_AMOUNT" not in resp["body"]  # operator detail stays in the log
    assert "PAYMENT_LIMITS" in capsys.readouterr().out


# ----------------------------------------------------------------------- the table

def test_rates_and_minor_units_cover_the_same_currencies():
    assert set(USD_RATES) == set(MINOR_UNITS) == set(CURRENCIES)
    assert (MINOR_UNITS["JPY"], MINOR_UNITS["USD"], MINOR_UNITS["KWD"]) == (0, 2, 3)


@pytest.mark.parametrize("currency", CODES)
def test_table_limits_are_rounded_usd_equivalent_tiers(currency):
    c = CURRENCIES[currency]
    for value, tier in ((c.high_value, HIGH_VALUE_USD), (c.max_amount, MAX_AMOUNT_USD)):
        usd = value / c.usd_rate
        assert tier / Decimal("1.5") <= usd <= tier * Decimal("1.5"), (currency, value, usd)
        assert value == value.to_integral_value() and len(str(value).rstrip("0")) == 1  # one digit
        assert f"{value:f}" == str(value)  # plain text, never 2E+6
    assert c.high_value < c.max_amount


def test_limits_defaults_equal_the_table_and_overrides_merge():
    limits = build_limits("KWD:high=2500")
    assert limits.high_value["KWD"] == Decimal("2500") and limits.max_amount["KWD"] == Decimal("300000")
    assert limits.high_value["JPY"] == DEFAULT_LIMITS.high_value["JPY"] == Decimal("2000000")
    with pytest.raises(LimitsError):
        build_limits("KWD:high=300001")  # above the table's max for KWD


# ---------------------------------------------------------------- audit amounts

@pytest.mark.parametrize("stored, currency, text", [
    (Decimal("99.9"), "USD", "99.90"),       # stored 99.90, read back normalised
    (Decimal("100"), "USD", "100.00"),       # stored 100.00
    (Decimal("1E+2"), "USD", "100.00"),      # exponent form
    (Decimal("5"), "JPY", "5"),
    (Decimal("1.5"), "KWD", "1.500"),
    (Decimal("0.1"), "BHD", "0.100"),
    (Decimal("12.34"), "EUR", "12.34"),
])
def test_audit_amount_keeps_the_currency_minor_units(stored, currency, text):
    assert audit_amount(stored, currency) == text
    key = LedgerKey("m1", "0b9f8a9e-2b1d-4c55-9d0e-2a61f1c0b7aa")
    assert audited_fields(key, {"amount": stored, "currency": currency})["amount"] == text


@pytest.mark.parametrize("stored, currency, text", [
    (Decimal("1.234"), "USD", "1.234"),   # more places than USD has: shown exactly, never rounded
    (Decimal("5"), "XXX", "5"),           # unknown currency: exact text
])
def test_audit_amount_never_rounds_or_guesses(stored, currency, text):
    assert audit_amount(stored, currency) == text


@PROPS
@given(st.sampled_from(CODES), st.integers(1, 10 ** 12))
def test_audit_amount_is_what_the_api_returned_whatever_dynamodb_normalised(currency, minor):
    exact = Decimal(minor).scaleb(-MINOR_UNITS[currency])
    api_text = f"{exact:f}"  # what /process answered (quantized to the minor units)
    assert audit_amount(exact.normalize(), currency) == api_text


def test_audit_object_from_a_normalised_stream_record(aws):
    from payments_core.audit import process_stream_batch
    record = {
        "eventID": "e1", "eventName": "INSERT", "eventSourceARN": "arn:aws:dynamodb:us-east-1:1:table/t",
        "dynamodb": {"SequenceNumber": "100000000000000000001",
                     "Keys": {"merchant_transaction": {"S": "m1#0b9f8a9e-2b1d-4c55-9d0e-2a61f1c0b7aa"}},
                     "NewImage": {
            "transaction_id": {"S": "0b9f8a9e-2b1d-4c55-9d0e-2a61f1c0b7aa"},
            "timestamp": {"N": "1764241234"}, "amount": {"N": "99.9"}, "currency": {"S": "USD"}}},
    }
    assert process_stream_batch({"Records": [record]}, aws.s3, "test-audit-bucket", "audit/",
                                aws.kms_key_arn) == {"batchItemFailures": []}
    [key] = aws.helpers.audit_keys()
    doc = json.loads(aws.s3.get_object(Bucket="test-audit-bucket", Key=key)["Body"].read())
    assert doc["amount"] == "99.90"
