"""The region fence (payments_core.fence) through the real handlers, against moto: a fenced region
stores no payment (503 REGION_FENCED, nothing written) and keeps answering the routes that store
nothing; the fence takes effect within its cache time; a fence that cannot be read refuses like the
registry (503, nothing written); another region's fence changes nothing here."""
from __future__ import annotations

import json

import pytest

from payments_testkit import REGION, REGISTRY_TABLE, HandClock, api_event, valid_payload


@pytest.fixture
def fence(shared_aws, monkeypatch):
    from payments_core import fence as module
    module.reset_cache()
    clock = HandClock()
    monkeypatch.setattr(module, "clock", clock)
    yield module, clock
    for region in (REGION, "us-west-2"):
        shared_aws.ddb.delete_item(TableName=REGISTRY_TABLE, Key={"client_id": {"S": module.fence_key(region)}})
    module.reset_cache()


def _fence(ddb, region=REGION):
    ddb.put_item(TableName=REGISTRY_TABLE, Item={"client_id": {"S": f"region-fence#{region}"},
                                                 "changed_at": {"S": "2026-12-03T23:40:00+00:00"}})  # no flag: a fence


def _process(key="fence-1"):
    import process_handler
    return process_handler.handler(api_event(valid_payload(), headers={"Idempotency-Key": key},
                                             path="/process"), None)


def _validate():
    import validate_handler
    return validate_handler.handler(api_event(valid_payload(), path="/validate"), None)


def _code(response):
    return json.loads(response["body"])["error"]["code"]


def test_a_fenced_region_stores_no_payment_and_says_so(shared_aws, fence):
    _fence(shared_aws.ddb)
    refused = _process()
    assert refused["statusCode"] == 503 and _code(refused) == "REGION_FENCED"
    shared_aws.helpers.assert_nothing_written()
    assert _validate()["statusCode"] == 200  # stores nothing: still answered


def test_the_fence_takes_effect_within_its_cache_time(shared_aws, fence):
    module, clock = fence
    assert _process("before")["statusCode"] == 200
    _fence(shared_aws.ddb)
    clock.now += module.CACHE_SECONDS - 0.1
    assert _process("cached")["statusCode"] == 200  # the unfenced answer is still trusted
    clock.now += 0.2
    assert _code(_process("after")) == "REGION_FENCED"
    assert len(shared_aws.helpers.transactions()) == 2


def test_unfencing_lets_payments_through_again(shared_aws, fence):
    module, clock = fence
    _fence(shared_aws.ddb)
    assert _code(_process()) == "REGION_FENCED"
    shared_aws.ddb.delete_item(TableName=REGISTRY_TABLE, Key={"client_id": {"S": module.fence_key(REGION)}})
    clock.now += module.CACHE_SECONDS
    assert _process()["statusCode"] == 200


def test_another_regions_fence_changes_nothing_here(shared_aws, fence):
    _fence(shared_aws.ddb, "us-west-2")
    assert _process()["statusCode"] == 200


def test_a_fence_that_cannot_be_read_refuses_the_payment(shared_aws, fence, monkeypatch):
    from botocore.exceptions import ClientError
    from payments_core import fence as module

    class Failing:
        def get_item(self, **_):
            raise ClientError({"Error": {"Code": "InternalServerError", "Message": "x"}}, "GetItem")

    with pytest.raises(Exception) as raised:
        module.require_unfenced(REGISTRY_TABLE, REGION, ddb=Failing())
    assert raised.value.code == "REGISTRY_UNAVAILABLE" and raised.value.status_code == 503
    module.reset_cache()
    assert module.is_fenced(REGISTRY_TABLE, REGION) is False  # a failure is not cached


def test_a_fence_key_can_never_be_a_merchant_id():
    from payments_core import fence as module
    from payments_core.apigw import MERCHANT_ID_RE
    assert not MERCHANT_ID_RE.fullmatch(module.fence_key(REGION))


def _set_fence(ddb, fenced: bool, region=REGION):
    ddb.put_item(TableName=REGISTRY_TABLE, Item={"client_id": {"S": f"region-fence#{region}"},
                                                 "fenced": {"BOOL": fenced},
                                                 "changed_at": {"S": "2026-12-04T02:00:00+00:00"}})


def test_a_standby_region_without_a_fence_item_stores_no_payment(shared_aws, fence, monkeypatch):
    monkeypatch.setenv("REGION_FENCED_BY_DEFAULT", "true")  # what the standby stack sets
    assert _code(_process("standby")) == "REGION_FENCED"
    shared_aws.helpers.assert_nothing_written()
    assert _validate()["statusCode"] == 200


def test_a_standby_region_takes_payments_only_after_an_explicit_unfence(shared_aws, fence, monkeypatch):
    module, clock = fence
    monkeypatch.setenv("REGION_FENCED_BY_DEFAULT", "true")
    _set_fence(shared_aws.ddb, fenced=False)  # what `make failover` writes for the DR region
    assert _process("after-failover")["statusCode"] == 200
    _set_fence(shared_aws.ddb, fenced=True)  # `make failback` fences it again
    clock.now += module.CACHE_SECONDS
    assert _code(_process("after-failback")) == "REGION_FENCED"
    assert len(shared_aws.helpers.transactions()) == 1


def test_the_fenced_flag_decides_and_an_item_without_it_is_a_fence():
    from payments_core.fence import fenced_by
    assert fenced_by(None, False) is False and fenced_by(None, True) is True
    assert fenced_by({"fenced": {"BOOL": False}}, True) is False
    assert fenced_by({"fenced": {"BOOL": True}}, False) is True
    assert fenced_by({"client_id": {"S": "region-fence#us-east-1"}}, False) is True
