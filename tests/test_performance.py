"""The latency budget settings: architecture, memory, SnapStart, provisioned concurrency on `live`."""

import pytest

from modules.settings import SettingsError, build_settings
from tests.support import Synthesized, synth_environments

PAYMENT_ROUTES = ("validate", "fraud-check", "process")


def _function(stack, key, env):
    return stack.one("aws_lambda_function", function_name=f"payment-{key}-{env}")


@pytest.mark.parametrize("which, env", [("stack", "dev"), ("prod_stack", "prod")])
def test_every_function_runs_on_arm64_by_default(request, which, env):
    stack = request.getfixturevalue(which)
    assert {tuple(f["architectures"]) for f in stack.resources("aws_lambda_function").values()} == {("arm64",)}


def test_memory_is_a_setting_per_function(stack, prod_stack):
    assert _function(prod_stack, "process", "prod")["memory_size"] == 1024
    assert _function(prod_stack, "validate", "prod")["memory_size"] == 256
    assert _function(stack, "process", "dev")["memory_size"] == 256


def test_prod_provisions_concurrency_on_the_live_alias_of_each_payment_route(prod_stack, stack):
    configs = prod_stack.resources("aws_lambda_provisioned_concurrency_config").values()
    assert sorted(c["function_name"] for c in configs) == sorted(
        prod_stack.ref("aws_lambda_function", "function_name", function_name=f"payment-{k}-prod") for k in PAYMENT_ROUTES)
    aliases = {prod_stack.ref("aws_lambda_alias", "name", function_name=c["function_name"]) for c in configs}
    assert {c["qualifier"] for c in configs} == aliases  # the alias CodeDeploy shifts, never a version
    assert {c["provisioned_concurrent_executions"] for c in configs} == {2}
    assert not stack.resources("aws_lambda_provisioned_concurrency_config")


def test_snap_start_applies_to_published_versions_when_on(tmp_path_factory, stack):
    out = synth_environments(tmp_path_factory.mktemp("snap"), ["dev"], PAYMENTS_LAMBDA_SNAP_START="true")
    dev = Synthesized(out / "dev" / "stacks" / "payments-dev" / "cdk.tf.json")
    for function in dev.resources("aws_lambda_function").values():
        assert function["snap_start"] == {"apply_on": "PublishedVersions"} and function["publish"] is True
    assert all("snap_start" not in f for f in stack.resources("aws_lambda_function").values())


@pytest.mark.parametrize("env, setting", [
    ({"PAYMENTS_LAMBDA_ARCHITECTURE": "sparc"}, "lambda_architecture"),
    ({"PAYMENTS_LAMBDA_MEMORY": "process=64"}, "lambda_memory"),
    ({"PAYMENTS_LAMBDA_MEMORY": "refund=512"}, "lambda_memory"),
    ({"PAYMENTS_LAMBDA_MEMORY": "process"}, "lambda_memory"),
    ({"PAYMENTS_LAMBDA_SNAP_START": "true", "PAYMENTS_LAMBDA_PROVISIONED_CONCURRENCY": "1"}, "lambda_snap_start"),
    ({"PAYMENTS_LAMBDA_PROVISIONED_CONCURRENCY": "11"}, "lambda_provisioned_concurrency"),  # dev reserves 10
])
def test_settings_refuse_an_impossible_latency_budget(env, setting):
    with pytest.raises(SettingsError) as error:
        build_settings({}, env)
    assert error.value.setting == setting
