"""Guardrails construct (modules/guardrails.py): the organisation's two SCPs and their attachments."""

import json

import pytest
from cdktf import Testing
from cdktf_cdktf_provider_aws.organizations_policy import OrganizationsPolicy
from cdktf_cdktf_provider_aws.organizations_policy_attachment import OrganizationsPolicyAttachment

from modules.guardrails import Guardrails, GuardrailsProps, protection_statements, scp_content
from modules.iam import Statement
from tests.constructs.conftest import ACCOUNT, scoped

OU = "ou-ab12-cd34ef56"
BREAK_GLASS = "arn:aws:iam::*:role/payments-break-glass"


def build(targets=(OU, ACCOUNT), regions=("eu-west-1", "us-east-1")):
    return scoped(lambda scope: Guardrails(scope, "guardrails", GuardrailsProps(
        targets=targets, regions=regions, break_glass_arn=BREAK_GLASS)))


def test_two_service_control_policies_each_attached_to_every_target():
    guardrails = build()
    for name in ("payments-guardrails", "payments-regions"):
        assert Testing.to_have_resource_with_properties(guardrails.synthesized, OrganizationsPolicy.TF_RESOURCE_TYPE, {
            "name": name, "type": "SERVICE_CONTROL_POLICY"})
        policy_id = guardrails.ref(guardrails.construct.policies[name].id)
        for target in (OU, ACCOUNT):
            assert Testing.to_have_resource_with_properties(
                guardrails.synthesized, OrganizationsPolicyAttachment.TF_RESOURCE_TYPE,
                {"policy_id": policy_id, "target_id": target})
    assert len(guardrails.resources(OrganizationsPolicyAttachment.TF_RESOURCE_TYPE)) == 4


def test_region_policy_names_the_regions_it_allows():
    guardrails = build(regions=("eu-west-1", "us-east-1"))
    [policy] = [p for p in guardrails.resources(OrganizationsPolicy.TF_RESOURCE_TYPE).values()
                if p["name"] == "payments-regions"]
    [region_rule] = json.loads(policy["content"])["Statement"]
    assert region_rule["Condition"]["StringNotEquals"] == {"aws:RequestedRegion": ["eu-west-1", "us-east-1"]}


def test_no_target_means_policies_without_attachments():
    guardrails = build(targets=())
    assert len(guardrails.resources(OrganizationsPolicy.TF_RESOURCE_TYPE)) == 2
    assert not guardrails.resources(OrganizationsPolicyAttachment.TF_RESOURCE_TYPE)


def test_an_scp_over_5120_characters_is_refused_at_synth():
    props = GuardrailsProps(targets=(), regions=("us-east-1",), break_glass_arn=BREAK_GLASS)
    assert len(scp_content(protection_statements(props))) <= 5120
    too_long = [Statement(sid=f"Deny{i}", effect="Deny", actions=[f"s3:{'x' * 100}{i}"]) for i in range(60)]
    with pytest.raises(ValueError, match="over the 5120 limit"):
        scp_content(too_long)
