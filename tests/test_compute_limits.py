"""Per-currency payment limits reach every function as PAYMENT_LIMITS (and the flat MAX_AMOUNT is gone)."""

import json

import pytest
import cdktf
from cdktf_cdktf_provider_aws.lambda_function import LambdaFunction

from modules.compute import FunctionNetwork, FunctionProps, FunctionSpec, PaymentFunction
from modules.settings import build_settings

FUNCTIONS = ("validate", "fraud-check", "process", "audit-writer")


def _synth_function(settings):
    spec = FunctionSpec("validate", "validate", "validate_handler.handler", "test function")
    stack = cdktf.TerraformStack(cdktf.Testing.app(), "limits")
    PaymentFunction(stack, "fn", FunctionProps(
        settings=settings, spec=spec, kms_key_arn="arn:aws:kms:us-east-1:111122223333:key/k",
        layer_arn="arn:layer", network=FunctionNetwork(["subnet-1"], "sg-1"), partition="aws",
        account_id="111122223333"))
    synthesized = cdktf.Testing.synth(stack)
    [fn] = json.loads(synthesized)["resource"][LambdaFunction.TF_RESOURCE_TYPE].values()
    return fn["environment"]["variables"]


def test_limit_overrides_reach_the_function_environment_in_canonical_form():
    settings = build_settings({}, {"PAYMENTS_PAYMENT_LIMITS": "KWD:high=2500,JPY:max=150000000:high=1500000"})
    variables = _synth_function(settings)
    assert variables["PAYMENT_LIMITS"] == "JPY:max=150000000:high=1500000,KWD:high=2500"
    assert "MAX_AMOUNT" not in variables


def test_without_overrides_the_function_uses_the_packaged_table():
    variables = _synth_function(build_settings({}, {}))
    assert "PAYMENT_LIMITS" not in variables and "MAX_AMOUNT" not in variables


@pytest.mark.parametrize("key", FUNCTIONS)
def test_no_function_is_given_the_retired_flat_maximum(stack, key):
    fn = stack.one("aws_lambda_function", function_name=f"payment-{key}-dev")
    assert "MAX_AMOUNT" not in fn["environment"]["variables"]
