"""Network: VPC over three AZs, three subnet tiers, NAT, gateway endpoints, flow logs, two groups."""

import pytest
from cdktf import Testing
from cdktf_cdktf_provider_aws.cloudwatch_log_group import CloudwatchLogGroup
from cdktf_cdktf_provider_aws.data_aws_availability_zones import DataAwsAvailabilityZones
from cdktf_cdktf_provider_aws.default_security_group import DefaultSecurityGroup
from cdktf_cdktf_provider_aws.flow_log import FlowLog
from cdktf_cdktf_provider_aws.nat_gateway import NatGateway
from cdktf_cdktf_provider_aws.subnet import Subnet
from cdktf_cdktf_provider_aws.vpc import Vpc
from cdktf_cdktf_provider_aws.vpc_endpoint import VpcEndpoint
from cdktf_cdktf_provider_aws.vpc_security_group_ingress_rule import VpcSecurityGroupIngressRule

from modules.network import Network, NetworkProps
from tests.constructs.conftest import KEY_ARN, Scoped, scoped


@pytest.fixture(scope="module")
def network(dev) -> Scoped:
    return scoped(lambda scope: Network(scope, "network", NetworkProps(dev, KEY_ARN)))


def test_vpc_uses_the_configured_cidr_and_dns(network):
    assert Testing.to_have_resource_with_properties(network.synthesized, Vpc.TF_RESOURCE_TYPE, {
        "cidr_block": "10.0.0.0/16", "enable_dns_hostnames": True, "enable_dns_support": True,
        "tags": {"Name": "payment-vpc-dev"}})


def test_subnets_spread_over_available_zones(network):
    assert Testing.to_have_data_source_with_properties(
        network.synthesized, DataAwsAvailabilityZones.TF_RESOURCE_TYPE, {"state": "available"})
    assert Testing.to_have_resource_with_properties(network.synthesized, Subnet.TF_RESOURCE_TYPE, {
        "cidr_block": "10.0.6.0/24", "map_public_ip_on_launch": False, "tags": {"Tier": "isolated"}})
    assert {tier: len(ids) for tier, ids in network.construct.subnet_ids.items()} == \
        {"public": 3, "private": 3, "isolated": 3}


def test_dev_has_one_nat_and_production_one_per_zone(network, prod):
    assert len(network.resources(NatGateway.TF_RESOURCE_TYPE)) == 1
    production = scoped(lambda scope: Network(scope, "network", NetworkProps(prod, KEY_ARN)))
    assert len(production.resources(NatGateway.TF_RESOURCE_TYPE)) == 3


def test_s3_and_dynamodb_stay_off_the_nat(network):
    for svc in ("s3", "dynamodb"):
        assert Testing.to_have_resource_with_properties(network.synthesized, VpcEndpoint.TF_RESOURCE_TYPE, {
            "service_name": f"com.amazonaws.us-east-1.{svc}", "vpc_endpoint_type": "Gateway"})


def test_flow_logs_go_to_an_encrypted_log_group(network):
    assert Testing.to_have_resource_with_properties(network.synthesized, FlowLog.TF_RESOURCE_TYPE, {
        "traffic_type": "ALL", "log_destination_type": "cloud-watch-logs"})
    assert Testing.to_have_resource_with_properties(network.synthesized, CloudwatchLogGroup.TF_RESOURCE_TYPE, {
        "name": "/aws/vpc/flow-logs/payment-vpc-dev", "kms_key_id": KEY_ARN, "retention_in_days": 7})


def test_default_group_denies_all_and_aurora_admits_only_lambdas(network):
    assert Testing.to_have_resource(network.synthesized, DefaultSecurityGroup.TF_RESOURCE_TYPE)
    (default_sg,) = network.resources(DefaultSecurityGroup.TF_RESOURCE_TYPE).values()
    assert "ingress" not in default_sg and "egress" not in default_sg
    assert Testing.to_have_resource_with_properties(
        network.synthesized, VpcSecurityGroupIngressRule.TF_RESOURCE_TYPE, {
            "from_port": 5432, "to_port": 5432, "ip_protocol": "tcp",
            "security_group_id": network.ref(network.construct.aurora_sg.id),
            "referenced_security_group_id": network.ref(network.construct.lambda_sg.id)})
