"""`make fence` / `make unfence` / `make fence-status` (scripts/fence.py) against moto, in the DR
region's replica of the merchant registry: the item payments_core.fence reads, written only where
there is none and lifted only where there is one."""

from __future__ import annotations

import datetime as dt

import boto3
import pytest

from scripts import fence

TABLE = "payment-merchant-registry-staging"
ENV = {"ENVIRONMENT_SUFFIX": "staging", "PAYMENTS_DR_REGION": "us-west-2"}
NOW = dt.datetime(2026, 12, 3, 23, 45, tzinfo=dt.timezone.utc)


@pytest.fixture
def dr_registry(monkeypatch):
    from moto import mock_aws
    for name, value in {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", **ENV}.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("PAYMENTS_AWS_ENDPOINT", raising=False)
    with mock_aws():
        # Both replicas of the registry; moto does not replicate between them (the lag case).
        for region in ("us-east-1", "us-west-2"):
            boto3.client("dynamodb", region_name=region).create_table(
                TableName=TABLE, BillingMode="PAY_PER_REQUEST",
                AttributeDefinitions=[{"AttributeName": "client_id", "AttributeType": "S"}],
                KeySchema=[{"AttributeName": "client_id", "KeyType": "HASH"}])
        yield boto3.client("dynamodb", region_name="us-west-2")  # the replica the operator reaches


def test_fence_writes_the_item_the_functions_read_once(dr_registry):
    written, wrote = fence.fence(dr_registry, TABLE, "us-east-1", "drill", NOW)
    assert wrote and written == fence.Fence("us-east-1", True, "2026-12-03T23:45:00+00:00", "drill")
    item = dr_registry.get_item(TableName=TABLE, Key={"client_id": {"S": "region-fence#us-east-1"}})["Item"]
    assert item["reason"] == {"S": "drill"} and item["fenced"] == {"BOOL": True}
    again, wrote = fence.fence(dr_registry, TABLE, "us-east-1", "second operator", NOW + dt.timedelta(minutes=1))
    assert not wrote and again.since == written.since and again.reason == "drill"  # the first one stands


def test_unfence_lifts_only_an_existing_fence(dr_registry):
    before, lifted = fence.unfence(dr_registry, TABLE, "us-east-1")
    assert not lifted and not before.fenced
    fence.fence(dr_registry, TABLE, "us-east-1", "drill", NOW)
    before, lifted = fence.unfence(dr_registry, TABLE, "us-east-1", NOW)
    assert lifted and before.fenced and not fence.read(dr_registry, TABLE, "us-east-1").fenced
    # Written as `fenced = false`, so the primary is open and the record says who opened it when.
    item = dr_registry.get_item(TableName=TABLE, Key={"client_id": {"S": "region-fence#us-east-1"}})["Item"]
    assert item["fenced"] == {"BOOL": False}


def test_a_standby_region_is_fenced_until_it_is_opened(dr_registry):
    # The DR region's functions treat no item as a fence (REGION_FENCED_BY_DEFAULT on the standby).
    assert fence.read(dr_registry, TABLE, "us-west-2", default=True) == fence.Fence("us-west-2", True)
    again, wrote = fence.fence(dr_registry, TABLE, "us-west-2", "drill", NOW, default=True)
    assert not wrote and again.fenced and again.since is None  # nothing to write: fenced already
    before, opened = fence.unfence(dr_registry, TABLE, "us-west-2", NOW, default=True, reason="failover")
    assert opened and before == fence.Fence("us-west-2", True)
    assert fence.read(dr_registry, TABLE, "us-west-2", default=True) == fence.Fence(
        "us-west-2", False, "2026-12-03T23:45:00+00:00", "failover")
    fenced, wrote = fence.fence(dr_registry, TABLE, "us-west-2", "failback", NOW, default=True)
    assert wrote and fenced.fenced


def test_a_concurrent_change_wins_over_a_stale_read(dr_registry, monkeypatch):
    # Operator B fences between operator A's read and write: A's unconditional write would lift it.
    real_read = fence.read

    def read_then_b_fences(ddb, table, region, default=False):
        seen = real_read(ddb, table, region, default)
        ddb.put_item(TableName=table, Item={"client_id": {"S": "region-fence#" + region}, "fenced": {"BOOL": True},
                                   "changed_at": {"S": "b"}, "reason": {"S": "operator B"}})
        monkeypatch.setattr(fence, "read", real_read)
        return seen
    monkeypatch.setattr(fence, "read", read_then_b_fences)
    written, wrote = fence.fence(dr_registry, TABLE, "us-east-1", "operator A", NOW)
    assert not wrote and written.reason == "operator B"


def test_the_functions_read_the_commands_item():
    from modules.payment_limits import layer_module
    core = layer_module("fence")
    assert fence.PREFIX == core.PREFIX and fence.FUNCTION_CACHE_SECONDS == core.CACHE_SECONDS


def test_the_command_writes_in_the_dr_region_by_default_and_reports(dr_registry, capsys):
    assert fence.main(["fence", "--reason", "quarterly drill"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("us-east-1 fenced at ") and "(quarterly drill), written in us-west-2" in out
    assert fence.main(["status"]) == 0
    status = capsys.readouterr().out.splitlines()
    # Written through us-west-2, not yet in us-east-1's own replica: the primary still stores payments.
    assert status == [
        "us-east-1: taking payments (its own replica)",
        "us-east-1: us-west-2's replica says fenced: not yet replicated to us-east-1; us-east-1 still stores payments",
        "us-west-2: FENCED (standby: until `make failover` opens it) (its own replica)"]
    boto3.client("dynamodb", region_name="us-east-1").put_item(TableName=TABLE, Item={  # replicated
        "client_id": {"S": "region-fence#us-east-1"}, "fenced": {"BOOL": True},
        "changed_at": {"S": "2026-12-03T23:45:00+00:00"}, "reason": {"S": "quarterly drill"}})
    assert fence.main(["status"]) == 0
    assert capsys.readouterr().out.splitlines()[0] == (
        "us-east-1: FENCED since 2026-12-03T23:45:00+00:00 (quarterly drill) (its own replica)")
    assert fence.main(["fence"]) == 0 and "already FENCED since" in capsys.readouterr().out
    assert fence.main(["unfence"]) == 0 and "us-east-1 unfenced (was FENCED since" in capsys.readouterr().out
    assert fence.main(["unfence"]) == 0 and "was not fenced; nothing changed" in capsys.readouterr().out


def test_an_aws_failure_is_one_line_and_exit_1(dr_registry, capsys, monkeypatch):
    monkeypatch.setenv("ENVIRONMENT_SUFFIX", "dev")  # dev's registry does not exist in this account
    assert fence.main(["fence", "--via", "us-west-2"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("error: AWS ResourceNotFoundException") and len(err.strip().splitlines()) == 1
