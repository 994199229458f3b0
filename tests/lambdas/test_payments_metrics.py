"""Business metrics (payments_core.metrics): valid EMF on stderr from the real handlers, bounded
dimensions, and nothing a caller sent in them (no PAN, no customer id, no idempotency key)."""
from __future__ import annotations

import json
import os
import re
from pathlib import Path

import pytest

from payments_testkit import MERCHANT_A, MERCHANT_B, api_event, contains_pan, seed_activity, valid_payload

LAYER = Path(__file__).resolve().parents[2] / "lambdas" / "shared" / "python" / "payments_core"


def _process(body, key="key-metrics-1", merchant=MERCHANT_A):
    import process_handler
    headers = {"Content-Type": "application/json", "Idempotency-Key": key}
    return process_handler.handler(api_event(body, headers=headers, path="/process", merchant=merchant), None)


def _documents(capsys):
    """Every stderr line, as EMF; asserts the stdout log and the metrics never mix."""
    captured = capsys.readouterr()
    assert "_aws" not in captured.out
    return [json.loads(line) for line in captured.err.splitlines()]


def _metrics(documents):
    """(name, dimensions, value) of every metric in the documents, checking each is valid EMF."""
    found = []
    for document in documents:
        [directive] = document["_aws"]["CloudWatchMetrics"]
        assert isinstance(document["_aws"]["Timestamp"], int)
        assert directive["Namespace"] == f"Payments/{os.environ.get('ENVIRONMENT') or 'dev'}"
        [dimension_set] = directive["Dimensions"]
        assert 1 <= len(dimension_set) <= 30 and all(isinstance(document[d], str) for d in dimension_set)
        for metric in directive["Metrics"]:
            value = document[metric["Name"]]
            assert isinstance(value, (int, float)) and not isinstance(value, bool)
            assert metric["Unit"] in ("Count", "Milliseconds", "None")
            found.append((metric["Name"], {d: document[d] for d in dimension_set}, value))
    return found


def _value(found, name, **dims):
    return sum(v for n, d, v in found if n == name and all(d.get(k) == x for k, x in dims.items()))


def test_an_accepted_payment_counts_once_with_its_amount_in_minor_units_and_its_phases(shared_aws, capsys):
    assert _process(valid_payload(amount="100.50"))["statusCode"] == 200
    found = _metrics(_documents(capsys))
    assert _value(found, "PaymentsAccepted", Route="process") == 2  # overall, and per Merchant ("other")
    assert [d for n, d, _ in found if n == "PaymentsAccepted"] == [{"Route": "process"},
                                                                     {"Route": "process", "Merchant": "other"}]
    assert _value(found, "PaymentAmount", Currency="USD") == 10050
    phases = {d["Phase"] for n, d, _ in found if n == "PhaseLatency"}
    assert phases == {"validation", "fraud_scoring", "dynamodb_write", "kms"}
    assert all(v >= 0 for n, _, v in found if n == "PhaseLatency")


def test_metric_lines_carry_nothing_the_caller_sent(shared_aws, capsys):
    _process(valid_payload(customer_id="cust_secret_42"), key="idem-secret-key-77")
    text = capsys.readouterr().err
    assert text and not contains_pan(text)
    assert "cust_secret_42" not in text and "idem-secret-key-77" not in text and "1111" not in text


def test_a_fraud_review_is_a_decline_with_its_rules_flagged(shared_aws, capsys):
    seed_activity(shared_aws.ddb, MERCHANT_A, "cust_001", ["20.00", "30.00"])
    assert json.loads(_process(valid_payload(amount="15000.00"))["body"])["status"] == "DECLINED_REVIEW"
    found = _metrics(_documents(capsys))
    assert _value(found, "PaymentsDeclined", Reason="FRAUD_REVIEW") == 1
    assert _value(found, "PaymentsAccepted") == 0
    assert {d["Rule"] for n, d, _ in found if n == "FraudFlags"} == {"HIGH_VALUE", "AMOUNT_SPIKE"}
    assert _value(found, "FlaggedPayments", Route="process") == 2  # overall, and per Merchant ("other")


def test_a_rejected_request_is_a_decline_by_its_error_code(shared_aws, capsys):
    assert _process(valid_payload(card_number="4111111111111112"))["statusCode"] == 400
    found = _metrics(_documents(capsys))
    assert _value(found, "PaymentsDeclined", Route="process", Reason="CARD_NUMBER_CHECKSUM_FAILED") == 1


def test_a_retry_counts_as_an_idempotent_replay_not_a_second_payment(shared_aws, capsys):
    _process(valid_payload())
    capsys.readouterr()
    _process(valid_payload())
    found = _metrics(_documents(capsys))
    assert _value(found, "IdempotentReplays") == 1 and _value(found, "PaymentsAccepted") == 0


def test_fraud_check_flags_by_rule(shared_aws, capsys):
    import fraud_check_handler
    fraud_check_handler.handler(api_event(valid_payload(amount="15000.00"), path="/fraud-check"), None)
    found = _metrics(_documents(capsys))
    assert _value(found, "FraudFlags", Route="fraud-check", Rule="HIGH_VALUE") == 1


def test_merchant_dimension_only_for_the_allow_listed_merchants(shared_aws, capsys, monkeypatch):
    monkeypatch.setenv("METRICS_MERCHANTS", MERCHANT_A)
    _process(valid_payload(), key="k-a", merchant=MERCHANT_A)
    _process(valid_payload(), key="k-b", merchant=MERCHANT_B)
    merchants = {d["Merchant"] for n, d, _ in _metrics(_documents(capsys)) if "Merchant" in d}
    assert merchants == {MERCHANT_A, "other"}


def test_the_allow_list_is_capped():
    from payments_core import metrics
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("METRICS_MERCHANTS", ",".join(f"m{i}" for i in range(50)))
        assert len(metrics.tracked_merchants()) == metrics.MAX_MERCHANTS


def test_every_error_code_of_the_package_is_a_known_decline_reason():
    """Reason stays a closed set: a new error code must be added to DECLINE_REASONS (else OTHER)."""
    from payments_core import metrics
    source = "\n".join(p.read_text() for p in LAYER.glob("*.py"))
    codes = set(re.findall(r'(?:Error|Unauthenticated)\(\s*"([A-Z_]+)"', source)) | set(
        re.findall(r'code="([A-Z_]+)"', source))
    codes -= {"FRAUD_QUERY_LIMIT", "FRAUD_WINDOW_SECONDS", "IDEMPOTENCY_TTL_SECONDS"}  # config names
    assert codes and codes <= set(metrics.DECLINE_REASONS), codes - set(metrics.DECLINE_REASONS)
    recorder = metrics.Recorder("process")
    recorder.declined("SOMETHING_NEW")
    assert _value(_metrics(recorder.lines()), "PaymentsDeclined", Reason="OTHER") == 1


def test_a_failing_metric_never_fails_the_payment(shared_aws, capsys, monkeypatch):
    from payments_core import metrics

    def broken(self, now_ms=None):
        raise RuntimeError("metrics broke")
    monkeypatch.setattr(metrics.Recorder, "lines", broken)
    assert _process(valid_payload())["statusCode"] == 200
    assert "business metrics not emitted" in capsys.readouterr().out


def test_a_synthetic_request_is_one_synthetic_count_and_its_phase_latencies_only():
    """The canary's requests are not business: no accepted/declined/flagged/amount, one
    ``SyntheticRequests`` per request; the platform's latency is still measured."""
    from payments_core import metrics
    from decimal import Decimal
    recorder = metrics.Recorder("process", merchant=MERCHANT_A, synthetic=True)
    recorder.accepted("USD", Decimal("1.00"))
    recorder.flagged(("HIGH_VALUE",))
    with recorder.phase("kms"):
        pass
    names = sorted((d["_aws"]["CloudWatchMetrics"][0]["Metrics"][0]["Name"], d["Route"]) for d in recorder.lines(0))
    assert names == [("PhaseLatency", "process"), ("SyntheticRequests", "process")]
    recorder.synthetic = False
    assert "PaymentsAccepted" in {d["_aws"]["CloudWatchMetrics"][0]["Metrics"][0]["Name"] for d in recorder.lines(0)}
