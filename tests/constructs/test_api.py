"""PaymentApi: REST API with three POST routes on the functions' live aliases, usage plan, WAF."""

from types import SimpleNamespace

import pytest
from cdktf import Testing
from cdktf_cdktf_provider_aws.api_gateway_method import ApiGatewayMethod
from cdktf_cdktf_provider_aws.api_gateway_method_settings import ApiGatewayMethodSettings
from cdktf_cdktf_provider_aws.api_gateway_rest_api import ApiGatewayRestApi
from cdktf_cdktf_provider_aws.api_gateway_stage import ApiGatewayStage
from cdktf_cdktf_provider_aws.api_gateway_usage_plan import ApiGatewayUsagePlan
from cdktf_cdktf_provider_aws.lambda_permission import LambdaPermission
from cdktf_cdktf_provider_aws.wafv2_web_acl import Wafv2WebAcl
from cdktf_cdktf_provider_aws.wafv2_web_acl_association import Wafv2WebAclAssociation

from modules.api import ApiProps, PaymentApi
from modules.compute import ComputeProps, PaymentFunctions
from modules.data import TablesProps, TransactionTables
from tests.constructs.conftest import KEY_ARN, Scoped, scoped


@pytest.fixture(scope="module")
def api(dev) -> Scoped:
    def build(scope):
        tables = TransactionTables(scope, "dynamodb", TablesProps(dev, KEY_ARN))
        functions = PaymentFunctions(scope, "lambda", ComputeProps(
            dev, KEY_ARN, tables, "arn:aws:kms:us-east-1:123456789012:key/fp", "arn:aws:s3:::audit", "audit",
            ["subnet-private-a"], "sg-lambda", "aws"))
        return SimpleNamespace(functions=functions.functions,
                               api=PaymentApi(scope, "api", ApiProps(dev, KEY_ARN, functions.functions)))
    return scoped(build)


def test_api_is_regional_and_traced(api):
    assert Testing.to_have_resource_with_properties(api.synthesized, ApiGatewayRestApi.TF_RESOURCE_TYPE, {
        "name": "payment-api-dev", "endpoint_configuration": {"types": ["REGIONAL"]}})
    assert Testing.to_have_resource_with_properties(api.synthesized, ApiGatewayStage.TF_RESOURCE_TYPE, {
        "stage_name": "prod", "xray_tracing_enabled": True})


def test_every_route_is_a_keyed_validated_post(api):
    assert set(api.construct.api.methods) == {"validate", "fraud-check", "process"}
    assert Testing.to_have_resource_with_properties(api.synthesized, ApiGatewayMethod.TF_RESOURCE_TYPE, {
        "http_method": "POST", "api_key_required": True, "authorization": "NONE",
        "request_parameters": {"method.request.header.Idempotency-Key": True}})
    methods = api.resources(ApiGatewayMethod.TF_RESOURCE_TYPE).values()  # "every": no matcher for it
    assert len(methods) == 3 and all(m["api_key_required"] and m["request_validator_id"] for m in methods)


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


def test_usage_plan_quota_and_waf_on_the_stage(api):
    assert Testing.to_have_resource_with_properties(api.synthesized, ApiGatewayUsagePlan.TF_RESOURCE_TYPE, {
        "quota_settings": {"limit": 100000, "period": "DAY"}})
    assert Testing.to_have_resource_with_properties(api.synthesized, Wafv2WebAcl.TF_RESOURCE_TYPE, {
        "name": "payment-api-waf-dev", "scope": "REGIONAL"})
    assert Testing.to_have_resource_with_properties(api.synthesized, Wafv2WebAclAssociation.TF_RESOURCE_TYPE, {
        "resource_arn": api.ref(api.construct.api.stage.arn)})
    assert api.ref(api.construct.api.url).endswith(".invoke_url}")
