"""Idle cost of each environment's synthesized stack, against the price table (scripts/prices.json)."""

from __future__ import annotations

import io
import json
import subprocess
import sys
from decimal import Decimal
from pathlib import Path

import pytest

from modules.settings import build_settings
from scripts import cost
from tests.support import PROJECT_ROOT, Synthesized, clean_env, environment_env

ENVIRONMENTS = ("dev", "staging", "prod")
# Issue 14's goal for dev and every preview.
ISSUE_IDLE_TARGET = Decimal("15.00")


@pytest.fixture(scope="module")
def prices() -> cost.PriceTable:
    return cost.load_prices()


@pytest.fixture(scope="module")
def bills(synth_all: Path, prices) -> dict[str, list[cost.Line]]:
    result = {}
    for env in ENVIRONMENTS:
        stack = Synthesized(synth_all / env / "stacks" / f"payments-{env}" / "cdk.tf.json")
        result[env] = cost.price(cost.stack_resources(stack.json), prices)
    result["state"] = cost.price(cost.stack_resources(
        Synthesized(synth_all / "dev" / "stacks" / "payments-state" / "cdk.tf.json").json), prices)
    result["standby"] = cost.price(cost.stack_resources(
        Synthesized(synth_all / "prod" / "stacks" / "payments-prod-us-west-2" / "cdk.tf.json").json), prices)
    return result


def _line(bill, rtype, what_prefix=""):
    found = [ln for ln in bill if ln.type == rtype and ln.what.startswith(what_prefix)]
    return sum((ln.monthly for ln in found), Decimal(0)), sum((ln.count for ln in found), Decimal(0))


def test_price_table_names_its_source_region_and_date(prices):
    assert "price list" in prices.source.lower() and prices.region == "us-east-1"
    assert len(prices.as_of) == 10 and prices.hours == 730
    assert prices.monthly("nat_gateway_hour") == Decimal("32.85")


@pytest.mark.parametrize("environment", [*ENVIRONMENTS, "state", "standby"])
def test_every_resource_type_is_priced_or_known_free(bills, environment):
    assert cost.unpriced(bills[environment]) == []


def test_dev_idle_cost_meets_the_target(bills):
    dev = bills["dev"]
    print(f"\ndev idle: {cost.usd(cost.total(dev))}/month")
    assert cost.total(dev) <= ISSUE_IDLE_TARGET
    # Its functions run outside the VPC: no interface endpoint to pay for (docs/maintainers/cost.md).
    assert _line(dev, "aws_vpc_endpoint") == (0, 0)


def test_functions_in_the_vpc_cost_dev_two_interface_endpoints_in_one_az(dev_in_vpc, prices):
    """The price of opting dev back into the VPC (PAYMENTS_FUNCTIONS_IN_VPC=true): KMS and STS."""
    bill = cost.price(cost.stack_resources(dev_in_vpc.json), prices)
    assert _line(bill, "aws_vpc_endpoint") == (2 * prices.monthly("interface_endpoint_az_hour"), 2)


def test_dev_pays_nothing_for_aurora_nat_waf_or_dashboards_at_idle(bills):
    dev = bills["dev"]
    assert _line(dev, "aws_rds_cluster_instance") == (0, 1)  # the writer only, paused
    for rtype in ("aws_nat_gateway", "aws_eip", "aws_wafv2_web_acl", "aws_cloudwatch_dashboard"):
        assert _line(dev, rtype) == (0, 0), rtype


def test_dev_slo_alarms_are_the_cheap_subset(bills, prices):
    """/process availability only: 6 window alarms of 2 metrics and the page and ticket composites."""
    dev = bills["dev"]
    assert _line(dev, "aws_cloudwatch_composite_alarm") == (2 * prices.monthly("cloudwatch_composite_alarm_month"), 2)
    slo = 6 * 2 * prices.monthly("cloudwatch_alarm_standard_month") + 2 * prices.monthly("cloudwatch_composite_alarm_month")
    assert slo == Decimal("2.20")


def test_a_preview_environment_costs_what_dev_costs():
    fields = ("nat_gateways", "interface_endpoint_azs", "aurora_min_capacity", "aurora_readers",
              "waf_enabled", "dashboard_enabled", "alarm_set")
    dev, preview = build_settings({}, {}), build_settings({}, {"ENVIRONMENT_SUFFIX": "pr42"})
    assert [getattr(preview, f) for f in fields] == [getattr(dev, f) for f in fields]


def test_prod_idle_cost_keeps_its_resilience_and_is_within_the_range_the_table_gives(bills, prices, synth_all):
    prod = bills["prod"]
    prod_path = synth_all / "prod" / "stacks" / "payments-prod" / "cdk.tf.json"
    settings = build_settings({}, environment_env("prod"))
    instances = 1 + settings.aurora_readers
    aurora = instances * Decimal(str(settings.aurora_min_capacity)) * prices.monthly("aurora_serverless_v2_acu_hour")
    nat = settings.nat_gateways * (prices.monthly("nat_gateway_hour") + prices.monthly("public_ipv4_hour"))
    endpoints = 2 * settings.interface_endpoint_azs * prices.monthly("interface_endpoint_az_hour")
    rules = len(Synthesized(prod_path).one("aws_wafv2_web_acl")["rule"])
    waf = prices.monthly("waf_web_acl_month") + rules * prices.monthly("waf_rule_month")
    assert _line(prod, "aws_rds_cluster_instance") == (aurora, instances)
    assert _line(prod, "aws_nat_gateway")[1] == 3 and _line(prod, "aws_eip")[1] == 3
    assert _line(prod, "aws_wafv2_web_acl")[0] == waf
    floor = aurora + nat + endpoints + waf
    # Above the floor only small fixed items: keys, the managed secret, dashboard and alarms.
    # The SLO burn-rate alarms (tests/test_slo.py): per route 6 availability alarms of 2 metrics,
    # 6 latency alarms of 1, and 4 composites.
    slo = 3 * (18 * prices.monthly("cloudwatch_alarm_standard_month") + 4 * prices.monthly("cloudwatch_composite_alarm_month"))
    ceiling = floor + 5 * prices.monthly("kms_key_month") + prices.monthly("cloudwatch_dashboard_month") \
        + 30 * prices.monthly("cloudwatch_alarm_standard_month") + prices.monthly("secrets_manager_secret_month") \
        + prices.monthly("cloudwatch_composite_alarm_month") + slo + _provisioned(settings, prices) \
        + prices.monthly("synthetic_merchant_month")  # the canary's standing traffic (modules/canary.py)
    print(f"\nprod idle: {cost.usd(cost.total(prod))}/month (range {cost.usd(floor)}..{cost.usd(ceiling)})")
    assert floor < cost.total(prod) <= ceiling


def _provisioned(settings, prices):
    """Provisioned concurrency on the three payment routes' aliases (arm64), at their memory."""
    gb = sum(Decimal(settings.function_memory.get(k, 256)) / 1024 for k in ("validate", "fraud-check", "process"))
    return settings.lambda_provisioned_concurrency * gb * prices.monthly("lambda_provisioned_concurrency_arm64_gb_hour")


def test_prod_pays_for_provisioned_concurrency_by_memory_and_architecture(bills, prices):
    settings = build_settings({}, environment_env("prod"))
    assert _line(bills["prod"], "aws_lambda_provisioned_concurrency_config") == (
        _provisioned(settings, prices), Decimal(settings.lambda_provisioned_concurrency) * Decimal("1.5"))
    assert _line(bills["dev"], "aws_lambda_provisioned_concurrency_config") == (0, 0)


def test_staging_scales_to_zero_but_keeps_waf_dashboard_and_full_alarms(bills):
    staging = bills["staging"]
    assert _line(staging, "aws_rds_cluster_instance") == (0, 2)
    assert _line(staging, "aws_wafv2_web_acl")[0] > 0 and _line(staging, "aws_cloudwatch_dashboard")[1] == 1
    assert _line(staging, "aws_cloudwatch_metric_alarm")[1] > _line(bills["dev"], "aws_cloudwatch_metric_alarm")[1]


def test_aurora_costs_its_minimum_capacity_per_instance_and_nothing_when_it_may_pause(prices):
    def stack(minimum):
        return {"resource": {
            "aws_rds_cluster": {"c": {"cluster_identifier": "db",
                                      "serverlessv2_scaling_configuration": {"min_capacity": minimum, "max_capacity": 4}}},
            "aws_rds_cluster_instance": {n: {"cluster_identifier": "${aws_rds_cluster.c.id}",
                                             "instance_class": "db.serverless"} for n in ("writer", "reader")},
        }}
    assert cost.total(cost.price(cost.stack_resources(stack(0)), prices)) == 0
    half = cost.price(cost.stack_resources(stack(0.5)), prices)
    assert [(ln.what, ln.count, ln.monthly) for ln in half] == [
        ("Serverless v2 at its minimum 0.5 ACU", 2, Decimal("87.60"))]


def test_unknown_and_conditionally_costly_types_are_listed_never_zero(prices):
    stack = {"resource": {
        "aws_mq_broker": {"b": {"broker_name": "x"}},
        "aws_lambda_provisioned_concurrency_config": {"p": {"provisioned_concurrent_executions": 5}},
        "aws_api_gateway_stage": {"s": {"cache_cluster_enabled": True}},
        "aws_rds_cluster_instance": {"i": {"instance_class": "db.r6g.large"}},
        "aws_iam_role": {"r": {"name": "free"}},
    }}
    lines = cost.price(cost.stack_resources(stack), prices)
    assert sorted(ln.type for ln in cost.unpriced(lines)) == [
        "aws_api_gateway_stage", "aws_lambda_provisioned_concurrency_config", "aws_mq_broker",
        "aws_rds_cluster_instance"]
    text = cost.render(lines, prices, "x")
    assert "UNPRICED" in text and "aws_mq_broker: not in the price table x1" in text


def test_rehearsal_count_zero_resources_cost_nothing(prices):
    stack = {"resource": {"aws_kms_key": {"k": {"count": 0}, "l": {}}}}
    assert cost.total(cost.price(cost.stack_resources(stack), prices)) == Decimal("1.00")


def test_cost_command_prints_lines_and_enforces_a_budget(synth_all):
    path = synth_all / "dev" / "stacks" / "payments-dev" / "cdk.tf.json"
    out = io.StringIO()
    assert cost.main([str(path)], out=out) == cost.EXIT_OK
    text = out.getvalue()
    assert text.startswith("Idle monthly cost of payments-dev: $")
    assert "aws_kms_key" in text and "aws_cloudwatch_metric_alarm" in text and "Unpriced: none" in text
    over = subprocess.run([sys.executable, "-m", "scripts.cost", str(path), "--budget", "1"], cwd=PROJECT_ROOT,
                          capture_output=True, text=True, env=clean_env())
    assert over.returncode == cost.EXIT_OVER_BUDGET and "OVER BUDGET" in over.stdout
    assert cost.main([str(path.parent / "missing.json")], out=io.StringIO()) == cost.EXIT_INVALID


def test_free_list_and_priced_rules_do_not_overlap(prices):
    assert not set(prices.free) & set(cost.RULES)
    assert all(t.startswith("aws_") for t in prices.free)
    assert json.loads(cost.PRICES_PATH.read_text())["prices"].keys() == prices.prices.keys()


def test_prods_standby_costs_its_network_waf_alarms_canary_and_health_check_but_no_database(bills, prices):
    standby = bills["standby"]
    settings = build_settings({}, environment_env("prod"))
    assert _line(standby, "aws_nat_gateway")[1] == settings.nat_gateways and _line(standby, "aws_wafv2_web_acl")[0] > 0
    assert _line(standby, "aws_route53_health_check") == (prices.monthly("route53_health_check_aws_month"), 1)
    assert _line(standby, "aws_cloudwatch_event_rule")[0] == prices.monthly("synthetic_merchant_month")
    # Warm, not hot: no Aurora (to build: the global database's secondary), no provisioned concurrency.
    assert not _line(standby, "aws_rds_cluster_instance")[1] and not _line(standby, "aws_lambda_provisioned_concurrency_config")[1]
    print(f"\nprod standby idle: {cost.usd(cost.total(standby))}/month")


def test_make_cost_prices_every_stack_of_the_environment(synth_all):
    outdir = synth_all / "prod"
    assert [p.parent.name for p in cost.environment_stacks(outdir, "prod")] == ["payments-prod", "payments-prod-us-west-2"]
    assert [p.parent.name for p in cost.environment_stacks(synth_all / "dev", "dev")] == ["payments-dev"]
    out = io.StringIO()
    assert cost.main(["--environment", "prod", "--outdir", str(outdir)], out=out) == cost.EXIT_OK
    text = out.getvalue()
    assert "Idle monthly cost of payments-prod: $" in text and "Idle monthly cost of payments-prod-us-west-2: $" in text
    assert "Idle monthly cost of payments-prod, payments-prod-us-west-2: $" in text
