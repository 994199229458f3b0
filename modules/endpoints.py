"""Interface VPC endpoints: the private route from the payment functions to the AWS APIs that have
no gateway endpoint, so functions in the VPC work without a NAT gateway. Only built when the functions
run in the VPC (``functions_in_vpc``: staging, prod); outside it (dev, previews) they use the public
endpoints and these would cost $14.60 a month for nothing.

S3 and DynamoDB use the free gateway endpoints of modules/network.py. Each interface endpoint costs
per AZ-hour (scripts/cost.py), so there is one only for an API a function calls
(tests/test_endpoints.py derives the called APIs from the function code and fails on a missing route):

- ``kms``: GenerateMac for the card fingerprint in /process (lambdas/shared/.../service.py).
- ``sts``: AssumeRole for merchant-scoped credentials in fraud-check and process.

Environments with NAT gateways (staging, prod) keep the endpoints too: KMS and STS calls then stay
on a private path, pay no NAT data processing and do not depend on a NAT gateway.

Not here, on purpose: X-Ray (the functions use no X-Ray SDK; with Active tracing the Lambda service
records and sends the function's segments itself, outside the function's VPC network), CloudWatch
Logs (the Lambda service ships stdout), Lambda (no function invokes another), Secrets Manager and
the RDS Data API (no function reads a secret or queries Aurora).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping, Sequence

from constructs import Construct
from cdktf_cdktf_provider_aws.security_group import SecurityGroup
from cdktf_cdktf_provider_aws.vpc_endpoint import VpcEndpoint
from cdktf_cdktf_provider_aws.vpc_security_group_ingress_rule import VpcSecurityGroupIngressRule

from modules.settings import Settings

HTTPS_PORT = 443
# Service (the boto3 client name and the endpoint's service suffix) -> why a function needs it.
INTERFACE_SERVICES: Mapping[str, str] = {
    "kms": "card fingerprint: kms:GenerateMac in /process",
    "sts": "merchant-scoped credentials: sts:AssumeRole in fraud-check and process",
}


@dataclass(frozen=True)
class InterfaceEndpointsProps:
    settings: Settings
    vpc_id: str
    subnet_ids: Sequence[str]          # the functions' (private) subnets, one per AZ
    client_security_group_id: str      # the functions' security group: the only one admitted


class InterfaceEndpoints(Construct):
    """One interface endpoint per service in ``INTERFACE_SERVICES``, private DNS on (the SDK's default
    hostnames resolve to the endpoint), in ``settings.interface_endpoint_azs`` of the subnets, behind
    a security group that admits HTTPS from the functions' security group only."""

    def __init__(self, scope: Construct, id: str, props: InterfaceEndpointsProps):
        super().__init__(scope, id)
        s = props.settings
        self.security_group = SecurityGroup(
            self, "sg", name=s.name("endpoints"), vpc_id=props.vpc_id,
            description="Interface VPC endpoints: HTTPS from the payment Lambda functions only",
            tags={"Name": s.name("endpoints")},
        )
        VpcSecurityGroupIngressRule(
            self, "https-from-lambda", security_group_id=self.security_group.id, ip_protocol="tcp",
            from_port=HTTPS_PORT, to_port=HTTPS_PORT,
            referenced_security_group_id=props.client_security_group_id,
            description="HTTPS from the payment Lambda functions",
        )
        # Fewer AZs than the functions run in is cheaper; the functions reach the endpoint across
        # AZs (one AZ down then takes KMS/STS with it: acceptable outside production).
        subnets = list(props.subnet_ids)[: s.interface_endpoint_azs]
        self.endpoints: dict[str, VpcEndpoint] = {
            svc: VpcEndpoint(
                self, svc, vpc_id=props.vpc_id, vpc_endpoint_type="Interface",
                service_name=f"com.amazonaws.{s.region}.{svc}", private_dns_enabled=True,
                subnet_ids=subnets, security_group_ids=[self.security_group.id],
                tags={"Name": s.name(f"{svc}-endpoint")},
            )
            for svc in INTERFACE_SERVICES
        }
