"""PlatformKey: the platform's customer-managed key, its alias, and the HMAC key for card fingerprints."""

import json

from cdktf import Testing
from cdktf_cdktf_provider_aws.kms_alias import KmsAlias
from cdktf_cdktf_provider_aws.kms_key import KmsKey
from cdktf_cdktf_provider_aws.sns_topic import SnsTopic

from modules.security import KeyProps, PlatformKey
from tests.constructs.conftest import ACCOUNT, scoped, synth_scope


def test_platform_key_rotates_yearly_and_has_an_alias(dev):
    synthesized = synth_scope(lambda scope: PlatformKey(scope, "kms", KeyProps(dev, ACCOUNT)))
    assert Testing.to_have_resource_with_properties(synthesized, KmsKey.TF_RESOURCE_TYPE, {
        "description": "Payment platform data key (dev)", "enable_key_rotation": True,
        "rotation_period_in_days": 365, "deletion_window_in_days": 7})
    assert Testing.to_have_resource_with_properties(synthesized, KmsAlias.TF_RESOURCE_TYPE,
                                                    {"name": "alias/payment-key-dev"})


def test_production_key_waits_thirty_days_before_deletion(prod):
    synthesized = synth_scope(lambda scope: PlatformKey(scope, "kms", KeyProps(prod, ACCOUNT)))
    assert Testing.to_have_resource_with_properties(synthesized, KmsKey.TF_RESOURCE_TYPE, {
        "description": "Payment platform data key (prod)", "deletion_window_in_days": 30})
    assert not Testing.to_have_resource_with_properties(synthesized, KmsKey.TF_RESOURCE_TYPE, {
        "description": "Payment platform data key (prod)", "deletion_window_in_days": 7})


def test_card_fingerprint_key_is_an_hmac_key(dev):
    synthesized = synth_scope(lambda scope: PlatformKey(scope, "kms", KeyProps(dev, ACCOUNT)))
    assert Testing.to_have_resource_with_properties(synthesized, KmsKey.TF_RESOURCE_TYPE, {
        "customer_master_key_spec": "HMAC_256", "key_usage": "GENERATE_VERIFY_MAC",
        "deletion_window_in_days": 30})
    assert Testing.to_have_resource_with_properties(synthesized, KmsAlias.TF_RESOURCE_TYPE,
                                                    {"name": "alias/payment-card-fingerprint-dev"})


def test_key_policy_names_the_account_and_region(dev):
    """The policy is an embedded JSON document: Testing matches strings whole, so it is read as JSON."""
    built = scoped(lambda scope: PlatformKey(scope, "kms", KeyProps(dev, ACCOUNT, partition="aws")))
    key = next(r for r in built.resources(KmsKey.TF_RESOURCE_TYPE).values() if "rotation_period_in_days" in r)
    sids = {s["Sid"]: s for s in json.loads(key["policy"])["Statement"]}
    assert sids["AccountAdministers"]["Principal"] == {"AWS": f"arn:aws:iam::{ACCOUNT}:root"}
    assert sids["CloudWatchLogsEncryptsLogGroups"]["Principal"] == {"Service": "logs.us-east-1.amazonaws.com"}


def test_outputs_wire_into_other_constructs(dev):
    """``key.arn`` / ``key.key_id`` are typed outputs: tokens that become references on synth."""
    def build(scope):
        key = PlatformKey(scope, "kms", KeyProps(dev, ACCOUNT))
        SnsTopic(scope, "topic", name="t", kms_master_key_id=key.key_id)
        return key

    built = scoped(build)
    reference = built.ref(built.construct.key_id)
    assert reference.startswith("${aws_kms_key.kms_key_") and reference.endswith(".key_id}")
    assert Testing.to_have_resource_with_properties(built.synthesized, SnsTopic.TF_RESOURCE_TYPE, {
        "kms_master_key_id": reference})
