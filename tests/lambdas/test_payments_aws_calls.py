"""How many AWS calls a request makes, counted with botocore's own event hooks (``before-parameter-build`` on
every client the functions create) against moto: the latency budget of /process in calls.

Cold (first request of an execution environment): STS AssumeRole for the merchant session and a KMS
GenerateMac that derives the idempotency-key secret, the merchant's registry entry and the region's fence
(GetItem each, cached), then the warm path. Warm: one KMS GenerateMac
(the card fingerprint), three DynamoDB calls (idempotency GetItem, activity GetItem,
TransactWriteItems), nothing else."""
from __future__ import annotations

import collections

import pytest

from payments_testkit import api_event, valid_payload

DERIVATION = b"payments-core/idempotency-key/v1"


@pytest.fixture
def calls(monkeypatch):
    """(service, operation) of every AWS call; a GenerateMac of the derivation message is "DeriveSecret"."""
    import botocore.session
    seen: list[tuple[str, str]] = []
    original = botocore.session.Session.create_client

    def create_client(self, *args, **kwargs):
        client = original(self, *args, **kwargs)

        def before_call(model, params, **_):
            name = model.name
            if name == "GenerateMac" and params.get("Message") == DERIVATION:
                name = "DeriveSecret"
            seen.append((model.service_model.service_name, name))
        # Fired once per API call with the caller's parameters (before-call sees the serialized body).
        client.meta.events.register("before-parameter-build.*.*", before_call)
        return client
    monkeypatch.setattr(botocore.session.Session, "create_client", create_client)
    return seen


def _process(key):
    import process_handler
    headers = {"Content-Type": "application/json", "Idempotency-Key": key}
    response = process_handler.handler(api_event(valid_payload(), headers=headers, path="/process"), None)
    assert response["statusCode"] == 200, response


def _count(calls, start):
    return collections.Counter(calls[start:])


WARM_PROCESS = {("kms", "GenerateMac"): 1, ("dynamodb", "GetItem"): 2, ("dynamodb", "TransactWriteItems"): 1}


# What only the first request of an execution environment adds: the merchant session, the secret's
# derivation, the merchant's registry entry and the region's fence (then cached for
# payments_core.registry.CACHE_SECONDS and payments_core.fence.CACHE_SECONDS).
COLD_EXTRA = {("sts", "AssumeRole"): 1, ("kms", "DeriveSecret"): 1, ("dynamodb", "GetItem"): 2}


def test_cold_process_assumes_the_merchant_session_and_derives_the_secret_once(aws, calls):
    _process("cold-1")
    assert _count(calls, 0) == collections.Counter(WARM_PROCESS) + collections.Counter(COLD_EXTRA)


def test_warm_process_makes_no_sts_and_no_kms_derivation_call(aws, calls):
    _process("warm-1")
    start = len(calls)
    _process("warm-2")
    assert _count(calls, start) == WARM_PROCESS


def test_warm_validate_makes_no_aws_call(aws, calls):
    import validate_handler
    validate_handler.handler(api_event(valid_payload()), None)  # cold: reads the registry entry once
    start = len(calls)
    validate_handler.handler(api_event(valid_payload()), None)
    assert calls[start:] == []


def test_a_snapstart_restore_drops_sessions_and_secret_so_they_are_fetched_again(aws, calls):
    from payments_core import snapstart
    _process("restore-1")
    snapstart.restored()  # the hooks tenancy, cardsec and aws registered at import
    start = len(calls)
    _process("restore-2")
    assert _count(calls, start) == {("sts", "AssumeRole"): 1, ("kms", "DeriveSecret"): 1, **WARM_PROCESS}


def test_the_caches_register_their_restore_hooks_without_a_snapstart_runtime_here():
    from payments_core import aws, cardsec, snapstart, tenancy
    assert snapstart.runtime_available() is False
    assert {tenancy.reset_sessions, cardsec.reset_derived_secrets, aws._drop_clients} <= set(snapstart._hooks)
