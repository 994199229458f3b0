"""PaymentApi: REST API with three POST routes on the functions' live aliases, each behind the merchant
Cognito authorizer with its own scope and the merchant's API key; optional WAF and custom domain."""

import json
from types import SimpleNamespace

import pytest
from cdktf import Testing
from cdktf_cdktf_provider_aws.api_gateway_authorizer import ApiGatewayAuthorizer
from cdktf_cdktf_provider_aws.api_gateway_base_path_mapping import ApiGatewayBasePathMapping
from cdktf_cdktf_provider_aws.api_gateway_domain_name import ApiGatewayDomainName
from cdktf_cdktf_provider_aws.api_gateway_method import ApiGatewayMethod
from cdktf_cdktf_provider_aws.api_gateway_method_settings import ApiGatewayMethodSettings
from cdktf_cdktf_provider_aws.api_gateway_rest_api import ApiGatewayRestApi
from cdktf_cdktf_provider_aws.api_gateway_stage import ApiGatewayStage
from cdktf_cdktf_provider_aws.lambda_permission import LambdaPermission
from cdktf_cdktf_provider_aws.wafv2_web_acl import Wafv2WebAcl
from cdktf_cdktf_provider_aws.wafv2_web_acl_association import Wafv2WebAclAssociation
from cdktf_cdktf_provider_aws.wafv2_web_acl_logging_configuration import Wafv2WebAclLoggingConfiguration

from modules.api import ApiProps, MerchantAuth, PaymentApi
from modules.compute import ComputeProps, PaymentFunctions
from modules.data import TablesProps, TransactionTables
from modules.identity import IdentityProps, MerchantIdentity
from tests.constructs.conftest import ACCOUNT, KEY_ARN, Scoped, scoped, settings_for

CERTIFICATE_ARN = f"arn:aws:acm:us-east-1:{ACCOUNT}:certificate/11111111-2222-3333-4444-555555555555"


def build_api(settings):
    """The API as the payment stack wires it: functions, the merchant identity, the API."""
    def build(scope):
        tables = TransactionTables(scope, "dynamodb", TablesProps(settings, KEY_ARN))
        functions = PaymentFunctions(scope, "lambda", ComputeProps(
            settings, KEY_ARN, tables, f"arn:aws:kms:us-east-1:{ACCOUNT}:key/fp", "arn:aws:s3:::audit", "audit",
            None, "aws", ACCOUNT, f"arn:aws:dynamodb:us-east-1:{ACCOUNT}:table/payment-merchant-registry-dev",
            "payment-merchant-registry-dev"))
        identity = MerchantIdentity(scope, "identity", IdentityProps(settings, ACCOUNT))
        api = PaymentApi(scope, "api", ApiProps(settings, KEY_ARN, functions.functions,
                                                MerchantAuth(identity.user_pool_arn, identity.scopes)))
        return SimpleNamespace(functions=functions.functions, identity=identity, api=api)
    return scoped(build)


@pytest.fixture(scope="module")
def api(dev) -> Scoped:
    return build_api(dev)


def test_api_is_regional_and_traced(api):
    assert Testing.to_have_resource_with_properties(api.synthesized, ApiGatewayRestApi.TF_RESOURCE_TYPE, {
        "name": "payment-api-dev", "endpoint_configuration": {"types": ["REGIONAL"]}})
    assert Testing.to_have_resource_with_properties(api.synthesized, ApiGatewayStage.TF_RESOURCE_TYPE, {
        "stage_name": "prod", "xray_tracing_enabled": True})


def test_authorizer_trusts_the_merchant_user_pool(api):
    assert Testing.to_have_resource_with_properties(api.synthesized, ApiGatewayAuthorizer.TF_RESOURCE_TYPE, {
        "type": "COGNITO_USER_POOLS", "identity_source": "method.request.header.Authorization",
        "provider_arns": [api.ref(api.construct.identity.user_pool_arn)]})


def test_every_route_needs_a_token_with_its_scope_the_api_key_and_a_valid_body(api):
    assert set(api.construct.api.methods) == {"validate", "fraud-check", "process"}
    authorizer_id = api.ref(api.construct.api.authorizer.id)
    assert Testing.to_have_resource_with_properties(api.synthesized, ApiGatewayMethod.TF_RESOURCE_TYPE, {
        "http_method": "POST", "authorization": "COGNITO_USER_POOLS", "authorizer_id": authorizer_id,
        "authorization_scopes": ["payments/process"], "api_key_required": True,
        "request_parameters": {"method.request.header.Idempotency-Key": True}})
    methods = api.resources(ApiGatewayMethod.TF_RESOURCE_TYPE).values()  # "every": no matcher for it
    assert sorted(scope for m in methods for scope in m["authorization_scopes"]) == \
        ["payments/fraud-check", "payments/process", "payments/validate"]
    assert all(m["authorization"] == "COGNITO_USER_POOLS" and m["authorizer_id"] == authorizer_id
               and m["api_key_required"] and m["request_validator_id"] for m in methods)


def test_route_scopes_must_cover_every_route(dev):
    with pytest.raises(ValueError, match="route_scopes must name every route"):
        scoped(lambda scope: PaymentApi(scope, "api", ApiProps(
            dev, KEY_ARN, {}, MerchantAuth("arn:aws:cognito-idp:us-east-1:123456789012:userpool/x",
                                           {"validate": "payments/validate"}))))


def test_request_bodies_never_reach_the_logs(api):
    assert Testing.to_have_resource_with_properties(api.synthesized, ApiGatewayMethodSettings.TF_RESOURCE_TYPE, {
        "method_path": "*/*", "settings": {"data_trace_enabled": False, "metrics_enabled": True,
                                           "throttling_rate_limit": 100, "throttling_burst_limit": 200}})


def test_api_gateway_may_invoke_only_the_live_alias(api):
    process = api.construct.functions["process"]
    assert Testing.to_have_resource_with_properties(api.synthesized, LambdaPermission.TF_RESOURCE_TYPE, {
        "function_name": api.ref(process.function.function_name), "qualifier": api.ref(process.alias.name),
        "principal": "apigateway.amazonaws.com", "action": "lambda:InvokeFunction",
        "source_arn": f"{api.ref(api.construct.api.api.execution_arn)}/prod/POST/process"})


def test_dev_has_no_waf_or_usage_plan_and_serves_on_the_stage_url(api):
    # No Terraform usage plan or API key: scripts/merchants.py gives each merchant its own.
    for rtype in ("aws_api_gateway_usage_plan", "aws_api_gateway_api_key", Wafv2WebAcl.TF_RESOURCE_TYPE):
        assert not Testing.to_have_resource(api.synthesized, rtype)
    assert api.construct.api.web_acl is None and api.construct.api.domain is None
    assert api.ref(api.construct.api.url).endswith(".invoke_url}")


def test_waf_on_the_stage_when_enabled_logs_without_credentials():
    waf = build_api(settings_for("dev", waf_enabled=True))
    assert Testing.to_have_resource_with_properties(waf.synthesized, Wafv2WebAcl.TF_RESOURCE_TYPE, {
        "name": "payment-api-waf-dev", "scope": "REGIONAL"})
    assert Testing.to_have_resource_with_properties(waf.synthesized, Wafv2WebAclAssociation.TF_RESOURCE_TYPE, {
        "resource_arn": waf.ref(waf.construct.api.stage.arn)})
    (acl,) = waf.resources(Wafv2WebAcl.TF_RESOURCE_TYPE).values()
    assert [r["name"] for r in acl["rule"]] == ["per-ip-rate-limit", "aws-common-rule-set", "aws-known-bad-inputs",
                                                "aws-ip-reputation", "aws-anonymous-ip"]
    (logging,) = waf.resources(Wafv2WebAclLoggingConfiguration.TF_RESOURCE_TYPE).values()
    assert json.dumps(logging["redacted_fields"], sort_keys=True) == json.dumps(
        [{"single_header": {"name": "x-api-key"}}, {"single_header": {"name": "authorization"}},
         {"single_header": {"name": "idempotency-key"}}], sort_keys=True)


def test_custom_domain_is_tls12_and_becomes_the_url():
    domain = build_api(settings_for("dev", api_domain_name="api.payments.example.com",
                                    api_certificate_arn=CERTIFICATE_ARN))
    assert Testing.to_have_resource_with_properties(domain.synthesized, ApiGatewayDomainName.TF_RESOURCE_TYPE, {
        "domain_name": "api.payments.example.com", "regional_certificate_arn": CERTIFICATE_ARN,
        "security_policy": "TLS_1_2", "endpoint_configuration": {"types": ["REGIONAL"]}})
    assert Testing.to_have_resource(domain.synthesized, ApiGatewayBasePathMapping.TF_RESOURCE_TYPE)
    # The default execute-api endpoint (TLS 1.0+) is switched off.
    assert Testing.to_have_resource_with_properties(domain.synthesized, ApiGatewayRestApi.TF_RESOURCE_TYPE, {
        "disable_execute_api_endpoint": True})
    assert domain.construct.api.url == "https://api.payments.example.com/"
