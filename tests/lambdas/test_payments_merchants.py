"""Merchant identity and isolation (moto-backed).

The merchant is the Cognito app client id from the claims API Gateway's
authorizer verified; two merchants never see, replay or overwrite each other's
data, and merchant data is reached only with a session tagged for that merchant.
"""
from __future__ import annotations

import datetime as dt
import json

import pytest

from payments_testkit import (ACTIVITY_TABLE, IDEMPOTENCY_TABLE, MERCHANT_A, MERCHANT_B,
                              MERCHANT_ROLE_ARN, REGISTRY_TABLE, TRANSACTION_TABLE, VISA, api_event,
                              contains_pan, seed_activity, valid_payload)

ROUTES = {"validate": "/validate", "fraud_check": "/fraud-check", "process": "/process"}


def _handler(route):
    import fraud_check_handler
    import process_handler
    import validate_handler
    return {"validate": validate_handler, "fraud_check": fraud_check_handler,
            "process": process_handler}[route].handler


def _process(body, key="iso-key", merchant=MERCHANT_A):
    return _handler("process")(api_event(body, headers={"Idempotency-Key": key}, path="/process",
                                         merchant=merchant), None)


def _fraud(body, merchant=MERCHANT_A):
    resp = _handler("fraud_check")(api_event(body, path="/fraud-check", merchant=merchant), None)
    assert resp["statusCode"] == 200, resp
    return json.loads(resp["body"])


def _log_lines(capsys):
    return [json.loads(line) for line in capsys.readouterr().out.splitlines()]


# --------------------------------------------------------------------------- identity

def _no_authorizer(event):
    del event["requestContext"]["authorizer"]


def _claims(**changes):
    def mutate(event):
        claims = event["requestContext"]["authorizer"]["claims"]
        for name, value in changes.items():
            if value is _DEL:
                del claims[name]
            else:
                claims[name] = value
    return mutate


_DEL = object()

BAD_IDENTITIES = [
    ("no-authorizer", _no_authorizer),
    ("no-request-context", lambda e: e.pop("requestContext")),
    ("authorizer-without-claims", lambda e: e["requestContext"]["authorizer"].pop("claims")),
    ("claims-not-an-object", lambda e: e["requestContext"]["authorizer"].update(claims="x")),
    ("client_id-missing", _claims(client_id=_DEL)),
    ("client_id-blank", _claims(client_id="")),
    ("client_id-spaces", _claims(client_id="   ")),
    ("client_id-with-separator", _claims(client_id=f"{MERCHANT_A}#x")),
    ("client_id-traversal", _claims(client_id="../other")),
    ("client_id-too-long", _claims(client_id="a" * 129)),
    ("client_id-not-a-string", _claims(client_id=12345)),
    ("id-token", _claims(token_use="id")),
    ("token_use-missing", _claims(token_use=_DEL)),
]


@pytest.mark.parametrize("route", ROUTES)
@pytest.mark.parametrize("case_id,mutate", BAD_IDENTITIES, ids=[c[0] for c in BAD_IDENTITIES])
def test_request_without_a_verified_merchant_is_a_logged_403_that_writes_nothing(
        shared_aws, capsys, route, case_id, mutate):
    headers = {"Content-Type": "application/json", "Idempotency-Key": "no-merchant",
               # a merchant named by the client is never taken
               "X-Merchant-Id": MERCHANT_A}
    event = api_event(valid_payload(), headers=headers, path=ROUTES[route], request_id="req-403")
    mutate(event)
    resp = _handler(route)(event, None)
    assert resp["statusCode"] == 403, resp
    error = json.loads(resp["body"])["error"]
    correlation_id = resp["headers"]["X-Correlation-Id"]
    assert error["code"] == "MERCHANT_UNAUTHENTICATED" and error["correlation_id"] == correlation_id
    [line] = [x for x in _log_lines(capsys) if x["level"] == "WARNING"]
    assert line["message"] == "request without a verified merchant"
    assert line["error_code"] == "MERCHANT_UNAUTHENTICATED" and line["reason"]
    assert line["correlation_id"] == correlation_id and line["status_code"] == 403
    shared_aws.helpers.assert_nothing_written()


@pytest.mark.parametrize("route", ROUTES)
def test_token_without_the_route_scope_is_403(shared_aws, capsys, route):
    other = "payments/validate" if route != "validate" else "payments/process"
    event = api_event(valid_payload(), headers={"Idempotency-Key": "scope-key"},
                      path=ROUTES[route], scope=f"openid {other}")
    resp = _handler(route)(event, None)
    assert resp["statusCode"] == 403
    assert json.loads(resp["body"])["error"]["code"] == "INSUFFICIENT_SCOPE"
    assert any(x["level"] == "WARNING" for x in _log_lines(capsys))
    shared_aws.helpers.assert_nothing_written()


def test_a_well_formed_merchant_is_accepted_on_every_route(shared_aws):
    """Control case for the 403 tests above."""
    for route, path in ROUTES.items():
        event = api_event(valid_payload(), headers={"Idempotency-Key": "ok-key"}, path=path)
        assert _handler(route)(event, None)["statusCode"] == 200


# --------------------------------------------------------------------------- isBase64Encoded

@pytest.mark.parametrize("route", ROUTES)
@pytest.mark.parametrize("value", ["true", "false", "True", 1, 0, None, [], {}])
def test_is_base64_encoded_must_be_a_boolean(shared_aws, capsys, route, value):
    event = api_event(valid_payload(), headers={"Idempotency-Key": "b64-key"}, path=ROUTES[route])
    event["isBase64Encoded"] = value
    resp = _handler(route)(event, None)
    assert resp["statusCode"] == 400, resp
    error = json.loads(resp["body"])["error"]
    assert (error["code"], error["field"]) == ("INVALID_REQUEST", "isBase64Encoded")
    shared_aws.helpers.assert_nothing_written()


def test_absent_is_base64_encoded_means_plain_text(shared_aws):
    event = api_event(valid_payload())
    del event["isBase64Encoded"]
    assert _handler("validate")(event, None)["statusCode"] == 200


# --------------------------------------------------------------------------- isolation

def test_fraud_check_never_reads_another_merchants_customer_history(shared_aws):
    seed_activity(shared_aws.ddb, MERCHANT_A, "cust_001", ["10"] * 6)
    mine = _fraud(valid_payload(customer_id="cust_001"), merchant=MERCHANT_A)
    theirs = _fraud(valid_payload(customer_id="cust_001"), merchant=MERCHANT_B)
    assert mine["recent_transaction_count"] == 6 and "HIGH_VELOCITY" in mine["reasons"]
    assert theirs["recent_transaction_count"] == 0 and theirs["reasons"] == []


def test_payments_count_only_in_their_own_merchants_history(shared_aws):
    for i in range(5):
        assert _process(valid_payload(amount="10.00"), key=f"a-{i}")["statusCode"] == 200
    assert _fraud(valid_payload(), merchant=MERCHANT_A)["recent_transaction_count"] == 5
    assert _fraud(valid_payload(), merchant=MERCHANT_B)["recent_transaction_count"] == 0
    resp = _process(valid_payload(amount="10.00"), key="b-0", merchant=MERCHANT_B)
    assert "HIGH_VELOCITY" not in json.loads(resp["body"])["reasons"]
    activity = {a["merchant_customer"]: len(a["recent"]) for a in shared_aws.helpers.activity()}
    assert activity == {f"{MERCHANT_A}#cust_001": 5, f"{MERCHANT_B}#cust_001": 1}


def test_same_idempotency_key_from_two_merchants_is_two_payments(shared_aws):
    a = _process(valid_payload(), key="shared-key", merchant=MERCHANT_A)
    b = _process(valid_payload(), key="shared-key", merchant=MERCHANT_B)
    assert a["statusCode"] == b["statusCode"] == 200
    assert "Idempotent-Replay" not in b["headers"]  # not A's response replayed
    body_a, body_b = json.loads(a["body"]), json.loads(b["body"])
    assert body_a["transaction_id"] != body_b["transaction_id"]
    # a different body under the same key is not "reuse" across merchants
    c = _process(valid_payload(amount="99.00"), key="other-key", merchant=MERCHANT_A)
    d = _process(valid_payload(amount="1.00"), key="other-key", merchant=MERCHANT_B)
    assert c["statusCode"] == d["statusCode"] == 200
    # nothing overwritten: both merchants' records and transactions exist, each replays its own
    records = shared_aws.helpers.idempotency_records()
    assert len(records) == 4
    assert {r["idempotency_key"].split("#")[0] for r in records} == {MERCHANT_A, MERCHANT_B}
    transactions = shared_aws.helpers.transactions()
    assert len(transactions) == 4
    assert sorted(t["merchant_id"] for t in transactions) == sorted([MERCHANT_A, MERCHANT_B] * 2)
    again_a = _process(valid_payload(), key="shared-key", merchant=MERCHANT_A)
    again_b = _process(valid_payload(), key="shared-key", merchant=MERCHANT_B)
    assert again_a["body"] == a["body"] and again_b["body"] == b["body"]
    assert again_a["headers"]["Idempotent-Replay"] == again_b["headers"]["Idempotent-Replay"] == "true"
    # and reuse with another body is still refused within one merchant
    assert _process(valid_payload(amount="5.00"), key="shared-key",
                    merchant=MERCHANT_B)["statusCode"] == 422


def test_a_card_number_as_idempotency_key_is_never_stored_or_logged(shared_aws, capsys):
    first = _process(valid_payload(card_number="5555555555554444"), key=VISA)
    assert first["statusCode"] == 200
    replay = _process(valid_payload(card_number="5555555555554444"), key=VISA)
    assert replay["body"] == first["body"] and replay["headers"]["Idempotent-Replay"] == "true"
    reused = _process(valid_payload(card_number="5555555555554444", amount="1.00"), key=VISA)
    assert reused["statusCode"] == 422
    raw = json.dumps(shared_aws.helpers.scan(TRANSACTION_TABLE) + shared_aws.helpers.scan(IDEMPOTENCY_TABLE)
                     + shared_aws.helpers.scan(ACTIVITY_TABLE))
    assert VISA not in raw and not contains_pan(raw)
    out = capsys.readouterr().out
    assert VISA not in out and "************1111" not in out  # not even masked: never logged
    digests = {json.loads(x).get("idempotency_key_digest") for x in out.splitlines()} - {None}
    assert len(digests) == 1 and len(digests.pop()) == 64


# --------------------------------------------------------------------------- scoped credentials

@pytest.fixture
def assumed_roles(shared_aws):
    """Every sts:AssumeRole the functions make (through the cached payments_core client),
    starting from a cold container (no cached client or session)."""
    from payments_core import aws as core_aws
    core_aws.reset_clients()
    calls = []
    core_aws.client("sts").meta.events.register(
        "before-parameter-build.sts.AssumeRole", lambda params, **kw: calls.append(params))
    return calls


def test_merchant_data_is_reached_with_a_session_tagged_for_that_merchant(shared_aws, assumed_roles):
    from payments_core import aws as core_aws
    own_tables = []  # tables the function's own (unscoped) credentials touch
    core_aws.client("dynamodb").meta.events.register(
        "provide-client-params.dynamodb.*", lambda params, **_: own_tables.append(params.get("TableName")))
    assert _process(valid_payload(), key="tag-1")["statusCode"] == 200
    assert _fraud(valid_payload())["recent_transaction_count"] == 1
    assert _process(valid_payload(), key="tag-1", merchant=MERCHANT_B)["statusCode"] == 200
    # one session per merchant per warm container, tagged with the merchant id
    assert [(c["RoleArn"], c["Tags"]) for c in assumed_roles] == [
        (MERCHANT_ROLE_ARN, [{"Key": "merchant_id", "Value": MERCHANT_A}]),
        (MERCHANT_ROLE_ARN, [{"Key": "merchant_id", "Value": MERCHANT_B}]),
    ]
    assert assumed_roles[0]["RoleSessionName"] == f"merchant-{MERCHANT_A}"
    # the function's own (unscoped) credentials read the merchant registry and nothing else
    assert own_tables and set(own_tables) == {REGISTRY_TABLE}


def test_missing_merchant_role_is_a_500_and_writes_nothing(shared_aws, monkeypatch):
    monkeypatch.delenv("MERCHANT_DATA_ROLE_ARN")
    assert _process(valid_payload())["statusCode"] == 500
    fraud = _handler("fraud_check")(api_event(valid_payload(), path="/fraud-check"), None)
    assert fraud["statusCode"] == 500
    shared_aws.helpers.assert_nothing_written()


class _FakeSts:
    def __init__(self, lifetime):
        self.lifetime, self.calls = lifetime, 0

    def assume_role(self, **kwargs):
        self.calls += 1
        return {"Credentials": {
            "AccessKeyId": f"ASIA{self.calls:016d}", "SecretAccessKey": "x", "SessionToken": "y",
            "Expiration": dt.datetime.fromtimestamp(1_000_000 + self.lifetime, tz=dt.timezone.utc)}}


def test_sessions_are_cached_until_near_expiry_and_bounded(monkeypatch):
    from payments_core import tenancy
    tenancy.reset_sessions()
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    sts, now = _FakeSts(lifetime=3600), [1_000_000.0]
    client = tenancy.merchant_client("dynamodb", "m1", "arn:r", sts=sts, clock=lambda: now[0])
    now[0] += 3600 - tenancy.REFRESH_MARGIN_SECONDS - 1
    assert tenancy.merchant_client("dynamodb", "m1", "arn:r", sts=sts, clock=lambda: now[0]) is client
    assert sts.calls == 1
    now[0] += 2  # inside the refresh margin: a new session
    assert tenancy.merchant_client("dynamodb", "m1", "arn:r", sts=sts, clock=lambda: now[0]) is not client
    assert sts.calls == 2
    monkeypatch.setattr(tenancy, "MAX_CACHED_SESSIONS", 2)
    for merchant in ("m2", "m3"):
        tenancy.merchant_client("dynamodb", merchant, "arn:r", sts=sts, clock=lambda: 0.0)
    assert [k[1] for k in tenancy._sessions] == ["m2", "m3"]
    tenancy.reset_sessions()
