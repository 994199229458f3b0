"""PlatformParameters: the SSM String parameters other systems read, ``/payment/<name>-<env>``."""

from cdktf import Testing
from cdktf_cdktf_provider_aws.ssm_parameter import SsmParameter

from modules.parameters import PlatformParameters
from tests.constructs.conftest import scoped


def test_one_string_parameter_per_value(dev):
    built = scoped(lambda scope: PlatformParameters(scope, "ssm", dev, {
        "vpc-id": ("vpc-0abc", "VPC ID for payment processing"),
        "transaction-table": ("payment-transactions-dev", "DynamoDB transaction table name")}))
    assert Testing.to_have_resource_with_properties(built.synthesized, SsmParameter.TF_RESOURCE_TYPE, {
        "name": "/payment/vpc-id-dev", "type": "String", "value": "vpc-0abc",
        "description": "VPC ID for payment processing"})
    assert Testing.to_have_resource_with_properties(built.synthesized, SsmParameter.TF_RESOURCE_TYPE, {
        "name": "/payment/transaction-table-dev", "value": "payment-transactions-dev"})
    assert set(built.construct.parameters) == {"vpc-id", "transaction-table"}
    assert len(built.resources(SsmParameter.TF_RESOURCE_TYPE)) == 2  # a count: no matcher for it
