"""REST API: routes, models and validator, Cognito authorizer and scopes, stage settings, permissions, WAF."""

import json

import pytest

from modules.settings import SettingsError, build_settings
from tests.support import API_CERTIFICATE, API_DOMAIN, PROD_SETTINGS

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
    assert settings["data_trace_enabled"] is False and settings["metrics_enabled"] is True


@pytest.mark.parametrize("env_stack", ["stack", "prod_stack"])
def test_execution_logs_only_errors_so_no_validation_message_quotes_a_card_number(request, env_stack):
    """At INFO, a request-validation failure is logged with the offending value verbatim (a malformed
    card_number); ERROR records that a request failed, not what it carried."""
    settings = request.getfixturevalue(env_stack).one("aws_api_gateway_method_settings")["settings"]
    assert settings["logging_level"] == "ERROR"


def test_stage_throttling_comes_from_settings(stack):
    settings = stack.one("aws_api_gateway_method_settings")["settings"]
    assert (settings["throttling_rate_limit"], settings["throttling_burst_limit"]) == (100, 200)


def test_no_api_key_or_usage_plan_is_a_terraform_resource(stack, prod_stack):
    """Keys and plans are per merchant (scripts/merchants.py): a key Terraform creates has its value
    in state."""
    for synthesized in (stack, prod_stack):
        for rtype in ("aws_api_gateway_api_key", "aws_api_gateway_usage_plan", "aws_api_gateway_usage_plan_key"):
            assert not synthesized.resources(rtype), rtype
        assert "aws_api_gateway_api_key" not in synthesized.text


def test_authorizer_trusts_the_merchant_user_pool_bearer_tokens(stack):
    authorizer = stack.one("aws_api_gateway_authorizer")
    assert authorizer["type"] == "COGNITO_USER_POOLS"
    assert authorizer["provider_arns"] == [stack.ref("aws_cognito_user_pool", "arn", name="payment-merchants-dev")]
    assert authorizer["identity_source"] == "method.request.header.Authorization"
    assert authorizer["rest_api_id"] == stack.ref("aws_api_gateway_rest_api", "id")


@pytest.mark.parametrize("path", ROUTES)
def test_every_route_requires_an_access_token_with_exactly_its_scope(stack, path):
    method = _method(stack, path)
    assert method["authorization"] == "COGNITO_USER_POOLS"
    assert method["authorizer_id"] == stack.ref("aws_api_gateway_authorizer", "id")
    assert method["authorization_scopes"] == [f"payments/{path}"]


def test_no_method_is_open(stack):
    methods = stack.resources("aws_api_gateway_method").values()
    assert len(methods) == len(ROUTES)
    assert {m["authorization"] for m in methods} == {"COGNITO_USER_POOLS"}


def test_a_change_of_scope_or_authorizer_redeploys_the_stage(stack):
    deployment = stack.one("aws_api_gateway_deployment")
    authorizer = stack.ref("aws_api_gateway_authorizer", "id")
    pool = stack.ref("aws_cognito_user_pool", "arn")
    assert deployment["triggers"]["authorizer"] == f"{authorizer} {pool}"
    assert authorizer.removesuffix(".id}").removeprefix("${") in deployment["depends_on"]


def test_redeployment_hash_covers_the_route_scopes(stack):
    """The synthesized trigger is the hash over the schema, routes, scopes and authorizer settings,
    so changing any route's scope gives a new deployment."""
    import hashlib
    from modules import api
    schema = json.dumps(api.payment_request_schema(), sort_keys=True)

    def trigger(scopes):
        return hashlib.sha256((schema + json.dumps([api.ROUTES, scopes, api.AUTHORIZER], sort_keys=True))
                              .encode()).hexdigest()
    scopes = {p: f"payments/{p}" for p in ROUTES}
    assert stack.one("aws_api_gateway_deployment")["triggers"]["redeployment"] == trigger(scopes)
    assert trigger(scopes) != trigger({**scopes, "process": "payments/validate"})


def test_access_log_records_the_merchant_client_id(stack):
    stage = stack.one("aws_api_gateway_stage")
    assert json.loads(stage["access_log_settings"]["format"])["clientId"] == "$context.authorizer.claims.client_id"


@pytest.mark.parametrize("env_stack", ["staging_stack", "prod_stack"])
def test_waf_logs_redact_the_api_key_the_bearer_token_and_the_idempotency_key(request, env_stack):
    logging = request.getfixturevalue(env_stack).one("aws_wafv2_web_acl_logging_configuration")
    assert {f["single_header"]["name"] for f in logging["redacted_fields"]} == {
        "x-api-key", "authorization", "idempotency-key"}


def _sampled(acl):
    return {acl["visibility_config"]["sampled_requests_enabled"],
            *(rule["visibility_config"]["sampled_requests_enabled"] for rule in acl["rule"])}


def test_prod_keeps_no_sampled_requests_the_waf_log_is_enough(prod_stack, staging_stack):
    """Sampled requests show every header verbatim, the redacted ones included
    (wafv2:GetSampledRequests): production has none, on the web ACL or any rule; staging keeps them."""
    assert _sampled(prod_stack.one("aws_wafv2_web_acl")) == {False}
    assert _sampled(staging_stack.one("aws_wafv2_web_acl")) == {True}


def test_no_environment_owns_the_regions_api_gateway_logging_setting(stack, prod_stack, account_stack):
    """aws_api_gateway_account is one per account and region: destroying an environment that owned
    it deleted the role every API of the region logs with. The account stack owns it."""
    for environment in (stack, prod_stack):
        assert not environment.resources("aws_api_gateway_account")
        assert not [r for r in environment.resources("aws_iam_role").values() if "apigw-cloudwatch" in r["name"]]
    account = account_stack.one("aws_api_gateway_account")
    assert account["cloudwatch_role_arn"] == account_stack.ref(
        "aws_iam_role", "arn", name="payment-apigw-cloudwatch-us-east-1")
    role = account_stack.one("aws_iam_role", name="payment-apigw-cloudwatch-us-east-1")
    (trust,) = account_stack.policy(role, "assume_role_policy")["Statement"]
    assert trust["Principal"] == {"Service": "apigateway.amazonaws.com"}


def test_waf_rate_limits_per_ip_and_uses_the_aws_common_rule_set(staging_stack):
    acl = staging_stack.one("aws_wafv2_web_acl")
    rules = {r["name"]: r for r in acl["rule"]}
    assert rules["per-ip-rate-limit"]["statement"]["rate_based_statement"] == {"limit": 2000, "aggregate_key_type": "IP"}
    assert rules["aws-common-rule-set"]["statement"]["managed_rule_group_statement"]["name"] == "AWSManagedRulesCommonRuleSet"
    assert acl["scope"] == "REGIONAL"


def _waf_rules(stack):
    return {r["name"]: r for r in stack.one("aws_wafv2_web_acl")["rule"]}


def test_waf_blocks_amazon_ip_reputation_list(staging_stack):
    rule = _waf_rules(staging_stack)["aws-ip-reputation"]
    assert rule["statement"]["managed_rule_group_statement"] == {
        "name": "AWSManagedRulesAmazonIpReputationList", "vendor_name": "AWS"}
    assert rule["override_action"] == {"none": {}}  # the group's own block actions apply


def test_waf_blocks_anonymous_ips_but_only_counts_hosting_providers(staging_stack):
    # Merchants call the API server to server from cloud hosts: HostingProviderIPList must not block.
    group = _waf_rules(staging_stack)["aws-anonymous-ip"]["statement"]["managed_rule_group_statement"]
    assert group["name"] == "AWSManagedRulesAnonymousIpList"
    assert group["rule_action_override"] == [{"name": "HostingProviderIPList", "action_to_use": {"count": {}}}]
    assert _waf_rules(staging_stack)["aws-anonymous-ip"]["override_action"] == {"none": {}}


def test_waf_rule_priorities_are_unique_and_existing_rules_keep_theirs(staging_stack):
    rules = _waf_rules(staging_stack)
    assert {n: r["priority"] for n, r in rules.items()} == {
        "per-ip-rate-limit": 0, "aws-common-rule-set": 1, "aws-known-bad-inputs": 2,
        "aws-ip-reputation": 3, "aws-anonymous-ip": 4}


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


# Custom domain: production has one (it must, see below); dev has none.
DOMAIN, CERTIFICATE = API_DOMAIN, API_CERTIFICATE


def test_without_a_domain_there_is_only_the_default_endpoint(stack):
    assert not stack.resources("aws_api_gateway_domain_name")
    assert not stack.resources("aws_api_gateway_base_path_mapping")
    assert "disable_execute_api_endpoint" not in stack.one("aws_api_gateway_rest_api")
    assert "api-domain-target" not in stack.json["output"]


def test_custom_domain_is_regional_with_tls_1_2_and_the_settings_certificate(prod_stack):
    domain = prod_stack.one("aws_api_gateway_domain_name")
    assert domain["domain_name"] == DOMAIN and domain["regional_certificate_arn"] == CERTIFICATE
    assert domain["security_policy"] == "TLS_1_2"
    assert domain["endpoint_configuration"] == {"types": ["REGIONAL"]}


def test_custom_domain_maps_the_stage_and_disables_the_execute_api_endpoint(prod_stack):
    mapping = prod_stack.one("aws_api_gateway_base_path_mapping")
    assert mapping["api_id"] == prod_stack.ref("aws_api_gateway_rest_api", "id")
    assert mapping["stage_name"] == prod_stack.ref("aws_api_gateway_stage", "stage_name")
    assert mapping["domain_name"] == prod_stack.ref("aws_api_gateway_domain_name", "domain_name")
    assert "base_path" not in mapping  # the stage at the root: https://<domain>/process
    assert prod_stack.one("aws_api_gateway_rest_api")["disable_execute_api_endpoint"] is True


def test_custom_domain_outputs_its_dns_target_and_is_the_api_url(prod_stack):
    outputs = prod_stack.json["output"]
    assert outputs["api-domain-target"]["value"] == prod_stack.ref(
        "aws_api_gateway_domain_name", "regional_domain_name")
    assert outputs["api-domain-zone-id"]["value"] == prod_stack.ref(
        "aws_api_gateway_domain_name", "regional_zone_id")
    assert outputs["api-url"]["value"] == f"https://{DOMAIN}/"


@pytest.mark.parametrize("env, setting", [
    ({"PAYMENTS_API_DOMAIN_NAME": DOMAIN}, "api_certificate_arn"),
    ({"PAYMENTS_API_CERTIFICATE_ARN": CERTIFICATE}, "api_domain_name"),
    ({"PAYMENTS_API_DOMAIN_NAME": "Api_Payments", "PAYMENTS_API_CERTIFICATE_ARN": CERTIFICATE}, "api_domain_name"),
    ({"PAYMENTS_API_DOMAIN_NAME": DOMAIN, "PAYMENTS_API_CERTIFICATE_ARN": "arn:aws:iam::123456789012:role/x"},
     "api_certificate_arn"),
    ({"PAYMENTS_API_DOMAIN_NAME": DOMAIN,
      "PAYMENTS_API_CERTIFICATE_ARN": CERTIFICATE.replace("us-east-1", "eu-west-1")}, "api_certificate_arn"),
])
def test_custom_domain_settings_are_both_or_neither_and_valid(env, setting):
    with pytest.raises(SettingsError) as err:
        build_settings({}, env)
    assert err.value.setting == setting


def test_production_refuses_to_serve_without_its_custom_domain():
    """The default execute-api endpoint accepts TLS 1.0/1.1: production without a domain (TLS 1.2,
    default endpoint disabled) is a settings error that says what to set."""
    with pytest.raises(SettingsError) as err:
        build_settings({}, {"ENVIRONMENT_SUFFIX": "prod"})
    assert err.value.setting == "api_domain_name"
    assert "TLS 1.2" in str(err) and "PAYMENTS_API_DOMAIN_NAME" in str(err) and "PAYMENTS_API_CERTIFICATE_ARN" in str(err)
    prod = build_settings({}, {"ENVIRONMENT_SUFFIX": "prod", **PROD_SETTINGS})
    assert (prod.api_domain_name, prod.api_certificate_arn) == (API_DOMAIN, API_CERTIFICATE)
    for other in ("dev", "staging", "pr42"):  # they may serve on the stage URL
        assert build_settings({}, {"ENVIRONMENT_SUFFIX": other}).api_domain_name == ""


def test_production_refuses_sampled_requests():
    with pytest.raises(SettingsError) as err:
        build_settings({}, {"ENVIRONMENT_SUFFIX": "prod", **PROD_SETTINGS, "PAYMENTS_WAF_SAMPLED_REQUESTS": "true"})
    assert err.value.setting == "waf_sampled_requests"
    assert build_settings({}, {"ENVIRONMENT_SUFFIX": "staging",
                               "PAYMENTS_WAF_SAMPLED_REQUESTS": "false"}).waf_sampled_requests is False


def test_stack_with_custom_domain_passes_terraform_validate(prod_stack):
    from scripts import terraform
    workdir = prod_stack.path.parent
    terraform.run(workdir, ["init", "-backend=false", "-input=false", "-no-color"])
    result = json.loads(terraform.run(workdir, ["validate", "-no-color", "-json"]).stdout)
    assert result["valid"] is True, result["diagnostics"]
