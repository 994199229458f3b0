"""Network: VPC over three AZs with public, private (egress) and isolated subnets, NAT, gateway
endpoints (and, once the tables and buckets exist, their policies), flow logs, and the two security
groups (Lambda, Aurora)."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from typing import Mapping, Sequence

from cdktf import Fn, Token
from constructs import Construct
from cdktf_cdktf_provider_aws.data_aws_availability_zones import DataAwsAvailabilityZones
from cdktf_cdktf_provider_aws.default_security_group import DefaultSecurityGroup
from cdktf_cdktf_provider_aws.eip import Eip
from cdktf_cdktf_provider_aws.flow_log import FlowLog
from cdktf_cdktf_provider_aws.iam_role import IamRole
from cdktf_cdktf_provider_aws.iam_role_policy import IamRolePolicy
from cdktf_cdktf_provider_aws.internet_gateway import InternetGateway
from cdktf_cdktf_provider_aws.nat_gateway import NatGateway
from cdktf_cdktf_provider_aws.route import Route
from cdktf_cdktf_provider_aws.route_table import RouteTable
from cdktf_cdktf_provider_aws.route_table_association import RouteTableAssociation
from cdktf_cdktf_provider_aws.security_group import SecurityGroup
from cdktf_cdktf_provider_aws.subnet import Subnet
from cdktf_cdktf_provider_aws.vpc import Vpc
from cdktf_cdktf_provider_aws.vpc_endpoint import VpcEndpoint
from cdktf_cdktf_provider_aws.vpc_endpoint_policy import VpcEndpointPolicy
from cdktf_cdktf_provider_aws.vpc_security_group_egress_rule import VpcSecurityGroupEgressRule

from modules.iam import Statement, assume_role_policy, policy_document
from modules.logs import encrypted_log_group
from modules.settings import Settings

AZ_COUNT = 3
TIERS = ("public", "private", "isolated")  # subnet /24s: public 0-2, private 3-5, isolated 6-8


@dataclass(frozen=True)
class NetworkProps:
    settings: Settings
    kms_key_arn: str
    account_id: str
    partition: str = "aws"
    # False: no database in this VPC (the standby region's, until the Aurora secondary exists), so
    # no Aurora security group attached to nothing.
    database: bool = True


class Network(Construct):
    """VPC and its plumbing. Exposes subnet ids per tier and the two security groups."""

    def __init__(self, scope: Construct, id: str, props: NetworkProps):
        super().__init__(scope, id)
        s = props.settings
        azs = DataAwsAvailabilityZones(self, "azs", state="available")
        self.vpc = Vpc(
            self, "vpc", cidr_block=s.vpc_cidr, enable_dns_hostnames=True, enable_dns_support=True,
            tags={"Name": s.name("vpc")},
        )
        blocks = list(ipaddress.ip_network(s.vpc_cidr).subnets(new_prefix=24))
        self.subnet_ids: dict[str, list[str]] = {tier: [] for tier in TIERS}
        for t, tier in enumerate(TIERS):
            for az in range(AZ_COUNT):
                subnet = Subnet(
                    self, f"{tier}-{az}", vpc_id=self.vpc.id,
                    cidr_block=str(blocks[t * AZ_COUNT + az]),
                    availability_zone=Token.as_string(Fn.element(azs.names, az)),
                    map_public_ip_on_launch=False,
                    tags={"Name": s.name(f"{tier}-{az}"), "Tier": tier},
                )
                self.subnet_ids[tier].append(subnet.id)

        igw = InternetGateway(self, "igw", vpc_id=self.vpc.id, tags={"Name": s.name("igw")})
        public_rt = RouteTable(self, "public-rt", vpc_id=self.vpc.id, tags={"Name": s.name("public")})
        Route(self, "public-default", route_table_id=public_rt.id,
              destination_cidr_block="0.0.0.0/0", gateway_id=igw.id)
        for az, subnet_id in enumerate(self.subnet_ids["public"]):
            RouteTableAssociation(self, f"public-assoc-{az}", subnet_id=subnet_id, route_table_id=public_rt.id)

        nats = []
        for n in range(s.nat_gateways):
            eip = Eip(self, f"nat-eip-{n}", domain="vpc", tags={"Name": s.name(f"nat-{n}")})
            nats.append(NatGateway(
                self, f"nat-{n}", allocation_id=eip.id, subnet_id=self.subnet_ids["public"][n],
                tags={"Name": s.name(f"nat-{n}")}, depends_on=[igw],
            ))
        private_rts = []
        for az, subnet_id in enumerate(self.subnet_ids["private"]):
            rt = RouteTable(self, f"private-rt-{az}", vpc_id=self.vpc.id, tags={"Name": s.name(f"private-{az}")})
            if nats:  # spread AZs over the NAT gateways there are
                Route(self, f"private-default-{az}", route_table_id=rt.id,
                      destination_cidr_block="0.0.0.0/0", nat_gateway_id=nats[az % len(nats)].id)
            RouteTableAssociation(self, f"private-assoc-{az}", subnet_id=subnet_id, route_table_id=rt.id)
            private_rts.append(rt.id)
        isolated_rt = RouteTable(self, "isolated-rt", vpc_id=self.vpc.id, tags={"Name": s.name("isolated")})
        for az, subnet_id in enumerate(self.subnet_ids["isolated"]):
            RouteTableAssociation(self, f"isolated-assoc-{az}", subnet_id=subnet_id, route_table_id=isolated_rt.id)
        self.route_table_ids = {"private": private_rts, "isolated": [isolated_rt.id]}

        # Gateway endpoints keep S3 and DynamoDB traffic off the NAT (cheaper, never on the internet).
        self.endpoints = {
            svc: VpcEndpoint(
                self, f"{svc}-endpoint", vpc_id=self.vpc.id, vpc_endpoint_type="Gateway",
                service_name=f"com.amazonaws.{s.region}.{svc}", route_table_ids=private_rts,
                tags={"Name": s.name(f"{svc}-endpoint")},
            )
            for svc in ("s3", "dynamodb")
        }
        self._flow_logs(props)
        self._security_groups(s, props.database)

    def _flow_logs(self, props: NetworkProps) -> None:
        s = props.settings
        self.flow_log_group = encrypted_log_group(
            self, "flow-logs", f"/aws/vpc/flow-logs/{s.name('vpc')}", s, props.kms_key_arn)
        role = IamRole(
            self, "flow-logs-role", name=s.name("vpc-flow-logs"),
            assume_role_policy=assume_role_policy(
                "vpc-flow-logs.amazonaws.com", source_account=props.account_id,
                # Flow logs pass the flow log's ARN; its id is not known before it exists.
                source_arn=f"arn:{props.partition}:ec2:{s.region}:{props.account_id}:vpc-flow-log/*"),
        )
        IamRolePolicy(
            self, "flow-logs-policy", role=role.id, name="write-flow-logs",
            policy=policy_document(Statement(
                sid="WriteFlowLogs",
                actions=["logs:CreateLogStream", "logs:PutLogEvents", "logs:DescribeLogStreams"],
                resources=[self.flow_log_group.arn, f"{self.flow_log_group.arn}:*"],
            )),
        )
        FlowLog(
            self, "flow-log", vpc_id=self.vpc.id, traffic_type="ALL", iam_role_arn=role.arn,
            log_destination_type="cloud-watch-logs", log_destination=self.flow_log_group.arn,
            max_aggregation_interval=60,
        )

    def _security_groups(self, s: Settings, database: bool) -> None:
        # Adopt the VPC's default security group and strip its rules (no ingress, no egress), so
        # anything launched without an explicit group can talk to nothing.
        DefaultSecurityGroup(self, "default-sg", vpc_id=self.vpc.id,
                             tags={"Name": s.name("default-deny-all")})
        # The descriptions below predate dropping the 5432 rules; changing a description replaces the
        # group (and with it Aurora's), so they stay until a function uses Aurora again.
        # The functions' group, only when they run in the VPC (settings.functions_in_vpc).
        self.lambda_sg: SecurityGroup | None = None
        if s.functions_in_vpc:
            self.lambda_sg = SecurityGroup(
                self, "lambda-sg", name=s.name("lambda"), vpc_id=self.vpc.id,
                description="Payment Lambda functions: egress to AWS APIs and Aurora only",
                tags={"Name": s.name("lambda")},
            )
        self.aurora_sg: SecurityGroup | None = None
        if database:
            self.aurora_sg = SecurityGroup(
                self, "aurora-sg", name=s.name("aurora"), vpc_id=self.vpc.id,
                description="Aurora PostgreSQL: 5432 from the Lambda security group only",
                tags={"Name": s.name("aurora")},
            )
        if self.lambda_sg is not None:
            VpcSecurityGroupEgressRule(
                self, "lambda-https-out", security_group_id=self.lambda_sg.id, ip_protocol="tcp",
                from_port=443, to_port=443, cidr_ipv4="0.0.0.0/0",
                description="HTTPS to AWS APIs (via NAT and the gateway endpoints)",
            )
        # No function talks to Aurora yet, so no rule opens 5432 between the two groups: the function
        # that first does adds the Lambda egress and Aurora ingress rules with it (docs/maintainers/security.md).


@dataclass(frozen=True)
class EndpointPoliciesProps:
    endpoint_ids: Mapping[str, str]             # "s3" / "dynamodb" -> gateway endpoint id
    table_arns: Sequence[str]                   # the platform's DynamoDB tables
    object_arns: Sequence[str]                  # S3 object ARN patterns functions write to


class GatewayEndpointPolicies(Construct):
    """What the private subnets may reach through the S3 and DynamoDB gateway endpoints: the platform's
    tables and audit objects, with the actions the functions use, and nothing else. Without a policy a
    gateway endpoint allows every bucket and table of every account, so code in the VPC could copy
    data out to an S3 bucket or DynamoDB table someone else owns. Which function may do what is still
    decided by its role (modules/compute.py); an action or resource a function starts using must be
    added here too. Separate from ``Network`` because the tables and buckets are created after it."""

    def __init__(self, scope: Construct, id: str, props: EndpointPoliciesProps):
        super().__init__(scope, id)
        tables = [r for arn in props.table_arns for r in (arn, f"{arn}/index/*")]
        # Principal "*": an endpoint policy limits what passes through the endpoint for any caller;
        # the caller's own identity policy still has to allow the request.
        documents = {
            # The DynamoDB stream is read by the Lambda service, outside the VPC: not listed.
            "dynamodb": Statement(sid="PlatformTablesOnly", principals={"AWS": "*"},
                                  actions=["dynamodb:GetItem", "dynamodb:PutItem"],
                                  resources=tables),
            # Lambda code and layers are fetched by the Lambda service, not through this endpoint.
            "s3": Statement(sid="PlatformObjectsOnly", principals={"AWS": "*"},
                            actions=["s3:PutObject"], resources=list(props.object_arns)),
        }
        self.policies = {
            service: VpcEndpointPolicy(self, service, vpc_endpoint_id=props.endpoint_ids[service],
                                       policy=policy_document(statement))
            for service, statement in documents.items()
        }
