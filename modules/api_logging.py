"""API Gateway's CloudWatch logging role: the account's ``aws_api_gateway_account`` setting and the
role it names, owned by the account stack (``payments-account``).

The setting is one per account and region: whichever stack applies it last decides the role every
REST API of the region logs with (every environment's and other teams' APIs). Owned by one
environment, destroying that environment (a preview) deleted the role the account pointed at, and
every API of the region, prod's included, stopped logging. Owned by the account, no environment's
apply or destroy touches it; the environment stacks need it applied before their first stage.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from constructs import Construct
from cdktf_cdktf_provider_aws.api_gateway_account import ApiGatewayAccount
from cdktf_cdktf_provider_aws.iam_role import IamRole
from cdktf_cdktf_provider_aws.iam_role_policy_attachment import IamRolePolicyAttachment

from modules.iam import assume_role_policy

PUSH_LOGS_POLICY = "service-role/AmazonAPIGatewayPushToCloudWatchLogs"
ROLE_NAME = "payment-apigw-cloudwatch"


@dataclass(frozen=True)
class ApiGatewayLoggingProps:
    region: str       # the setting is per region: the role's name carries it
    partition: str = "aws"
    provider: Any = None  # that region's provider (the DR region's); None: the stack's default


def role_name(region: str) -> str:
    return f"{ROLE_NAME}-{region}"


class ApiGatewayLogging(Construct):
    """The logging role and the account setting that points API Gateway at it."""

    def __init__(self, scope: Construct, id: str, props: ApiGatewayLoggingProps):
        super().__init__(scope, id)
        # API Gateway sends no aws:SourceAccount/SourceArn for this role (modules/iam.py).
        self.role = IamRole(self, "role", name=role_name(props.region), provider=props.provider,
                            assume_role_policy=assume_role_policy("apigateway.amazonaws.com", source_account=None))
        # The one AWS managed policy the platform keeps, because the role serves every API of the
        # region, not ours: API Gateway creates and names execution log groups itself
        # (API-Gateway-Execution-Logs_<api id>/<stage>, /aws/apigateway/welcome) and access logs go
        # to any group an API names, so scoping it to our groups would silently stop other APIs'
        # logs. It allows log writes (and reads) only, no deletes.
        IamRolePolicyAttachment(self, "policy", role=self.role.name, provider=props.provider,
                                policy_arn=f"arn:{props.partition}:iam::aws:policy/{PUSH_LOGS_POLICY}")
        self.account = ApiGatewayAccount(self, "account", cloudwatch_role_arn=self.role.arn, provider=props.provider)
