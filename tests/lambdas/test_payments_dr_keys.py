"""Disaster recovery (issue 21): a card's fingerprint and an Idempotency-Key's digest computed with the
replica of the multi-Region HMAC key in the DR region are the ones the primary computes, so velocity
scoring and idempotency survive a failover. With a key that is not a replica they differ (what turning
DR on for an existing environment would do to every stored fingerprint: docs/operators/disaster-recovery.md)."""
from __future__ import annotations

import boto3
import pytest

from payments_testkit import MERCHANT_A, VISA

PRIMARY, DR = "us-east-1", "us-west-2"


@pytest.fixture
def regions(lambda_env):
    from moto import mock_aws
    from payments_core import cardsec
    with mock_aws():
        cardsec.reset_derived_secrets()  # derived per key ARN; a fresh moto has fresh ARNs anyway
        primary = boto3.client("kms", region_name=PRIMARY)
        key = primary.create_key(KeySpec="HMAC_256", KeyUsage="GENERATE_VERIFY_MAC", MultiRegion=True)["KeyMetadata"]
        replica = primary.replicate_key(KeyId=key["KeyId"], ReplicaRegion=DR)["ReplicaKeyMetadata"]
        yield primary, key["Arn"], boto3.client("kms", region_name=DR), replica["Arn"]


def _both(kms, key_arn):
    from payments_core import cardsec
    return (cardsec.card_fingerprint(VISA, key_arn, kms),
            cardsec.idempotency_key_digest(MERCHANT_A, "order-42", key_arn, kms))


def test_the_dr_replica_computes_the_primarys_fingerprint_and_idempotency_digest(regions):
    primary, key_arn, dr, replica_arn = regions
    assert key_arn.split(":")[3] == PRIMARY and replica_arn.split(":")[3] == DR
    assert _both(dr, replica_arn) == _both(primary, key_arn)


def test_a_key_that_is_not_a_replica_computes_other_fingerprints(regions):
    primary, key_arn, dr, _ = regions
    other = dr.create_key(KeySpec="HMAC_256", KeyUsage="GENERATE_VERIFY_MAC")["KeyMetadata"]["Arn"]
    fingerprint, digest = _both(dr, other)
    assert fingerprint != _both(primary, key_arn)[0] and digest != _both(primary, key_arn)[1]
