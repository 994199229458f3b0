"""The merchant registry check (payments_core.registry) through the real handlers, against moto.

A request must come from a registered, active merchant AND carry that merchant's own API key id
(``requestContext.identity.apiKeyId``); otherwise it is a 403 with a code, before any merchant-data
session, read or write. A registry that cannot be read fails closed (503).
"""
from __future__ import annotations

import contextlib
import json

import pytest

from payments_testkit import (API_KEY_IDS, DROP, MERCHANT_A, MERCHANT_B, REGISTRY_TABLE, HandClock, api_event,
                              register_merchant, valid_payload)

ROUTES = {"validate": "/validate", "fraud_check": "/fraud-check", "process": "/process"}
MERCHANT_C = "9z8y7x6w5v4u3t2s1r0example"  # a valid client id the registry does not know
KEY_VALUE = "Xk2vQ9-the-api-key-VALUE-never-logged"


def _handler(route):
    import fraud_check_handler
    import process_handler
    import validate_handler
    return {"validate": validate_handler, "fraud_check": fraud_check_handler,
            "process": process_handler}[route].handler


def _call(route, merchant=MERCHANT_A, **kwargs):
    event = api_event(valid_payload(), headers={"Idempotency-Key": "reg-key"}, path=ROUTES[route],
                      merchant=merchant, **kwargs)
    event["requestContext"].setdefault("identity", {})["apiKey"] = KEY_VALUE
    return _handler(route)(event, None)


def _code(resp):
    return json.loads(resp["body"])["error"]["code"]


@pytest.fixture
def registry(shared_aws, monkeypatch):
    """The registry module on a hand clock, from a cold cache; both merchants active again after."""
    from payments_core import registry as module, tenancy
    module.reset_cache()
    tenancy.reset_sessions()
    clock = HandClock()
    monkeypatch.setattr(module, "clock", clock)
    yield module, clock
    for client_id, key_id in API_KEY_IDS.items():
        register_merchant(shared_aws.ddb, client_id, key_id)
    shared_aws.ddb.delete_item(TableName=REGISTRY_TABLE, Key={"client_id": {"S": MERCHANT_C}})
    module.reset_cache()


def _assert_refused_untouched(shared_aws, resp, status, code):
    from payments_core import tenancy
    assert resp["statusCode"] == status, resp
    assert _code(resp) == code
    assert json.loads(resp["body"])["error"]["correlation_id"] == resp["headers"]["X-Correlation-Id"]
    shared_aws.helpers.assert_nothing_written()
    assert not tenancy._sessions  # no merchant-data session was even opened: nothing was read


@pytest.mark.parametrize("route", ROUTES)
def test_one_merchants_token_with_another_merchants_api_key_is_403_and_stores_nothing(
        shared_aws, registry, capsys, route):
    resp = _call(route, merchant=MERCHANT_A, api_key_id=API_KEY_IDS[MERCHANT_B])
    _assert_refused_untouched(shared_aws, resp, 403, "API_KEY_NOT_BOUND")
    [line] = [json.loads(x) for x in capsys.readouterr().out.splitlines() if '"WARNING"' in x]
    assert line["message"] == "merchant refused by the registry"
    assert (line["merchant_id"], line["api_key_id"]) == (MERCHANT_A, API_KEY_IDS[MERCHANT_B])
    assert KEY_VALUE not in json.dumps(line)


@pytest.mark.parametrize("route", ROUTES)
def test_a_request_without_an_api_key_id_is_403(shared_aws, registry, route):
    _assert_refused_untouched(shared_aws, _call(route, api_key_id=None), 403, "API_KEY_NOT_BOUND")


def test_each_merchant_with_its_own_key_is_served(shared_aws, registry):
    """Control case: the same calls with the bound keys pass (and process stores one payment each)."""
    for merchant in (MERCHANT_A, MERCHANT_B):
        for route in ROUTES:
            assert _call(route, merchant=merchant)["statusCode"] == 200
    assert len(shared_aws.helpers.transactions()) == 2


@pytest.mark.parametrize("route", ROUTES)
def test_unknown_client_id_is_403(shared_aws, registry, route):
    resp = _call(route, merchant=MERCHANT_C, api_key_id=API_KEY_IDS[MERCHANT_A])
    _assert_refused_untouched(shared_aws, resp, 403, "MERCHANT_NOT_REGISTERED")


@pytest.mark.parametrize("status,code", [("suspended", "MERCHANT_SUSPENDED"), ("removed", "MERCHANT_REMOVED"),
                                         ("something-else", "MERCHANT_SUSPENDED")])
def test_a_merchant_that_is_not_active_is_403_even_with_its_own_key(shared_aws, registry, status, code):
    register_merchant(shared_aws.ddb, MERCHANT_A, API_KEY_IDS[MERCHANT_A], status=status)
    for route in ROUTES:
        _assert_refused_untouched(shared_aws, _call(route), 403, code)


def test_suspend_and_resume_take_effect_when_the_cached_entry_expires(shared_aws, registry):
    module, clock = registry
    assert module.CACHE_SECONDS <= 60  # the documented bound: suspension bites within a minute
    assert _call("process")["statusCode"] == 200
    register_merchant(shared_aws.ddb, MERCHANT_A, API_KEY_IDS[MERCHANT_A], status="suspended")
    clock.now += module.CACHE_SECONDS - 1
    assert _call("validate")["statusCode"] == 200  # the warm container still trusts its entry
    clock.now += 1
    assert _code(_call("validate")) == "MERCHANT_SUSPENDED"
    register_merchant(shared_aws.ddb, MERCHANT_A, API_KEY_IDS[MERCHANT_A], status="active")  # resume
    assert _code(_call("validate")) == "MERCHANT_SUSPENDED"
    clock.now += module.CACHE_SECONDS
    assert _call("fraud_check")["statusCode"] == 200


def test_an_unknown_client_is_cached_too_and_found_once_registered(shared_aws, registry):
    module, clock = registry
    assert _code(_call("validate", merchant=MERCHANT_C, api_key_id="k-c")) == "MERCHANT_NOT_REGISTERED"
    register_merchant(shared_aws.ddb, MERCHANT_C, "k-c")
    clock.now += module.CACHE_SECONDS
    assert _call("validate", merchant=MERCHANT_C, api_key_id="k-c")["statusCode"] == 200


@pytest.mark.parametrize("route", ROUTES)
def test_a_registry_that_cannot_be_read_fails_closed_with_503(shared_aws, registry, monkeypatch, capsys, route):
    monkeypatch.setenv("MERCHANT_REGISTRY_TABLE", "no-such-registry")  # ResourceNotFoundException
    resp = _call(route)
    _assert_refused_untouched(shared_aws, resp, 503, "REGISTRY_UNAVAILABLE")
    [line] = [json.loads(x) for x in capsys.readouterr().out.splitlines() if '"ERROR"' in x]
    assert line["reason"] == "ResourceNotFoundException" and line["error_code"] == "REGISTRY_UNAVAILABLE"
    # a failure is never cached: the next request with the registry back is served
    monkeypatch.setenv("MERCHANT_REGISTRY_TABLE", REGISTRY_TABLE)
    assert _call(route)["statusCode"] == 200


def test_without_the_registry_setting_every_route_is_a_generic_500_that_writes_nothing(
        shared_aws, registry, monkeypatch):
    monkeypatch.delenv("MERCHANT_REGISTRY_TABLE")
    for route in ROUTES:
        resp = _call(route)
        assert (resp["statusCode"], _code(resp)) == (500, "INTERNAL_ERROR")
    shared_aws.helpers.assert_nothing_written()


# --------------------------------------------------------------------------- the cache, without AWS

class _FakeDdb:
    def __init__(self, error=None):
        self.calls, self.error = [], error

    def get_item(self, **kwargs):
        self.calls.append(kwargs["Key"]["client_id"]["S"])
        if self.error:
            raise self.error
        return {"Item": {"client_id": kwargs["Key"]["client_id"], "status": {"S": "active"},
                         "api_key_id": {"S": "k"}}}


def test_lookup_reads_consistently_once_per_cache_period_and_the_cache_is_bounded(monkeypatch):
    from payments_core import registry as module
    module.reset_cache()
    clock = HandClock()
    monkeypatch.setattr(module, "clock", clock)
    monkeypatch.setattr(module, "MAX_CACHED", 2)
    ddb = _FakeDdb()
    for _ in range(3):
        module.lookup("t", "m1", ddb=ddb)
    assert ddb.calls == ["m1"]
    clock.now += module.CACHE_SECONDS
    module.lookup("t", "m1", ddb=ddb)
    assert ddb.calls == ["m1", "m1"]
    module.lookup("t", "m2", ddb=ddb)
    module.lookup("t", "m3", ddb=ddb)  # evicts m1, the least recently used
    module.lookup("t", "m1", ddb=ddb)
    assert ddb.calls == ["m1", "m1", "m2", "m3", "m1"]
    module.reset_cache()


def test_a_connection_failure_is_registry_unavailable_and_not_cached():
    from botocore.exceptions import EndpointConnectionError
    from payments_core import registry as module
    module.reset_cache()
    ddb = _FakeDdb(EndpointConnectionError(endpoint_url="https://dynamodb"))
    for _ in range(2):
        with pytest.raises(module.RegistryUnavailable) as exc:
            module.require_registered("m1", "k", "t", ddb=ddb)
        assert (exc.value.status_code, exc.value.reason) == (503, "EndpointConnectionError")
    assert ddb.calls == ["m1", "m1"]


# --------------------------------------------------------------------------- one merchant, two app clients

DR_CLIENT = "4dr9client0in0the0dr0pool1"  # the same merchant's app client in the DR region's user pool
DR_KEY_ID = "drkey12345"
A_NAME = f"m-{MERCHANT_A[:6]}"  # the merchant name register_merchant gives MERCHANT_A


def _pay(merchant, key="order-7", api_key_id=DROP):
    """POST /process as ``merchant`` (the key id: its own unless given)."""
    import process_handler
    event = api_event(valid_payload(amount="42.00"), headers={"Idempotency-Key": key}, path="/process",
                      merchant=merchant, api_key_id=api_key_id)
    return process_handler.handler(event, None)


@contextlib.contextmanager
def dr_client_keyed_by(ddb, merchant_key):
    """A second app client of MERCHANT_A (as the DR region's pool issues), its own API key, its data
    keyed by ``merchant_key``; removed after."""
    ddb.put_item(TableName=REGISTRY_TABLE, Item={
        "client_id": {"S": DR_CLIENT}, "merchant": {"S": A_NAME}, "api_key_id": {"S": DR_KEY_ID},
        "status": {"S": "active"}, "merchant_key": {"S": merchant_key}})
    try:
        yield
    finally:
        ddb.delete_item(TableName=REGISTRY_TABLE, Key={"client_id": {"S": DR_CLIENT}})


@pytest.fixture
def second_client(shared_aws, registry):
    """MERCHANT_A's second client keyed by MERCHANT_A."""
    with dr_client_keyed_by(shared_aws.ddb, MERCHANT_A):
        yield


def test_a_merchants_second_client_keys_its_data_by_the_one_merchant_id(shared_aws, second_client):
    response = _pay(DR_CLIENT, api_key_id=DR_KEY_ID)
    assert response["statusCode"] == 200, response
    [row] = shared_aws.helpers.transactions()
    assert row["merchant_transaction"].startswith(f"{MERCHANT_A}#") and row["merchant_id"] == MERCHANT_A
    assert [r["idempotency_key"].split("#")[0] for r in shared_aws.helpers.idempotency_records()] == [MERCHANT_A]


def test_a_retry_through_the_other_client_replays_instead_of_paying_twice(shared_aws, second_client):
    """A payment made through the primary's client, retried with the same Idempotency-Key through the
    DR client (after a failover, once the idempotency record has replicated): the stored answer."""
    first = _pay(MERCHANT_A)
    again = _pay(DR_CLIENT, api_key_id=DR_KEY_ID)
    assert again["statusCode"] == 200 and again["headers"].get("Idempotent-Replay") == "true"
    assert json.loads(again["body"])["transaction_id"] == json.loads(first["body"])["transaction_id"]
    assert len(shared_aws.helpers.transactions()) == 1


def test_the_second_client_still_needs_its_own_api_key(shared_aws, second_client):
    refused = _pay(DR_CLIENT, api_key_id=API_KEY_IDS[MERCHANT_A])  # the primary client's key
    assert refused["statusCode"] == 403 and _code(refused) == "API_KEY_NOT_BOUND"
    shared_aws.helpers.assert_nothing_written()


def test_a_malformed_merchant_key_fails_closed_and_writes_nothing(shared_aws, registry):
    with dr_client_keyed_by(shared_aws.ddb, f"{MERCHANT_A}#other"):
        refused = _pay(DR_CLIENT, api_key_id=DR_KEY_ID)
        assert refused["statusCode"] == 503 and _code(refused) == "REGISTRY_UNAVAILABLE"
        shared_aws.helpers.assert_nothing_written()


@pytest.mark.parametrize("status, code", [("suspended", "MERCHANT_SUSPENDED"), ("removed", "MERCHANT_REMOVED")])
def test_suspending_the_merchant_stops_its_second_client_too(shared_aws, second_client, status, code):
    register_merchant(shared_aws.ddb, MERCHANT_A, API_KEY_IDS[MERCHANT_A], status=status)
    refused = _pay(DR_CLIENT, api_key_id=DR_KEY_ID)
    assert refused["statusCode"] == 403 and _code(refused) == code
    shared_aws.helpers.assert_nothing_written()


@pytest.mark.parametrize("target", [MERCHANT_B, "9z8y7x6w5v4u3t2s1r0example"])
def test_a_merchant_key_of_another_merchant_or_of_nobody_reaches_no_data(shared_aws, registry, target):
    """A mistyped merchant_key: another merchant's id (another name) or an unregistered one."""
    with dr_client_keyed_by(shared_aws.ddb, target):
        refused = _pay(DR_CLIENT, api_key_id=DR_KEY_ID)
        assert refused["statusCode"] == 503 and _code(refused) == "REGISTRY_UNAVAILABLE"
        shared_aws.helpers.assert_nothing_written()
