"""MerchantDataRole: the role a function assumes, tagged with the calling merchant, to reach merchant
data; its policy holds every item key to that merchant's prefix (dynamodb:LeadingKeys)."""

import json

import pytest
from cdktf import Testing
from cdktf_cdktf_provider_aws.iam_role import IamRole
from cdktf_cdktf_provider_aws.iam_role_policy import IamRolePolicy

from modules.iam import Statement
from modules.merchant_access import MerchantDataRole, MerchantRoleProps, own_merchant_keys_only
from tests.constructs.conftest import ACCOUNT, Scoped, scoped

CALLER = f"arn:aws:iam::{ACCOUNT}:role/payment-fraud-check-dev"
ACTIVITY = f"arn:aws:dynamodb:us-east-1:{ACCOUNT}:table/payment-customer-activity-dev"


@pytest.fixture(scope="module")
def role() -> Scoped:
    return scoped(lambda scope: MerchantDataRole(scope, "merchant-read", MerchantRoleProps(
        "payment-merchant-read-dev", [CALLER],
        [Statement(sid="ReadOwnCustomerActivity", actions=["dynamodb:GetItem"], resources=[ACTIVITY],
                   conditions=own_merchant_keys_only())])))


def test_only_the_caller_function_assumes_with_exactly_one_merchant_tag(role):
    assert Testing.to_have_resource_with_properties(role.synthesized, IamRole.TF_RESOURCE_TYPE, {
        "name": "payment-merchant-read-dev", "max_session_duration": 3600})
    (role_json,) = role.resources(IamRole.TF_RESOURCE_TYPE).values()
    (trust,) = json.loads(role_json["assume_role_policy"])["Statement"]
    assert trust["Principal"] == {"AWS": [CALLER]}
    assert sorted(trust["Action"]) == ["sts:AssumeRole", "sts:TagSession"]
    assert trust["Condition"] == {"StringLike": {"aws:RequestTag/merchant_id": "?*"},
                                  "ForAllValues:StringEquals": {"aws:TagKeys": ["merchant_id"]}}


def test_every_item_key_must_start_with_the_session_merchant(role):
    assert Testing.to_have_resource_with_properties(role.synthesized, IamRolePolicy.TF_RESOURCE_TYPE, {
        "name": "payment-merchant-read-dev-own-merchant-only",
        "role": role.ref(role.construct.role.id)})
    (policy,) = role.resources(IamRolePolicy.TF_RESOURCE_TYPE).values()
    (statement,) = json.loads(policy["policy"])["Statement"]
    # "$${" is Terraform's escape: the applied policy reads ${aws:PrincipalTag/merchant_id}#*.
    assert statement["Condition"] == {
        "ForAllValues:StringLike": {"dynamodb:LeadingKeys": ["$${aws:PrincipalTag/merchant_id}#*"]}}
    assert statement["Action"] == ["dynamodb:GetItem"] and statement["Resource"] == [ACTIVITY]
    assert role.ref(role.construct.arn).endswith(".arn}")
