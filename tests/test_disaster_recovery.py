"""Disaster recovery in the synthesized stacks (issue 21, the data): prod replicates every table and
both keys into its DR region; dev, previews and staging (unless told) stay in one region with their
JSON unchanged; the settings refuse a DR region that is no region or the platform's own."""

from __future__ import annotations

import pytest

from modules.settings import SettingsError, build_settings
from tests.support import Synthesized, environment_env

REPLICATED = ("payment-transactions-prod", "payment-idempotency-prod", "payment-customer-activity-prod",
              "payment-merchant-registry-prod")


@pytest.fixture(scope="module")
def prod(synth_all) -> Synthesized:
    return Synthesized(synth_all / "prod" / "stacks" / "payments-prod" / "cdk.tf.json")


def test_prod_replicates_every_table_into_its_dr_region(prod):
    tables = {name: prod.resources("aws_dynamodb_table")[name]["name"] for name in prod.resources("aws_dynamodb_table")}
    replicated = {tables[ref.split(".")[1]] for ref in
                  (r["global_table_arn"] for r in prod.resources("aws_dynamodb_table_replica").values())}
    assert replicated == set(REPLICATED) == set(tables.values())
    for table in prod.resources("aws_dynamodb_table").values():
        assert table["stream_enabled"] is True and table["stream_view_type"] == "NEW_AND_OLD_IMAGES"
        assert table["lifecycle"] == {"ignore_changes": ["replica"]}
    [dr] = [p for p in prod.json["provider"]["aws"] if p.get("alias") == "dr"]
    assert dr["region"] == "us-west-2"


def test_prods_keys_are_multi_region_with_a_replica_each(prod):
    keys = prod.resources("aws_kms_key")
    assert len(keys) == 2 and all(k["multi_region"] is True for k in keys.values())
    replicas = {r["primary_key_arn"] for r in prod.resources("aws_kms_replica_key").values()}
    assert replicas == {f"${{aws_kms_key.{name}.arn}}" for name in keys}


@pytest.mark.parametrize("environment", ["dev", "staging"])
def test_without_a_dr_region_nothing_of_it_is_synthesized(synth_all, environment):
    stack = Synthesized(synth_all / environment / "stacks" / f"payments-{environment}" / "cdk.tf.json")
    assert not stack.resources("aws_dynamodb_table_replica") and not stack.resources("aws_kms_replica_key")
    assert len(stack.json["provider"]["aws"]) == 1
    assert all("multi_region" not in k for k in stack.resources("aws_kms_key").values())
    assert all("lifecycle" not in t for t in stack.resources("aws_dynamodb_table").values())


@pytest.mark.parametrize("value, message", [("us-east-1", "survives nothing"), ("mars-1", "not an AWS region")])
def test_a_dr_region_must_be_another_real_region(value, message):
    with pytest.raises(SettingsError, match=message) as err:
        build_settings({}, environment_env("staging", PAYMENTS_DR_REGION=value))
    assert err.value.setting == "dr_region"


@pytest.mark.parametrize("seconds", ["0", "61"])
def test_the_rpo_is_bounded(seconds):
    with pytest.raises(SettingsError) as err:
        build_settings({}, environment_env("staging", PAYMENTS_DR_REGION="us-west-2", PAYMENTS_DR_RPO_SECONDS=seconds))
    assert err.value.setting == "dr_rpo_seconds"


def test_prod_has_a_dr_region_by_default_and_dev_does_not():
    assert build_settings({}, environment_env("prod")).dr_region == "us-west-2"
    assert build_settings({}, environment_env("dev")).dr_region == ""
    assert build_settings({}, environment_env("pr7")).dr_region == ""
