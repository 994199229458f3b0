"""Network: VPC over three AZs, three subnet tiers, NAT (none in dev), gateway endpoints and their
policies (GatewayEndpointPolicies), flow logs, Aurora's group and (functions in the VPC) the functions'."""

import json

import pytest
from cdktf import Testing
from cdktf_cdktf_provider_aws.cloudwatch_log_group import CloudwatchLogGroup
from cdktf_cdktf_provider_aws.data_aws_availability_zones import DataAwsAvailabilityZones
from cdktf_cdktf_provider_aws.default_security_group import DefaultSecurityGroup
from cdktf_cdktf_provider_aws.flow_log import FlowLog
from cdktf_cdktf_provider_aws.iam_role import IamRole
from cdktf_cdktf_provider_aws.nat_gateway import NatGateway
from cdktf_cdktf_provider_aws.route import Route
from cdktf_cdktf_provider_aws.subnet import Subnet
from cdktf_cdktf_provider_aws.vpc import Vpc
from cdktf_cdktf_provider_aws.vpc_endpoint import VpcEndpoint
from cdktf_cdktf_provider_aws.vpc_endpoint_policy import VpcEndpointPolicy
from cdktf_cdktf_provider_aws.vpc_security_group_egress_rule import VpcSecurityGroupEgressRule
from cdktf_cdktf_provider_aws.vpc_security_group_ingress_rule import VpcSecurityGroupIngressRule

from modules.network import EndpointPoliciesProps, GatewayEndpointPolicies, Network, NetworkProps
from tests.constructs.conftest import ACCOUNT, KEY_ARN, Scoped, scoped, settings_for


@pytest.fixture(scope="module")
def network(dev) -> Scoped:
    return scoped(lambda scope: Network(scope, "network", NetworkProps(dev, KEY_ARN, ACCOUNT)))


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


def test_dev_has_no_nat_and_one_per_zone_when_configured(network):
    # Dev runs without NAT (the functions reach AWS APIs through the endpoints): no private default route.
    assert not Testing.to_have_resource(network.synthesized, NatGateway.TF_RESOURCE_TYPE)
    assert not Testing.to_have_resource_with_properties(network.synthesized, Route.TF_RESOURCE_TYPE, {
        "destination_cidr_block": "0.0.0.0/0", "route_table_id": network.ref(
            network.construct.node.find_child("private-rt-0").id)})
    per_zone = scoped(lambda scope: Network(scope, "network", NetworkProps(
        settings_for("dev", nat_gateways=3), KEY_ARN, ACCOUNT)))
    nats = per_zone.resources(NatGateway.TF_RESOURCE_TYPE)
    assert len(nats) == 3
    private_routes = [r for r in per_zone.resources(Route.TF_RESOURCE_TYPE).values() if "nat_gateway_id" in r]
    assert len({r["nat_gateway_id"] for r in private_routes}) == 3  # each AZ its own NAT


def test_s3_and_dynamodb_stay_off_the_nat(network):
    for svc in ("s3", "dynamodb"):
        assert Testing.to_have_resource_with_properties(network.synthesized, VpcEndpoint.TF_RESOURCE_TYPE, {
            "service_name": f"com.amazonaws.us-east-1.{svc}", "vpc_endpoint_type": "Gateway"})


def test_flow_logs_go_to_an_encrypted_log_group(network):
    assert Testing.to_have_resource_with_properties(network.synthesized, FlowLog.TF_RESOURCE_TYPE, {
        "traffic_type": "ALL", "log_destination_type": "cloud-watch-logs"})
    assert Testing.to_have_resource_with_properties(network.synthesized, CloudwatchLogGroup.TF_RESOURCE_TYPE, {
        "name": "/aws/vpc/flow-logs/payment-vpc-dev", "kms_key_id": KEY_ARN, "retention_in_days": 7})
    (role,) = network.resources(IamRole.TF_RESOURCE_TYPE).values()  # trust: this account's flow logs only
    (trust,) = json.loads(role["assume_role_policy"])["Statement"]
    assert trust["Condition"]["StringEquals"]["aws:SourceAccount"] == ACCOUNT
    assert trust["Condition"]["ArnLike"]["aws:SourceArn"] == \
        f"arn:aws:ec2:us-east-1:{ACCOUNT}:vpc-flow-log/*"


def test_default_group_denies_all_and_no_function_group_while_functions_run_outside(network):
    assert Testing.to_have_resource(network.synthesized, DefaultSecurityGroup.TF_RESOURCE_TYPE)
    (default_sg,) = network.resources(DefaultSecurityGroup.TF_RESOURCE_TYPE).values()
    assert "ingress" not in default_sg and "egress" not in default_sg
    assert network.construct.lambda_sg is None  # dev: functions_in_vpc off
    assert not Testing.to_have_resource(network.synthesized, VpcSecurityGroupEgressRule.TF_RESOURCE_TYPE)


def test_functions_in_the_vpc_get_a_group_that_only_reaches_https():
    network = scoped(lambda scope: Network(scope, "network", NetworkProps(
        settings_for("dev", functions_in_vpc=True), KEY_ARN, ACCOUNT)))
    assert Testing.to_have_resource_with_properties(
        network.synthesized, VpcSecurityGroupEgressRule.TF_RESOURCE_TYPE, {
            "from_port": 443, "to_port": 443, "ip_protocol": "tcp", "cidr_ipv4": "0.0.0.0/0",
            "security_group_id": network.ref(network.construct.lambda_sg.id)})
    # No function talks to Aurora yet: nothing opens 5432 (the first one that does adds the rules).
    assert not Testing.to_have_resource(network.synthesized, VpcSecurityGroupIngressRule.TF_RESOURCE_TYPE)
    assert len(network.resources(VpcSecurityGroupEgressRule.TF_RESOURCE_TYPE)) == 1

TABLE_ARN = f"arn:aws:dynamodb:us-east-1:{ACCOUNT}:table/payment-transactions-dev"
AUDIT_OBJECTS = "arn:aws:s3:::payment-audit-logs-dev/transactions/*"


def test_gateway_endpoints_let_only_the_platform_tables_and_audit_objects_through():
    # In the stack: created after the tables and buckets, on ``Network.endpoints[svc].id``.
    endpoints = {"s3": "vpce-s3", "dynamodb": "vpce-dynamodb"}
    built = scoped(lambda scope: GatewayEndpointPolicies(scope, "endpoint-policies", EndpointPoliciesProps(
        endpoint_ids=endpoints, table_arns=[TABLE_ARN], object_arns=[AUDIT_OBJECTS])))
    assert Testing.to_have_resource_with_properties(built.synthesized, VpcEndpointPolicy.TF_RESOURCE_TYPE, {
        "vpc_endpoint_id": endpoints["dynamodb"]})
    documents = {policy["vpc_endpoint_id"]: json.loads(policy["policy"])["Statement"]
                 for policy in built.resources(VpcEndpointPolicy.TF_RESOURCE_TYPE).values()}
    (dynamodb,) = documents[endpoints["dynamodb"]]
    assert dynamodb["Effect"] == "Allow" and dynamodb["Principal"] == {"AWS": "*"}
    assert sorted(dynamodb["Action"]) == ["dynamodb:GetItem", "dynamodb:PutItem"]
    assert dynamodb["Resource"] == [TABLE_ARN, f"{TABLE_ARN}/index/*"]  # nothing of any other table
    (s3,) = documents[endpoints["s3"]]
    assert s3["Action"] == ["s3:PutObject"] and s3["Resource"] == [AUDIT_OBJECTS]
    assert set(built.construct.policies) == {"s3", "dynamodb"}
