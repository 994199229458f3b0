"""API: the REST API in front of the payment functions: a JSON-schema model and request validator
per route, API key + usage plan on every method, JSON access logs, X-Ray, throttling, no data trace
(it would write card numbers to CloudWatch), Lambda permissions per method, and a WAFv2 web ACL."""

from __future__ import annotations

import hashlib
import importlib.util
import json
import sys
from dataclasses import dataclass
from typing import Mapping

from cdktf import TerraformResourceLifecycle
from constructs import Construct
from cdktf_cdktf_provider_aws.api_gateway_account import ApiGatewayAccount
from cdktf_cdktf_provider_aws.api_gateway_api_key import ApiGatewayApiKey
from cdktf_cdktf_provider_aws.api_gateway_deployment import ApiGatewayDeployment
from cdktf_cdktf_provider_aws.api_gateway_integration import ApiGatewayIntegration
from cdktf_cdktf_provider_aws.api_gateway_method import ApiGatewayMethod
from cdktf_cdktf_provider_aws.api_gateway_method_settings import (
    ApiGatewayMethodSettings, ApiGatewayMethodSettingsSettings,
)
from cdktf_cdktf_provider_aws.api_gateway_model import ApiGatewayModel
from cdktf_cdktf_provider_aws.api_gateway_request_validator import ApiGatewayRequestValidator
from cdktf_cdktf_provider_aws.api_gateway_resource import ApiGatewayResource
from cdktf_cdktf_provider_aws.api_gateway_rest_api import (
    ApiGatewayRestApi, ApiGatewayRestApiEndpointConfiguration,
)
from cdktf_cdktf_provider_aws.api_gateway_stage import ApiGatewayStage, ApiGatewayStageAccessLogSettings
from cdktf_cdktf_provider_aws.api_gateway_usage_plan import (
    ApiGatewayUsagePlan, ApiGatewayUsagePlanApiStages, ApiGatewayUsagePlanQuotaSettings,
    ApiGatewayUsagePlanThrottleSettings,
)
from cdktf_cdktf_provider_aws.api_gateway_usage_plan_key import ApiGatewayUsagePlanKey
from cdktf_cdktf_provider_aws.iam_role import IamRole
from cdktf_cdktf_provider_aws.iam_role_policy_attachment import IamRolePolicyAttachment
from cdktf_cdktf_provider_aws.lambda_permission import LambdaPermission
from cdktf_cdktf_provider_aws.wafv2_web_acl import (
    Wafv2WebAcl, Wafv2WebAclDefaultAction, Wafv2WebAclDefaultActionAllow, Wafv2WebAclRule,
    Wafv2WebAclRuleAction, Wafv2WebAclRuleActionBlock, Wafv2WebAclRuleOverrideAction,
    Wafv2WebAclRuleOverrideActionNone, Wafv2WebAclRuleVisibilityConfig, Wafv2WebAclVisibilityConfig,
)
from cdktf_cdktf_provider_aws.wafv2_web_acl_association import Wafv2WebAclAssociation
from cdktf_cdktf_provider_aws.wafv2_web_acl_logging_configuration import (
    Wafv2WebAclLoggingConfiguration, Wafv2WebAclLoggingConfigurationRedactedFields,
    Wafv2WebAclLoggingConfigurationRedactedFieldsSingleHeader,
)

from modules.compute import PaymentFunction
from modules.iam import assume_role_policy
from modules.packaging import LAMBDAS_DIR
from modules.logs import encrypted_log_group
from modules.settings import Settings

# Route path -> (function key, request model name). Every route takes the payment request body; each
# has its own model so one route's contract can change without touching the others.
ROUTES: Mapping[str, tuple[str, str]] = {
    "validate": ("validate", "ValidateRequest"),
    "fraud-check": ("fraud-check", "FraudCheckRequest"),
    "process": ("process", "ProcessRequest"),
}
IDEMPOTENCY_HEADER = "method.request.header.Idempotency-Key"
PUSH_LOGS_POLICY = "service-role/AmazonAPIGatewayPushToCloudWatchLogs"
# WAF only delivers to CloudWatch log groups whose name starts with this prefix.
WAF_LOG_GROUP_PREFIX = "aws-waf-logs-"
# Request headers WAF logs must never contain: the client's API key.
WAF_REDACTED_HEADERS = ("x-api-key",)
ACCESS_LOG_FORMAT = json.dumps({
    "requestId": "$context.requestId", "extendedRequestId": "$context.extendedRequestId",
    "ip": "$context.identity.sourceIp", "caller": "$context.identity.caller",
    "apiKeyId": "$context.identity.apiKeyId", "requestTime": "$context.requestTime",
    "httpMethod": "$context.httpMethod", "resourcePath": "$context.resourcePath",
    "status": "$context.status", "protocol": "$context.protocol",
    "responseLength": "$context.responseLength", "latency": "$context.responseLatency",
    "integrationLatency": "$context.integrationLatency", "wafStatus": "$context.waf.status",
    "xrayTraceId": "$context.xrayTraceId",
}, sort_keys=True)


def payment_request_schema() -> dict:
    """The request JSON schema, owned by the functions' shared package (one source of truth)."""
    path = LAMBDAS_DIR / "shared" / "python"
    if str(path) not in sys.path:
        sys.path.append(str(path))
    from payments_core.schema import PAYMENT_REQUEST_SCHEMA  # noqa: PLC0415
    return PAYMENT_REQUEST_SCHEMA


@dataclass(frozen=True)
class ApiProps:
    settings: Settings
    kms_key_arn: str
    functions: Mapping[str, PaymentFunction]
    partition: str = "aws"


class PaymentApi(Construct):
    """REST API `payment-api-<env>` with POST /validate, /fraud-check and /process."""

    def __init__(self, scope: Construct, id: str, props: ApiProps):
        super().__init__(scope, id)
        s = props.settings
        self.api = ApiGatewayRestApi(
            self, "api", name=s.name("api"), description="Payment validation, fraud check, processing",
            endpoint_configuration=ApiGatewayRestApiEndpointConfiguration(types=["REGIONAL"]),
            # A change that forces a new API brings the new one up before the old one goes.
            lifecycle=TerraformResourceLifecycle(create_before_destroy=True),
        )
        schema = json.dumps(payment_request_schema(), sort_keys=True)
        validator = ApiGatewayRequestValidator(self, "validator", rest_api_id=self.api.id,
                                               name="body-and-parameters", validate_request_body=True,
                                               validate_request_parameters=True)
        self.methods: dict[str, ApiGatewayMethod] = {}
        integrations = []
        for path, (key, model_name) in ROUTES.items():
            function = props.functions[key]
            model = ApiGatewayModel(self, f"{path}-model", rest_api_id=self.api.id, name=model_name,
                                    content_type="application/json", schema=schema,
                                    description=f"POST /{path} body (the function re-validates it)")
            resource = ApiGatewayResource(self, f"{path}-resource", rest_api_id=self.api.id,
                                          parent_id=self.api.root_resource_id, path_part=path)
            method = ApiGatewayMethod(
                self, f"{path}-post", rest_api_id=self.api.id, resource_id=resource.id,
                http_method="POST", authorization="NONE", api_key_required=True,
                request_validator_id=validator.id, request_models={"application/json": model.name},
                request_parameters={IDEMPOTENCY_HEADER: True} if path == "process" else None,
            )
            integrations.append(ApiGatewayIntegration(
                self, f"{path}-integration", rest_api_id=self.api.id, resource_id=resource.id,
                http_method=method.http_method, type="AWS_PROXY", integration_http_method="POST",
                uri=function.alias_invoke_arn,
            ))
            # Scoped to this method on this stage, invoking the live alias only.
            LambdaPermission(
                self, f"{path}-permission", statement_id="AllowApiGatewayInvoke",
                action="lambda:InvokeFunction", function_name=function.function.function_name,
                qualifier=function.alias.name, principal="apigateway.amazonaws.com",
                source_arn=f"{self.api.execution_arn}/{s.api_stage_name}/POST/{path}",
            )
            self.methods[path] = method

        deployment = ApiGatewayDeployment(
            self, "deployment", rest_api_id=self.api.id,
            # A new deployment whenever the API's shape changes; the stage then moves to it.
            triggers={"redeployment": hashlib.sha256(
                (schema + json.dumps(ROUTES, sort_keys=True)).encode()).hexdigest()},
            lifecycle=TerraformResourceLifecycle(create_before_destroy=True),
            depends_on=[*self.methods.values(), *integrations],
        )
        self._account_logging_role(s, props.partition)
        self.access_logs = encrypted_log_group(
            self, "access-logs", f"/aws/apigateway/{s.name('api')}/access", s, props.kms_key_arn)
        # API Gateway writes execution logs to this fixed name; create it so retention and key are ours.
        self.execution_logs = encrypted_log_group(
            self, "execution-logs", f"API-Gateway-Execution-Logs_{self.api.id}/{s.api_stage_name}",
            s, props.kms_key_arn)
        self.stage = ApiGatewayStage(
            self, "stage", rest_api_id=self.api.id, deployment_id=deployment.id,
            stage_name=s.api_stage_name, xray_tracing_enabled=True,
            access_log_settings=ApiGatewayStageAccessLogSettings(
                destination_arn=self.access_logs.arn, format=ACCESS_LOG_FORMAT),
            depends_on=[self.account, self.execution_logs],
        )
        ApiGatewayMethodSettings(
            self, "method-settings", rest_api_id=self.api.id, stage_name=self.stage.stage_name,
            method_path="*/*",
            settings=ApiGatewayMethodSettingsSettings(
                metrics_enabled=True, logging_level="INFO",
                data_trace_enabled=False,  # full request bodies (card numbers) must never reach logs
                throttling_rate_limit=s.api_rate_limit, throttling_burst_limit=s.api_burst_limit),
        )
        self._usage_plan(s)
        # Optional outside production (settings.waf_enabled): $5 + $1 per rule a month even when idle.
        self.web_acl: Wafv2WebAcl | None = None
        self.waf_logs = None
        if s.waf_enabled:
            self._waf(s, props.kms_key_arn)
        self.url = self.stage.invoke_url

    def _account_logging_role(self, s: Settings, partition: str) -> None:
        role = IamRole(self, "cloudwatch-role", name=s.name("apigw-cloudwatch"),
                       assume_role_policy=assume_role_policy("apigateway.amazonaws.com"))
        IamRolePolicyAttachment(self, "cloudwatch-role-policy", role=role.name,
                                policy_arn=f"arn:{partition}:iam::aws:policy/{PUSH_LOGS_POLICY}")
        # Region-wide API Gateway setting: the role every API's execution/access logging uses.
        self.account = ApiGatewayAccount(self, "account", cloudwatch_role_arn=role.arn)

    def _usage_plan(self, s: Settings) -> None:
        key = ApiGatewayApiKey(self, "key", name=s.name("api-key"), enabled=True,
                               description="Client key; value is read from API Gateway, never output")
        plan = ApiGatewayUsagePlan(
            self, "usage-plan", name=s.name("usage-plan"),
            api_stages=[ApiGatewayUsagePlanApiStages(api_id=self.api.id, stage=self.stage.stage_name)],
            throttle_settings=ApiGatewayUsagePlanThrottleSettings(
                rate_limit=s.api_rate_limit, burst_limit=s.api_burst_limit),
            quota_settings=ApiGatewayUsagePlanQuotaSettings(limit=s.api_quota_per_day, period="DAY"),
        )
        ApiGatewayUsagePlanKey(self, "usage-plan-key", key_id=key.id, key_type="API_KEY",
                               usage_plan_id=plan.id)
        self.api_key_id = key.id

    def _waf(self, s: Settings, kms_key_arn: str) -> None:
        def visibility(metric: str) -> Wafv2WebAclRuleVisibilityConfig:
            return Wafv2WebAclRuleVisibilityConfig(cloudwatch_metrics_enabled=True, metric_name=metric,
                                                   sampled_requests_enabled=True)

        def aws_managed_rules(name: str, priority: int, group: str) -> Wafv2WebAclRule:
            """An AWS managed rule group, enforced as AWS defines it (no overrides)."""
            return Wafv2WebAclRule(
                name=name, priority=priority,
                override_action=Wafv2WebAclRuleOverrideAction(none=Wafv2WebAclRuleOverrideActionNone()),
                statement={"managed_rule_group_statement": {"name": group, "vendor_name": "AWS"}},
                visibility_config=visibility(name),
            )

        self.web_acl = Wafv2WebAcl(
            self, "waf", name=s.name("api-waf"), scope="REGIONAL",
            description="Per-IP rate limit and AWS common protections for the payment API",
            default_action=Wafv2WebAclDefaultAction(allow=Wafv2WebAclDefaultActionAllow()),
            visibility_config=Wafv2WebAclVisibilityConfig(
                cloudwatch_metrics_enabled=True, metric_name=s.name("api-waf"), sampled_requests_enabled=True),
            rule=[
                Wafv2WebAclRule(
                    name="per-ip-rate-limit", priority=0,
                    action=Wafv2WebAclRuleAction(block=Wafv2WebAclRuleActionBlock()),
                    statement={"rate_based_statement": {"limit": s.waf_rate_limit_per_5min,
                                                        "aggregate_key_type": "IP"}},
                    visibility_config=visibility("per-ip-rate-limit"),
                ),
                aws_managed_rules("aws-common-rule-set", 1, "AWSManagedRulesCommonRuleSet"),
                # Request patterns known to exploit vulnerabilities (Log4j JNDI lookups among them).
                aws_managed_rules("aws-known-bad-inputs", 2, "AWSManagedRulesKnownBadInputsRuleSet"),
            ],
        )
        Wafv2WebAclAssociation(self, "waf-association", resource_arn=self.stage.arn,
                               web_acl_arn=self.web_acl.arn)
        self.waf_logs = encrypted_log_group(
            self, "waf-logs", f"{WAF_LOG_GROUP_PREFIX}payment-{s.environment}", s, kms_key_arn)
        Wafv2WebAclLoggingConfiguration(
            self, "waf-logging", resource_arn=self.web_acl.arn,
            log_destination_configs=[self.waf_logs.arn],
            redacted_fields=[Wafv2WebAclLoggingConfigurationRedactedFields(
                single_header=Wafv2WebAclLoggingConfigurationRedactedFieldsSingleHeader(name=header))
                for header in WAF_REDACTED_HEADERS],
        )
