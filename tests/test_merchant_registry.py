"""The merchant registry table (modules/merchant_registry.py) in the synthesized stacks, and who may
read it: the API function roles (tests/test_compute.py), never a PR's plan role."""

from __future__ import annotations

import json

import pytest

from tests.support import Synthesized, synthesized

REGISTRY = "payment-merchant-registry-{env}"
# What AWS's ReadOnlyAccess (the plan role's managed policy) allows on DynamoDB items: Get*, BatchGet*,
# Query, Scan and PartiQLSelect. Each must be taken back out by a Deny.
ITEM_READS = ("dynamodb:GetItem", "dynamodb:BatchGetItem", "dynamodb:Query", "dynamodb:Scan",
              "dynamodb:PartiQLSelect")


def test_registry_is_keyed_by_client_id_with_pitr_under_the_platform_key(stack):
    table = stack.one("aws_dynamodb_table", name=REGISTRY.format(env="dev"))
    assert (table["hash_key"], table["attribute"], table["billing_mode"]) == (
        "client_id", [{"name": "client_id", "type": "S"}], "PAY_PER_REQUEST")
    assert table["point_in_time_recovery"] == {"enabled": True}
    platform_key = stack.one("aws_dynamodb_table", name="payment-transactions-dev")["server_side_encryption"]
    assert table["server_side_encryption"] == platform_key and platform_key["kms_key_arn"].startswith("${aws_kms_key.")
    assert "range_key" not in table and "stream_enabled" not in table


@pytest.mark.parametrize("env, protected", [("dev", False), ("prod", True)])
def test_registry_deletion_protection_follows_the_environment(stack, prod_stack, env, protected):
    synth = {"dev": stack, "prod": prod_stack}[env]
    assert synth.one("aws_dynamodb_table", name=REGISTRY.format(env=env))["deletion_protection_enabled"] is protected


def test_the_merchant_command_finds_the_registry_through_its_ssm_parameter(stack):
    parameter = stack.one("aws_ssm_parameter", name="/payment/merchant-registry-dev")
    assert parameter["value"] == stack.ref("aws_dynamodb_table", "name", name=REGISTRY.format(env="dev"))
    assert stack.json["output"]["merchant-registry"]["value"] == parameter["value"]


@pytest.fixture(scope="module")
def ci(account_synth) -> Synthesized:
    """The account stack with the CI identities of the environments in dev's account."""
    return synthesized(account_synth, "payments-account")


def test_a_plan_role_can_read_no_registry_item(ci):
    """Denied on every resource (the registry table included), including PartiQL SELECT."""
    plan_roles = [r["name"] for r in ci.resources("aws_iam_role").values() if r["name"].startswith("payment-ci-plan-")]
    assert plan_roles
    for name in plan_roles:
        role = ci.ref("aws_iam_role", "name", name=name)
        denied: set[str] = set()
        for policy in ci.resources("aws_iam_role_policy").values():
            if policy["role"] != role:
                continue
            for st in json.loads(policy["policy"])["Statement"]:
                if st["Effect"] == "Deny" and st.get("Resource") == ["*"] and "Condition" not in st:
                    denied |= set(st["Action"])
        assert set(ITEM_READS) <= denied, (name, sorted(set(ITEM_READS) - denied))
