"""PaymentFunction (one function: role, log group, code, `live` alias) and PaymentFunctions (the four)."""

import json

import pytest
from cdktf import Testing
from cdktf_cdktf_provider_aws.iam_role_policy import IamRolePolicy
from cdktf_cdktf_provider_aws.iam_role_policy_attachment import IamRolePolicyAttachment
from cdktf_cdktf_provider_aws.lambda_alias import LambdaAlias
from cdktf_cdktf_provider_aws.lambda_event_source_mapping import LambdaEventSourceMapping
from cdktf_cdktf_provider_aws.lambda_function import LambdaFunction
from cdktf_cdktf_provider_aws.lambda_layer_version import LambdaLayerVersion
from cdktf_cdktf_provider_aws.sqs_queue import SqsQueue

from modules.compute import (RUNTIME, ComputeProps, FunctionNetwork, FunctionProps, FunctionSpec,
                             PaymentFunction, PaymentFunctions)
from modules.data import TablesProps, TransactionTables
from modules.iam import Statement
from tests.constructs.conftest import ACCOUNT, KEY_ARN, Scoped, scoped

LAYER_ARN = "arn:aws:lambda:us-east-1:123456789012:layer:payment-core-dev:1"
FINGERPRINT_KEY_ARN = "arn:aws:kms:us-east-1:123456789012:key/fingerprint"
REGISTRY_ARN = "arn:aws:dynamodb:us-east-1:123456789012:table/payment-merchant-registry-dev"
IN_VPC = FunctionNetwork(subnet_ids=["subnet-private-a"], security_group_id="sg-lambda")
SPEC = FunctionSpec("validate", "validate", "validate_handler.handler", "Validates a payment request",
                    statements=[Statement(sid="ReadThing", actions=["s3:GetObject"],
                                          resources=["arn:aws:s3:::thing/*"])],
                    environment={"EXTRA": "1"})


@pytest.fixture(scope="module")
def function(dev) -> Scoped:
    """A function attached to the VPC (staging and prod attach theirs)."""
    return scoped(lambda scope: PaymentFunction(scope, "validate", FunctionProps(
        dev, SPEC, KEY_ARN, LAYER_ARN, IN_VPC, "aws", ACCOUNT)))


@pytest.fixture(scope="module")
def public_function(dev) -> Scoped:
    """network=None: outside the VPC (dev and previews), on the Lambda service's network."""
    return scoped(lambda scope: PaymentFunction(scope, "validate", FunctionProps(
        dev, SPEC, KEY_ARN, LAYER_ARN, None, "aws", ACCOUNT)))


@pytest.fixture(scope="module")
def functions(dev) -> Scoped:
    def build(scope):
        tables = TransactionTables(scope, "dynamodb", TablesProps(dev, KEY_ARN))
        return PaymentFunctions(scope, "lambda", ComputeProps(
            dev, KEY_ARN, tables, FINGERPRINT_KEY_ARN, "arn:aws:s3:::audit", "audit",
            IN_VPC, "aws", ACCOUNT, REGISTRY_ARN, "payment-merchant-registry-dev"))
    return scoped(build)


def test_function_runs_in_the_vpc_traced_with_encrypted_environment(function):
    assert Testing.to_have_resource_with_properties(function.synthesized, LambdaFunction.TF_RESOURCE_TYPE, {
        "function_name": "payment-validate-dev", "runtime": RUNTIME, "handler": "validate_handler.handler",
        "publish": True, "kms_key_arn": KEY_ARN, "layers": [LAYER_ARN],
        "reserved_concurrent_executions": 10,
        "tracing_config": {"mode": "Active"},
        "vpc_config": {"subnet_ids": ["subnet-private-a"], "security_group_ids": ["sg-lambda"]},
        "environment": {"variables": {"ENVIRONMENT": "dev", "EXTRA": "1"}}})


def test_callers_invoke_the_live_alias_codedeploy_moves(function):
    assert Testing.to_have_resource_with_properties(function.synthesized, LambdaAlias.TF_RESOURCE_TYPE, {
        "name": "live", "lifecycle": {"ignore_changes": ["function_version", "routing_config"]}})
    assert function.ref(function.construct.alias_invoke_arn).endswith(".invoke_arn}")


def test_role_gets_inline_vpc_access_and_exactly_its_own_statements(function):
    # No AWS managed policy (AWSLambdaVPCAccessExecutionRole allows every ENI and every log group).
    assert not Testing.to_have_resource(function.synthesized, IamRolePolicyAttachment.TF_RESOURCE_TYPE)
    (policy,) = function.resources(IamRolePolicy.TF_RESOURCE_TYPE).values()
    statements = {s["Sid"]: s for s in json.loads(policy["policy"])["Statement"]}
    assert list(statements) == ["WriteOwnLogs", "CreateEnisInOwnSubnets", "ManageOwnEnis",
                                "DescribeVpcNetworking", "WriteTraces", "DecryptEnvironment", "ReadThing"]
    ec2 = f"arn:aws:ec2:us-east-1:{ACCOUNT}"
    assert sorted(statements["CreateEnisInOwnSubnets"]["Resource"]) == sorted([
        f"{ec2}:network-interface/*", f"{ec2}:subnet/subnet-private-a", f"{ec2}:security-group/sg-lambda"])
    assert statements["WriteOwnLogs"]["Resource"] == [f"{function.ref(function.construct.log_group.arn)}:*"]


def test_a_function_outside_the_vpc_has_no_vpc_config_and_no_eni_rights(public_function):
    (function,) = public_function.resources(LambdaFunction.TF_RESOURCE_TYPE).values()
    assert "vpc_config" not in function
    (policy,) = public_function.resources(IamRolePolicy.TF_RESOURCE_TYPE).values()
    assert [s["Sid"] for s in json.loads(policy["policy"])["Statement"]] == [
        "WriteOwnLogs", "WriteTraces", "DecryptEnvironment", "ReadThing"]


def test_four_functions_share_one_layer(functions):
    assert set(functions.construct.functions) == {"validate", "fraud-check", "process", "audit-writer"}
    assert len(functions.resources(LambdaFunction.TF_RESOURCE_TYPE)) == 4
    assert Testing.to_have_resource_with_properties(functions.synthesized, LambdaLayerVersion.TF_RESOURCE_TYPE, {
        "layer_name": "payment-core-dev", "compatible_runtimes": [RUNTIME]})


def test_process_fingerprints_cards_with_the_hmac_key(functions):
    assert Testing.to_have_resource_with_properties(functions.synthesized, LambdaFunction.TF_RESOURCE_TYPE, {
        "function_name": "payment-process-dev",
        "environment": {"variables": {"CARD_FINGERPRINT_KEY_ID": FINGERPRINT_KEY_ARN}}})


def test_audit_writer_reads_the_stream_with_partial_batch_failures_and_a_dlq(functions):
    assert Testing.to_have_resource_with_properties(functions.synthesized, SqsQueue.TF_RESOURCE_TYPE, {
        "name": "payment-audit-dlq-dev", "kms_master_key_id": KEY_ARN})
    assert Testing.to_have_resource_with_properties(
        functions.synthesized, LambdaEventSourceMapping.TF_RESOURCE_TYPE, {
            "starting_position": "TRIM_HORIZON", "bisect_batch_on_function_error": True,
            "function_response_types": ["ReportBatchItemFailures"],
            "function_name": functions.ref(functions.construct.functions["audit-writer"].alias_arn)})
