"""API: the REST API in front of the payment functions: a JSON-schema model and request validator
per route, an OAuth2 access token with the route's scope (Cognito authorizer) and a merchant's API key
on every method, JSON access logs, X-Ray, throttling, no data trace (it would write card numbers to
CloudWatch), Lambda permissions per method, a WAFv2 web ACL, and an optional custom domain (TLS 1.2+)
that replaces the default execute-api endpoint.

API keys and usage plans are per merchant and created by `scripts/merchants.py`, not here: a key
Terraform creates has its value in state."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Mapping, Sequence

from cdktf import TerraformResourceLifecycle
from constructs import Construct
from cdktf_cdktf_provider_aws.api_gateway_authorizer import ApiGatewayAuthorizer
from cdktf_cdktf_provider_aws.api_gateway_base_path_mapping import ApiGatewayBasePathMapping
from cdktf_cdktf_provider_aws.api_gateway_deployment import ApiGatewayDeployment
from cdktf_cdktf_provider_aws.api_gateway_domain_name import (
    ApiGatewayDomainName, ApiGatewayDomainNameEndpointConfiguration,
)
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
from modules.logs import encrypted_log_group
from modules.payment_limits import layer_module
from modules.settings import Settings

# Route path -> (function key, request model name). Every route takes the payment request body; each
# has its own model so one route's contract can change without touching the others.
ROUTES: Mapping[str, tuple[str, str]] = {
    "validate": ("validate", "ValidateRequest"),
    "fraud-check": ("fraud-check", "FraudCheckRequest"),
    "process": ("process", "ProcessRequest"),
}
IDEMPOTENCY_HEADER = "method.request.header.Idempotency-Key"
# Minimum TLS 1.2 on the custom domain (the default endpoint of a regional API accepts TLS 1.0+).
DOMAIN_SECURITY_POLICY = "TLS_1_2"
# WAF only delivers to CloudWatch log groups whose name starts with this prefix.
WAF_LOG_GROUP_PREFIX = "aws-waf-logs-"
# Rules of AWS managed groups that count instead of block (see PaymentApi._waf).
WAF_COUNT_ONLY_RULES = ("HostingProviderIPList",)
# Request headers WAF logs must never contain: the merchant's API key, its bearer access token, and
# the idempotency key, which the functions only ever store or log as a keyed digest (a client may put
# a card number in it: payments_core/cardsec.py).
WAF_REDACTED_HEADERS = ("x-api-key", "authorization", "idempotency-key")
# Execution logging level of every method: at INFO, API Gateway's request-validation messages quote
# the offending body value verbatim (a malformed card_number among them); ERROR logs the failure only.
EXECUTION_LOGGING_LEVEL = "ERROR"
# The authorizer: Cognito access tokens in `Authorization: Bearer <token>`.
AUTHORIZER = {"type": "COGNITO_USER_POOLS", "identity_source": "method.request.header.Authorization"}
ACCESS_LOG_FORMAT = json.dumps({
    "requestId": "$context.requestId", "extendedRequestId": "$context.extendedRequestId",
    "ip": "$context.identity.sourceIp", "caller": "$context.identity.caller",
    "apiKeyId": "$context.identity.apiKeyId", "requestTime": "$context.requestTime",
    "clientId": "$context.authorizer.claims.client_id",
    "httpMethod": "$context.httpMethod", "resourcePath": "$context.resourcePath",
    "status": "$context.status", "protocol": "$context.protocol",
    "responseLength": "$context.responseLength", "latency": "$context.responseLatency",
    "integrationLatency": "$context.integrationLatency", "wafStatus": "$context.waf.status",
    "xrayTraceId": "$context.xrayTraceId",
}, sort_keys=True)


def payment_request_schema() -> dict:
    """The request JSON schema, owned by the functions' shared package (one source of truth)."""
    return layer_module("schema").PAYMENT_REQUEST_SCHEMA


@dataclass(frozen=True)
class MerchantAuth:
    """Whose access tokens the API accepts, and the scope each route requires."""

    user_pool_arn: str
    route_scopes: Mapping[str, str]  # route path -> scope, e.g. "process" -> "payments/process"


@dataclass(frozen=True)
class ApiProps:
    settings: Settings
    kms_key_arn: str
    functions: Mapping[str, PaymentFunction]
    auth: MerchantAuth


class PaymentApi(Construct):
    """REST API `payment-api-<env>` with POST /validate, /fraud-check and /process."""

    def __init__(self, scope: Construct, id: str, props: ApiProps):
        super().__init__(scope, id)
        s = props.settings
        scopes = dict(props.auth.route_scopes)
        if set(scopes) != set(ROUTES):
            raise ValueError(f"route_scopes must name every route {sorted(ROUTES)}, got {sorted(scopes)}")
        self.api = ApiGatewayRestApi(
            self, "api", name=s.name("api"), description="Payment validation, fraud check, processing",
            endpoint_configuration=ApiGatewayRestApiEndpointConfiguration(types=["REGIONAL"]),
            # With a custom domain, clients must use it (TLS 1.2+): the default endpoint would still
            # accept TLS 1.0 and bypass the domain's policy.
            disable_execute_api_endpoint=True if s.api_domain_name else None,
            # A change that forces a new API brings the new one up before the old one goes.
            lifecycle=TerraformResourceLifecycle(create_before_destroy=True),
        )
        schema = json.dumps(payment_request_schema(), sort_keys=True)
        validator = ApiGatewayRequestValidator(self, "validator", rest_api_id=self.api.id,
                                               name="body-and-parameters", validate_request_body=True,
                                               validate_request_parameters=True)
        self.authorizer = ApiGatewayAuthorizer(
            self, "authorizer", name="merchant-access-tokens", rest_api_id=self.api.id,
            provider_arns=[props.auth.user_pool_arn], **AUTHORIZER)
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
                http_method="POST",
                # A valid access token carrying this route's scope (else 401/403 before any function
                # runs), and the merchant's API key for its usage plan's throttle and quota.
                authorization="COGNITO_USER_POOLS", authorizer_id=self.authorizer.id,
                authorization_scopes=[scopes[path]], api_key_required=True,
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
            # A new deployment whenever the API's shape or its authorization changes (a method's
            # scope, the authorizer or the user pool it trusts); the stage then moves to it.
            triggers={"redeployment": hashlib.sha256((schema + json.dumps(
                [ROUTES, scopes, AUTHORIZER], sort_keys=True)).encode()).hexdigest(),
                "authorizer": f"{self.authorizer.id} {props.auth.user_pool_arn}"},
            lifecycle=TerraformResourceLifecycle(create_before_destroy=True),
            depends_on=[self.authorizer, *self.methods.values(), *integrations],
        )
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
            # The account's logging role (aws_api_gateway_account) is the account stack's
            # (modules/api_logging.py), applied before any environment.
            depends_on=[self.execution_logs],
        )
        ApiGatewayMethodSettings(
            self, "method-settings", rest_api_id=self.api.id, stage_name=self.stage.stage_name,
            method_path="*/*",
            settings=ApiGatewayMethodSettingsSettings(
                metrics_enabled=True, logging_level=EXECUTION_LOGGING_LEVEL,
                data_trace_enabled=False,  # full request bodies (card numbers) must never reach logs
                throttling_rate_limit=s.api_rate_limit, throttling_burst_limit=s.api_burst_limit),
        )
        # Optional outside production (settings.waf_enabled): $5 + $1 per rule a month even when idle.
        self.web_acl: Wafv2WebAcl | None = None
        self.waf_logs = None
        if s.waf_enabled:
            self._waf(s, props.kms_key_arn)
        self.domain = self._custom_domain(s)
        self.url = f"https://{s.api_domain_name}/" if self.domain else self.stage.invoke_url

    def _waf(self, s: Settings, kms_key_arn: str) -> None:
        def visibility(metric: str) -> Wafv2WebAclRuleVisibilityConfig:
            return Wafv2WebAclRuleVisibilityConfig(cloudwatch_metrics_enabled=True, metric_name=metric,
                                                   sampled_requests_enabled=s.waf_sampled_requests)

        def aws_managed_rules(name: str, priority: int, group: str,
                              count_only: Sequence[str] = ()) -> Wafv2WebAclRule:
            """An AWS managed rule group, enforced as AWS defines it, except the rules in ``count_only``,
            which only count (metrics, sampled requests and a label) instead of blocking."""
            statement: dict[str, object] = {"name": group, "vendor_name": "AWS"}
            if count_only:
                statement["rule_action_override"] = [{"name": rule, "action_to_use": {"count": {}}}
                                                     for rule in count_only]
            return Wafv2WebAclRule(
                name=name, priority=priority,
                override_action=Wafv2WebAclRuleOverrideAction(none=Wafv2WebAclRuleOverrideActionNone()),
                statement={"managed_rule_group_statement": statement},
                visibility_config=visibility(name),
            )

        self.web_acl = Wafv2WebAcl(
            self, "waf", name=s.name("api-waf"), scope="REGIONAL",
            description="Per-IP rate limit and AWS common protections for the payment API",
            default_action=Wafv2WebAclDefaultAction(allow=Wafv2WebAclDefaultActionAllow()),
            visibility_config=Wafv2WebAclVisibilityConfig(
                cloudwatch_metrics_enabled=True, metric_name=s.name("api-waf"),
                sampled_requests_enabled=s.waf_sampled_requests),
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
                # New groups after the existing ones, whose priorities (and metrics) stay as they were;
                # every group blocks, so the order only decides which rule a blocked request is counted
                # under. Amazon threat intelligence: IPs seen in bot traffic, scans and attacks.
                aws_managed_rules("aws-ip-reputation", 3, "AWSManagedRulesAmazonIpReputationList"),
                # Tor exits, anonymizing proxies and VPNs block (AnonymousIPList). Hosting providers
                # (HostingProviderIPList: public clouds and hosters) only count: merchants call this
                # API server to server, mostly from cloud hosts, and blocking those would block them.
                aws_managed_rules("aws-anonymous-ip", 4, "AWSManagedRulesAnonymousIpList",
                                  count_only=WAF_COUNT_ONLY_RULES),
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

    def _custom_domain(self, s: Settings) -> ApiGatewayDomainName | None:
        """The API's own name (settings api_domain_name + api_certificate_arn): regional, TLS 1.2 or
        newer, the stage mapped at its root. DNS stays outside the stack: point the name (CNAME, or a
        Route 53 alias) at the ``api-domain-target`` output."""
        if not s.api_domain_name:
            return None
        domain = ApiGatewayDomainName(
            self, "domain", domain_name=s.api_domain_name, regional_certificate_arn=s.api_certificate_arn,
            security_policy=DOMAIN_SECURITY_POLICY,
            endpoint_configuration=ApiGatewayDomainNameEndpointConfiguration(types=["REGIONAL"]),
        )
        ApiGatewayBasePathMapping(self, "domain-mapping", api_id=self.api.id, stage_name=self.stage.stage_name,
                                  domain_name=domain.domain_name)
        return domain
