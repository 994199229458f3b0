"""InterfaceEndpoints: KMS and STS interface endpoints (private DNS) so the functions need no NAT,
admitted only from the functions' security group, in ``interface_endpoint_azs`` of their subnets."""

import pytest
from cdktf import Testing
from cdktf_cdktf_provider_aws.security_group import SecurityGroup
from cdktf_cdktf_provider_aws.vpc_endpoint import VpcEndpoint
from cdktf_cdktf_provider_aws.vpc_security_group_ingress_rule import VpcSecurityGroupIngressRule

from modules.endpoints import INTERFACE_SERVICES, InterfaceEndpoints, InterfaceEndpointsProps
from tests.constructs.conftest import Scoped, scoped, settings_for

PRIVATE_SUBNETS = ["subnet-private-a", "subnet-private-b", "subnet-private-c"]


def build(settings) -> Scoped:
    return scoped(lambda scope: InterfaceEndpoints(scope, "endpoints", InterfaceEndpointsProps(
        settings, vpc_id="vpc-1", subnet_ids=PRIVATE_SUBNETS, client_security_group_id="sg-lambda")))


@pytest.fixture(scope="module")
def endpoints(dev) -> Scoped:
    return build(dev)


def test_kms_and_sts_resolve_privately_in_one_az_in_dev(endpoints):
    assert set(endpoints.construct.endpoints) == set(INTERFACE_SERVICES) == {"kms", "sts"}
    for svc in ("kms", "sts"):
        assert Testing.to_have_resource_with_properties(endpoints.synthesized, VpcEndpoint.TF_RESOURCE_TYPE, {
            "service_name": f"com.amazonaws.us-east-1.{svc}", "vpc_endpoint_type": "Interface",
            "private_dns_enabled": True, "vpc_id": "vpc-1", "subnet_ids": ["subnet-private-a"],
            "security_group_ids": [endpoints.ref(endpoints.construct.security_group.id)]})
    assert len(endpoints.resources(VpcEndpoint.TF_RESOURCE_TYPE)) == 2


def test_only_the_functions_group_reaches_them_on_https(endpoints):
    assert Testing.to_have_resource_with_properties(endpoints.synthesized, SecurityGroup.TF_RESOURCE_TYPE, {
        "name": "payment-endpoints-dev", "vpc_id": "vpc-1"})
    (rule,) = endpoints.resources(VpcSecurityGroupIngressRule.TF_RESOURCE_TYPE).values()
    assert {k: rule[k] for k in ("from_port", "to_port", "ip_protocol", "referenced_security_group_id")} == {
        "from_port": 443, "to_port": 443, "ip_protocol": "tcp", "referenced_security_group_id": "sg-lambda"}
    assert "cidr_ipv4" not in rule


def test_production_like_settings_spread_them_over_every_az():
    spread = build(settings_for("dev", interface_endpoint_azs=3))
    assert all(e["subnet_ids"] == PRIVATE_SUBNETS
               for e in spread.resources(VpcEndpoint.TF_RESOURCE_TYPE).values())
