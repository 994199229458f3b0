"""REST API: routes, models and validator, API key, stage settings, permissions, WAF."""

import json

import pytest

ROUTES = ("validate", "fraud-check", "process")


def _method(stack, path):
    resource = stack.ref("aws_api_gateway_resource", "id", path_part=path)
    return stack.one("aws_api_gateway_method", resource_id=resource)


@pytest.mark.parametrize("path", ROUTES)
def test_every_route_is_post_and_requires_an_api_key(stack, path):
    method = _method(stack, path)
    assert method["http_method"] == "POST" and method["api_key_required"] is True


@pytest.mark.parametrize("path, model", [("validate", "ValidateRequest"), ("fraud-check", "FraudCheckRequest"),
                                         ("process", "ProcessRequest")])
def test_every_route_validates_its_body_against_its_own_model(stack, path, model):
    method = _method(stack, path)
    assert method["request_validator_id"] == stack.ref("aws_api_gateway_request_validator", "id")
    assert method["request_models"] == {"application/json": stack.ref("aws_api_gateway_model", "name", name=model)}
    validator = stack.one("aws_api_gateway_request_validator")
    assert validator["validate_request_body"] and validator["validate_request_parameters"]


@pytest.mark.parametrize("model", ["ValidateRequest", "FraudCheckRequest", "ProcessRequest"])
def test_model_requires_every_payment_field(stack, model):
    schema = json.loads(stack.one("aws_api_gateway_model", name=model)["schema"])
    assert set(schema["required"]) == {"customer_id", "amount", "currency", "card_number"}
    assert schema["$schema"].startswith("http://json-schema.org/draft-04/")
    assert schema["additionalProperties"] is False


def test_process_requires_the_idempotency_key_header(stack):
    assert _method(stack, "process")["request_parameters"] == {"method.request.header.Idempotency-Key": True}


@pytest.mark.parametrize("path", ROUTES)
def test_integration_is_lambda_proxy_to_the_live_alias(stack, path):
    resource = stack.ref("aws_api_gateway_resource", "id", path_part=path)
    integration = stack.one("aws_api_gateway_integration", resource_id=resource)
    assert integration["type"] == "AWS_PROXY" and integration["integration_http_method"] == "POST"
    assert integration["uri"].startswith("${aws_lambda_alias.") and integration["uri"].endswith(".invoke_arn}")


@pytest.mark.parametrize("path", ROUTES)
def test_lambda_permission_is_scoped_to_the_method_execution_arn(stack, path):
    api = stack.ref("aws_api_gateway_rest_api", "execution_arn")
    [permission] = [p for p in stack.resources("aws_lambda_permission").values()
                    if p["source_arn"] == f"{api}/prod/POST/{path}"]
    assert permission["principal"] == "apigateway.amazonaws.com"
    assert permission["qualifier"].startswith("${aws_lambda_alias.") and permission["qualifier"].endswith(".name}")


def test_stage_has_xray_and_json_access_logs_to_an_encrypted_group(stack):
    stage = stack.one("aws_api_gateway_stage")
    assert stage["stage_name"] == "prod" and stage["xray_tracing_enabled"] is True
    assert json.loads(stage["access_log_settings"]["format"])["requestId"] == "$context.requestId"
    group = stack.one("aws_cloudwatch_log_group", name="/aws/apigateway/payment-api-dev/access")
    assert group["kms_key_id"].startswith("${aws_kms_key.")


def test_stage_never_traces_request_data(stack):
    settings = stack.one("aws_api_gateway_method_settings")["settings"]
    assert settings["data_trace_enabled"] is False
    assert settings["metrics_enabled"] is True and settings["logging_level"] == "INFO"


def test_stage_throttling_comes_from_settings(stack):
    settings = stack.one("aws_api_gateway_method_settings")["settings"]
    assert (settings["throttling_rate_limit"], settings["throttling_burst_limit"]) == (100, 200)


def test_usage_plan_binds_the_key_to_the_stage_with_quota(stack):
    plan = stack.one("aws_api_gateway_usage_plan")
    assert plan["quota_settings"] == {"limit": 100000, "period": "DAY"}
    assert plan["api_stages"][0]["stage"].endswith(".stage_name}")
    key = stack.one("aws_api_gateway_usage_plan_key")
    assert key["key_id"] == stack.ref("aws_api_gateway_api_key", "id")


def test_api_key_value_is_not_an_output(stack):
    assert not any("aws_api_gateway_api_key" in o["value"] for o in stack.json["output"].values())


def test_account_cloudwatch_role_is_set(stack):
    account = stack.one("aws_api_gateway_account")
    assert account["cloudwatch_role_arn"] == stack.ref("aws_iam_role", "arn", name="payment-apigw-cloudwatch-dev")


def test_waf_rate_limits_per_ip_and_uses_the_aws_common_rule_set(staging_stack):
    acl = staging_stack.one("aws_wafv2_web_acl")
    rules = {r["name"]: r for r in acl["rule"]}
    assert rules["per-ip-rate-limit"]["statement"]["rate_based_statement"] == {"limit": 2000, "aggregate_key_type": "IP"}
    assert rules["aws-common-rule-set"]["statement"]["managed_rule_group_statement"]["name"] == "AWSManagedRulesCommonRuleSet"
    assert acl["scope"] == "REGIONAL"


def test_waf_is_associated_with_the_stage(staging_stack):
    assoc = staging_stack.one("aws_wafv2_web_acl_association")
    assert assoc["resource_arn"] == staging_stack.ref("aws_api_gateway_stage", "arn")


def test_waf_is_a_setting_off_in_dev_and_on_in_prod(stack, prod_stack):
    """settings.waf_enabled: dev and previews save the web ACL's $8 a month; production always has it."""
    for rtype in ("aws_wafv2_web_acl", "aws_wafv2_web_acl_association", "aws_wafv2_web_acl_logging_configuration"):
        assert not stack.resources(rtype) and len(prod_stack.resources(rtype)) == 1
    assert not [g for g in stack.resources("aws_cloudwatch_log_group").values() if g["name"].startswith("aws-waf-logs-")]


def test_api_url_is_an_output_and_an_ssm_parameter(stack):
    assert stack.json["output"]["api-url"]["value"] == stack.ref("aws_api_gateway_stage", "invoke_url")
    assert stack.one("aws_ssm_parameter", name="/payment/api-url-dev")["value"].endswith(".invoke_url}")
