"""The synthetic merchant (lambdas/canary/): its run through the real handlers behind the local
gateway (tests/lambdas/fake_gateway.py), what it reports, and what it leaves behind.

The rules: a healthy platform passes all five steps (token, validate, fraud-check, process, replay)
and the run says ``CanarySuccess`` 1; anything a merchant would suffer (no credentials, a refused key,
a suspended merchant, a gateway that keeps failing) is ``CanarySuccess`` 0 with the failed step;
the canary's payments are marked ``synthetic`` in the ledger and counted apart from the business
metrics, while a merchant's are unchanged."""

from __future__ import annotations

import io
import json
import sys
from pathlib import Path

import pytest

from fake_gateway import API_KEY, SECRET
from payments_testkit import API_KEY_IDS, MERCHANT_A, MERCHANT_B, REGION, REGISTRY_TABLE, register_merchant

ROOT = Path(__file__).resolve().parents[2]
for _path in (ROOT / "lambdas" / "canary", ROOT / "docs" / "api" / "client"):
    if str(_path) not in sys.path:
        sys.path.insert(0, str(_path))
import canary_handler  # noqa: E402

SECRET_ID = "payment/merchants/test/synthetic-canary"


def emf_lines(text: str) -> list[dict]:
    return [d for d in map(json.loads, filter(None, text.splitlines())) if "_aws" in d]


def metric(lines: list[dict], name: str, route: str) -> float | None:
    found = [d[name] for d in lines if name in d and d.get("Route") == route]
    return found[-1] if found else None


@pytest.fixture
def canary(gateway, shared_aws, monkeypatch):
    """The canary merchant onboarded: MERCHANT_A marked synthetic in the registry, its credentials in
    its secret (as ``make canary-onboard`` leaves them), the function's environment pointed at the
    gateway. Undone after: MERCHANT_A is a plain merchant for the other tests."""
    import boto3
    from payments_core import registry

    secrets = boto3.client("secretsmanager", region_name=REGION)
    secrets.create_secret(Name=SECRET_ID, SecretString=json.dumps(
        {"client_id": MERCHANT_A, "client_secret": SECRET, "api_key": API_KEY}))
    ddb = boto3.client("dynamodb", region_name=REGION)
    ddb.update_item(TableName=REGISTRY_TABLE, Key={"client_id": {"S": MERCHANT_A}},
                    UpdateExpression="SET synthetic = :t", ExpressionAttributeValues={":t": {"S": "true"}})
    for name, value in {"CANARY_CREDENTIALS_NAME": SECRET_ID, "API_URL": gateway.url,
                        "OAUTH_ENDPOINT": gateway.url + "/oauth2/token"}.items():
        monkeypatch.setenv(name, value)
    registry.reset_cache()
    monkeypatch.setattr(canary_handler, "_client", None)
    yield secrets
    secrets.delete_secret(SecretId=SECRET_ID, ForceDeleteWithoutRecovery=True)
    register_merchant(ddb, MERCHANT_A, API_KEY_IDS[MERCHANT_A])
    registry.reset_cache()


def run() -> tuple[dict, list[dict]]:
    out = io.StringIO()
    summary = canary_handler.handler({}, None, out=out)
    return summary, emf_lines(out.getvalue())


def test_a_healthy_platform_passes_every_step(canary, gateway, shared_aws):
    summary, lines = run()
    assert summary["ok"] is True, summary
    assert list(summary["steps_ms"]) == list(canary_handler.STEPS)
    assert metric(lines, "CanarySuccess", "all") == 1 and metric(lines, "CanaryDuration", "all") > 0
    assert metric(lines, "CanaryServing", "all") == 1  # a payment stored: the region is serving
    assert not [d for d in lines if "CanaryFailures" in d]
    # Each route once, then the same Idempotency-Key again: the replay stored nothing twice.
    paths = [path for path, _ in gateway.seen]
    assert paths == ["/validate", "/fraud-check", "/process", "/process"]
    assert gateway.seen[2][1] == gateway.seen[3][1] and gateway.answers[3][2].get("Idempotent-Replay") == "true"
    [row] = shared_aws.helpers.transactions()
    assert row["customer_id"].startswith("synthetic-canary-") and row["card_last4"] == "1111"


def test_the_canary_merchants_payment_is_marked_and_kept_out_of_the_business_metrics(canary, shared_aws, capsys):
    summary, _ = run()
    assert summary["ok"] is True, summary
    [row] = shared_aws.helpers.transactions()
    assert row["synthetic"] is True
    handler_metrics = emf_lines(capsys.readouterr().err)  # the payment functions' EMF, on stderr
    names = {m["Name"] for d in handler_metrics for m in d["_aws"]["CloudWatchMetrics"][0]["Metrics"]}
    assert names == {"SyntheticRequests", "PhaseLatency"}
    assert sorted(d["Route"] for d in handler_metrics if "SyntheticRequests" in d) == [
        "fraud-check", "process", "process", "validate"]


def test_a_merchants_payment_carries_no_synthetic_mark(gateway, shared_aws, capsys):
    from payments_client import PaymentsClient

    client = PaymentsClient(gateway.url, gateway.url + "/oauth2/token", MERCHANT_A, SECRET, API_KEY)
    client.process({"amount": "5.00", "currency": "USD", "card_number": "4111111111111111",
                    "customer_id": "cust-1"}, idempotency_key="order-1")
    [row] = shared_aws.helpers.transactions()
    assert "synthetic" not in row
    accepted = [d for d in emf_lines(capsys.readouterr().err) if "PaymentsAccepted" in d]
    assert accepted and not [d for d in accepted if "SyntheticRequests" in d]


def test_without_its_secret_the_run_fails_at_the_token_step(canary, shared_aws):
    canary.delete_secret(SecretId=SECRET_ID, ForceDeleteWithoutRecovery=True)
    summary, lines = run()
    assert summary["ok"] is False and summary["failed_step"] == "token"
    assert "make canary-onboard" in summary["detail"]
    assert metric(lines, "CanarySuccess", "all") == 0 and metric(lines, "CanaryFailures", "token") == 1
    shared_aws.helpers.assert_nothing_written()
    canary.create_secret(Name=SECRET_ID, SecretString="{}")  # for the fixture's teardown


def test_a_key_the_gateway_refuses_fails_the_first_route(canary, shared_aws):
    canary.put_secret_value(SecretId=SECRET_ID, SecretString=json.dumps(
        {"client_id": MERCHANT_A, "client_secret": SECRET, "api_key": "a-revoked-key"}))
    summary, lines = run()
    assert (summary["ok"], summary["failed_step"], summary["detail"]) == (False, "validate", "HTTP 403 None")
    assert metric(lines, "CanaryFailures", "validate") == 1
    shared_aws.helpers.assert_nothing_written()


def test_a_suspended_canary_merchant_is_refused_like_any_merchant(canary, shared_aws):
    import boto3

    boto3.client("dynamodb", region_name=REGION).update_item(
        TableName=REGISTRY_TABLE, Key={"client_id": {"S": MERCHANT_A}},
        UpdateExpression="SET #s = :s", ExpressionAttributeNames={"#s": "status"},
        ExpressionAttributeValues={":s": {"S": "suspended"}})
    summary, _ = run()
    assert (summary["failed_step"], summary["detail"]) == ("validate", "HTTP 403 MERCHANT_SUSPENDED")
    shared_aws.helpers.assert_nothing_written()


def test_one_gateway_error_is_retried_two_in_a_row_fail_the_run(canary, gateway, monkeypatch):
    import payments_client
    monkeypatch.setattr(payments_client.time, "sleep", lambda seconds: None)
    gateway.faults = ["503"]
    assert run()[0]["ok"] is True
    gateway.faults = ["503", "503"]
    summary, _ = run()
    assert (summary["failed_step"], summary["detail"]) == ("validate", "HTTP 503 None")


def test_after_a_failed_run_the_next_reads_the_secret_again(canary, gateway):
    canary.put_secret_value(SecretId=SECRET_ID, SecretString=json.dumps(
        {"client_id": MERCHANT_A, "client_secret": SECRET, "api_key": "a-revoked-key"}))
    assert run()[0]["ok"] is False
    canary.put_secret_value(SecretId=SECRET_ID, SecretString=json.dumps(
        {"client_id": MERCHANT_A, "client_secret": SECRET, "api_key": API_KEY}))  # re-onboarded
    assert run()[0]["ok"] is True


def test_a_warm_canary_asks_for_one_token_per_token_lifetime(canary, gateway):
    for _ in range(3):
        assert run()[0]["ok"] is True
    assert gateway.token_requests == 1


def test_the_report_holds_no_secret_and_no_card_number(canary, capsys):
    out = io.StringIO()
    canary_handler.handler({}, None, out=out)
    text = out.getvalue() + capsys.readouterr().out
    for value in (SECRET, API_KEY, "4111111111111111"):
        assert value not in text


def test_another_merchant_is_not_made_synthetic_by_the_canary(canary, gateway, shared_aws):
    """The mark comes from the registry item of the caller, not from anything a request says."""
    from payments_core import registry
    entry = registry.lookup(REGISTRY_TABLE, MERCHANT_B)
    assert entry.synthetic is False and registry.lookup(REGISTRY_TABLE, MERCHANT_A).synthetic is True


def test_during_a_migration_it_judges_the_new_api_not_the_weighted_name(canary, gateway, monkeypatch):
    """API_CONNECT_TO: the custom domain (the merchant-facing name, mostly still on legacy) is reached
    through the new API's regional endpoint; TLS still for the custom domain; the token endpoint as usual."""
    import socket
    import urllib.request
    connected, original = [], socket.create_connection

    def create_connection(address, *args, **kwargs):
        if address[0] == "127.0.0.1":  # the local token endpoint
            return original(address, *args, **kwargs)
        connected.append(address)
        raise ConnectionRefusedError("recorded")
    monkeypatch.setattr(socket, "create_connection", create_connection)
    monkeypatch.setenv("API_URL", "https://api.payments.example.com/")
    monkeypatch.setenv("API_CONNECT_TO", "d-abc123.execute-api.us-east-1.amazonaws.com")
    monkeypatch.setattr(urllib.request, "_opener", None)  # the process-wide opener the handler installs
    try:
        summary, _ = run()
    finally:
        urllib.request.install_opener(None)
    assert (summary["failed_step"], summary["detail"]) == ("validate", "HTTP None NETWORK_ERROR")
    assert set(connected) == {("d-abc123.execute-api.us-east-1.amazonaws.com", 443)}
    assert gateway.token_requests == 1  # the token endpoint (plain HTTP here) was not pinned


@pytest.fixture
def fenced_region(monkeypatch):
    """The region's functions fenced: the standby before a failover (no fence item, fenced by default)."""
    from payments_core import fence
    monkeypatch.setenv("REGION_FENCED_BY_DEFAULT", "true")
    fence.reset_cache()
    yield
    fence.reset_cache()


def test_a_fenced_region_passes_but_is_not_serving(canary, gateway, shared_aws, fenced_region):
    summary, lines = run()
    # Token, validate and fraud-check answered; /process refused by order: not a failure to page on,
    # but not a region Route 53 should send merchants to (CanaryServing 0, its health check's alarm).
    assert summary["ok"] is True and summary["serving"] is False and summary["fenced"] is True, summary
    assert metric(lines, "CanarySuccess", "all") == 1 and metric(lines, "CanaryServing", "all") == 0
    assert not [d for d in lines if "CanaryFailures" in d]
    assert list(summary["steps_ms"]) == ["token", "validate", "fraud-check"]
    shared_aws.helpers.assert_nothing_written()


def test_another_503_on_process_is_a_failure_not_a_fence(canary, gateway):
    gateway.faults = [None, None, "503", "503"]  # validate, fraud-check pass; process fails twice
    summary, lines = run()
    assert summary["ok"] is False and summary["serving"] is False and summary["failed_step"] == "process"
    assert metric(lines, "CanarySuccess", "all") == 0 and metric(lines, "CanaryServing", "all") == 0
