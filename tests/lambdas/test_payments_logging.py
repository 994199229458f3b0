"""Masking covers every log line of the function process (ours, boto3/botocore/urllib3, the root
logger, warnings) at every level, and leaves UUIDs, timestamps and ordinary numbers alone."""
from __future__ import annotations

import base64
import hashlib
import io
import json
import logging
import uuid
import warnings

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from payments_core import log
from payments_core.cardsec import fingerprint_message
from payments_core.log import BASE64_REDACTED, is_pan, mask_pans
from payments_core.validation import luhn_check_digit

from payments_testkit import (AMEX, KNOWN_PANS, MASTERCARD, VISA, VISA_13, VISA_19, api_event,
                              contains_pan, valid_payload)

PROPS = settings(max_examples=300, deadline=None)
EPOCH_MS = "1764241234567"  # 2025-11-27T11:00:34.567Z
LEVELS = (logging.DEBUG, logging.INFO, logging.WARNING, logging.ERROR, logging.CRITICAL)


@pytest.fixture
def logging_state():
    """Root logger, record factory and warnings hook as they were (configure changes them)."""
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    factory, showwarning = logging.getLogRecordFactory(), warnings.showwarning
    yield root
    root.handlers[:] = handlers
    root.setLevel(level)
    logging.setLogRecordFactory(factory)
    warnings.showwarning = showwarning


def _lines(out: str) -> list[dict]:
    return [json.loads(line) for line in out.splitlines()]  # every stdout line is one JSON object


def _assert_clean(text: str) -> None:
    assert not contains_pan(text)
    assert base64.b64encode(fingerprint_message(VISA)).decode() not in text


# ----------------------------------------------------------- boto3 at DEBUG, real

def test_botocore_debug_request_bodies_reach_stdout_without_a_pan(aws, logging_state, capsys):
    log.configure("test", "corr-debug", "DEBUG")
    request_id = str(uuid.uuid4())
    aws.ddb.put_item(TableName="test-transactions", Item={
        "merchant_transaction": {"S": f"m#{request_id}"}, "timestamp": {"N": EPOCH_MS},
        "customer_id": {"S": f"cust{VISA}"}, "note": {"S": "5555 5555 5555 4444"},
        "amount": {"N": "12.34"}})
    aws.kms.generate_mac(KeyId=aws.fingerprint_key_arn, MacAlgorithm="HMAC_SHA_256",
                         Message=fingerprint_message(VISA))
    out = capsys.readouterr().out
    lines = _lines(out)
    botocore_debug = [line for line in lines
                      if line["logger"].startswith("botocore") and line["level"] == "DEBUG"]
    bodies = [line["message"] for line in botocore_debug if "'body': b'" in line["message"]]
    # botocore really logged both request bodies...
    assert any("PutItem" in body for body in bodies) and any("GenerateMac" in body for body in bodies)
    # ...with the card numbers masked, the base64 PAN redacted, and the rest intact.
    put = next(body for body in bodies if "PutItem" in body)
    assert f"cust{'*' * 12}1111" in put and f"{'*' * 12}4444" in put
    assert EPOCH_MS in put and request_id in put and "12.34" in put
    assert BASE64_REDACTED in next(body for body in bodies if "GenerateMac" in body)
    _assert_clean(out)


def test_process_at_debug_level_logs_aws_calls_without_the_card_number(aws, monkeypatch, capsys,
                                                                       logging_state):
    import process_handler
    monkeypatch.setenv("LOG_LEVEL", "DEBUG")
    resp = process_handler.handler(api_event(
        valid_payload(customer_id=f"cust{MASTERCARD}", card_number="4111-1111-1111-1111"),
        path="/process", headers={"Idempotency-Key": "debug-key"}), None)
    assert resp["statusCode"] == 200, resp
    out = capsys.readouterr().out
    loggers = {line["logger"] for line in _lines(out)}
    assert {"payments", "botocore.endpoint"} <= loggers  # third-party DEBUG lines are there
    assert "GenerateMac" in out and "TransactWriteItems" in out
    _assert_clean(out)


# ------------------------------------------- every logger, every level, every path

@pytest.mark.parametrize("name", ["", "boto3", "botocore.endpoint", "urllib3.connectionpool",
                                  "payments", "some.library"])
def test_every_logger_at_every_level_is_masked(name, logging_state, capsys):
    log.configure("test", "corr-levels", "DEBUG")
    logger = logging.getLogger(name)
    for level in LEVELS:
        logger.log(level, "card %s / %s", VISA, AMEX, extra={"field": {"pan": MASTERCARD}})
    lines = _lines(capsys.readouterr().out)
    assert [line["level"] for line in lines] == [logging.getLevelName(lv) for lv in LEVELS]
    for line in lines:
        assert line["message"] == f"card {'*' * 12}1111 / {'*' * 11}0005"
        assert line["field"] == {"pan": f"{'*' * 12}4444"}
        assert line["correlation_id"] == "corr-levels"
        assert set(line) == {"timestamp", "level", "message", "correlation_id", "function",
                             "logger", "field"}  # no bookkeeping attribute leaks as a field
    _assert_clean(json.dumps(lines))


def test_tracebacks_and_stacks_are_masked(logging_state, capsys):
    log.configure("test", "corr-exc", "INFO")
    try:
        raise RuntimeError(f"upstream echoed {VISA_19}")
    except RuntimeError:
        logging.getLogger("botocore.retryhandler").exception("retry failed", stack_info=True)
    out = capsys.readouterr().out
    [line] = _lines(out)
    assert "RuntimeError: upstream echoed " + "*" * 15 + "1110" in line["exception"]
    _assert_clean(out)


def test_a_handler_on_a_third_party_logger_only_ever_sees_masked_text(logging_state):
    log.configure("test", None, "DEBUG")
    stream = io.StringIO()
    direct = logging.StreamHandler(stream)  # e.g. boto3.set_stream_logger()
    logger = logging.getLogger("boto3.resources")
    logger.addHandler(direct)
    try:
        logger.debug("loaded %s", VISA_13)
    finally:
        logger.removeHandler(direct)
    assert stream.getvalue() == f"loaded {'*' * 9}2222\n"


def test_other_root_handlers_get_masked_records_including_extras(logging_state):
    seen: list[logging.LogRecord] = []

    class Collect(logging.Handler):
        def emit(self, record):
            seen.append(record)

    logging_state.addHandler(Collect())
    log.configure("test", None, "INFO")
    logging.getLogger("urllib3").warning("GET /pay?card=%s", VISA, extra={"card": VISA})
    [record] = seen
    assert record.getMessage() == f"GET /pay?card={'*' * 12}1111" and record.card == f"{'*' * 12}1111"


def test_warnings_are_logged_and_masked(logging_state, capsys):
    log.configure("test", None, "INFO")
    with warnings.catch_warnings():
        warnings.simplefilter("always")
        warnings.warn(f"deprecated parameter value {VISA}", DeprecationWarning, stacklevel=1)
    [line] = _lines(capsys.readouterr().out)
    assert line["logger"] == "py.warnings" and line["level"] == "WARNING"
    assert "DeprecationWarning" in line["message"] and f"{'*' * 12}1111" in line["message"]
    _assert_clean(json.dumps(line))


def test_the_lambda_runtime_root_handler_is_replaced_so_lines_are_not_doubled(logging_state, capsys):
    class LambdaLoggerHandler(logging.StreamHandler):  # what awslambdaric installs on the root
        pass

    runtime_stream = io.StringIO()
    logging_state.addHandler(LambdaLoggerHandler(runtime_stream))
    log.configure("test", None, "INFO")
    log.configure("test", None, "INFO")  # every invocation calls it: still one sink
    logging.getLogger("botocore.credentials").info("Found credentials in environment variables.")
    assert len(_lines(capsys.readouterr().out)) == 1
    assert runtime_stream.getvalue() == ""


# --------------------------------------------------------------------- detection

def test_known_test_pans_are_pans_and_timestamps_are_not():
    for pan in KNOWN_PANS:
        assert is_pan(pan), pan
    for number in (EPOCH_MS, "1764241234567000", "1764241234567000000", "0000000000000000",
                   "4111111111111112"):
        assert not is_pan(number), number


@st.composite
def pans(draw):
    """Luhn-valid numbers with an issuer prefix possible for their length (ISO/IEC 7812)."""
    length = draw(st.integers(13, 19))
    if length == 13:
        first = draw(st.sampled_from("456"))
    elif length == 15:
        first = draw(st.sampled_from("123456789"))
    else:
        first = draw(st.sampled_from("23456789"))
    body = first + draw(st.text("0123456789", min_size=length - 2, max_size=length - 2))
    return body + luhn_check_digit(body)


def _grouped(pan: str, style: str) -> str:
    if style == "plain":
        return pan
    sep = " " if style == "spaces" else "-"
    sizes = (4, 6, 5) if len(pan) == 15 else (4,) * 5
    parts, i = [], 0
    for size in sizes:
        if i < len(pan):
            parts.append(pan[i:i + size])
            i += size
    if i < len(pan):
        parts.append(pan[i:])
    return sep.join(parts)


surroundings = st.text(alphabet=st.characters(exclude_categories=["Nd", "Cs"]), max_size=12)


@PROPS
@given(pans(), st.sampled_from(["plain", "spaces", "dashes"]), surroundings, surroundings)
def test_any_pan_in_any_text_keeps_only_its_last_four_digits(pan, style, before, after):
    masked = mask_pans(f"{before}{_grouped(pan, style)}{after}")
    assert masked == f"{before}{'*' * (len(pan) - 4)}{pan[-4:]}{after}"
    assert mask_pans(masked) == masked


@pytest.mark.parametrize("text, masked", [
    ("customerIdABCD4111 1111 1111 1111", "customerIdABCD************1111"),  # word glued to a group
    ("ref QUJDREVGR0hJSktMTU5PUA 4111-1111-1111-1111", "ref QUJDREVGR0hJSktMTU5PUA ************1111"),
    (f"blob {base64.b64encode(fingerprint_message(VISA)).decode()} 5", f"blob {BASE64_REDACTED} 5"),
])
def test_pans_next_to_base64_shaped_words(text, masked):
    assert mask_pans(text) == masked


@PROPS
@given(pans(), surroundings, surroundings)
def test_a_pan_inside_a_base64_blob_is_redacted(pan, before, after):
    blob = base64.b64encode(f"{before}{pan}{after}".encode()).decode()
    assert mask_pans(f'"Message": "{blob}"') == f'"Message": "{BASE64_REDACTED}"'


@PROPS
@given(st.uuids(), st.booleans(), st.text(alphabet=st.characters(exclude_categories=["Nd"]).filter(
    lambda c: c not in "abcdefABCDEF"), max_size=12))
def test_uuids_are_never_touched(value, upper, around):
    # (A hex letter glued to it would make a 33-character hex token: not a UUID.)
    text = str(value).upper() if upper else str(value)
    assert mask_pans(f"{around}{text}{around}") == f"{around}{text}{around}"


@PROPS
@given(st.integers(10 ** 12, 4 * 10 ** 12 - 1), st.sampled_from(["{}", '{{"ts":{}}}', "at {} ms"]))
def test_13_digit_epoch_millisecond_timestamps_are_never_touched(millis, template):
    # 10**12 .. 4*10**12 is the years 2001-2096: every epoch-ms timestamp anyone will log.
    text = template.format(millis)
    assert mask_pans(text) == text


@PROPS
@given(st.integers(10 ** 15, 2 * 10 ** 15 - 1), st.integers(10 ** 18, 2 * 10 ** 18 - 1))
def test_epoch_micro_and_nanosecond_timestamps_are_never_touched(micros, nanos):
    text = f"us={micros} ns={nanos}"
    assert mask_pans(text) == text


@PROPS
@given(st.one_of(st.integers(0, 10 ** 12 - 1), st.integers(10 ** 19, 10 ** 40)),
       st.decimals(allow_nan=False, allow_infinity=False, places=2, max_value=10 ** 11,
                   min_value=-10 ** 11))
def test_ordinary_numbers_and_sequence_numbers_are_never_touched(number, amount):
    text = f"n={number} amount={amount} seq={number}"
    assert mask_pans(text) == text


@PROPS
@given(st.binary(min_size=1, max_size=64))
def test_hex_digests_are_never_touched(data):
    text = f"request_hash={hashlib.sha256(data).hexdigest()} md5={hashlib.md5(data).hexdigest()}"
    assert mask_pans(text) == text
