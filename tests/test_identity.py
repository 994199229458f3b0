"""Identity: the merchant user pool, the `payments` resource server and the hosted token domain."""

from __future__ import annotations

import pytest

from modules.settings import SettingsError, build_settings
from tests.support import environment_env

SCOPES = {"validate", "fraud-check", "process"}


def test_user_pool_is_for_machine_clients_only(stack):
    pool = stack.one("aws_cognito_user_pool", name="payment-merchants-dev")
    assert pool["admin_create_user_config"] == {"allow_admin_create_user_only": True}
    assert pool["account_recovery_setting"]["recovery_mechanism"] == [{"name": "admin_only", "priority": 1}]
    assert pool["user_pool_add_ons"] == {"advanced_security_mode": "OFF"}
    assert pool["password_policy"]["minimum_length"] >= 14
    assert pool["password_policy"]["temporary_password_validity_days"] == 1


def test_deletion_protection_follows_the_environment(stack, prod_stack):
    assert stack.one("aws_cognito_user_pool")["deletion_protection"] == "INACTIVE"
    assert prod_stack.one("aws_cognito_user_pool")["deletion_protection"] == "ACTIVE"


def test_resource_server_offers_one_scope_per_route(stack):
    server = stack.one("aws_cognito_resource_server")
    assert server["identifier"] == "payments"
    assert server["user_pool_id"] == stack.ref("aws_cognito_user_pool", "id")
    assert {s["scope_name"] for s in server["scope"]} == SCOPES
    assert all(s["scope_description"] for s in server["scope"])


def test_stack_creates_no_app_client(stack, prod_stack):
    """App clients carry their secret in state; scripts/merchants.py creates them."""
    for synthesized in (stack, prod_stack):
        assert not synthesized.resources("aws_cognito_user_pool_client")
        assert not synthesized.resources("aws_cognito_managed_user_pool_client")


def test_domain_prefix_defaults_to_environment_and_a_hash_of_the_account(stack, prod_stack):
    domain = stack.one("aws_cognito_user_pool_domain")
    assert domain["domain"] == "payments-dev-${substr(sha256(data.aws_caller_identity.caller.account_id), 0, 10)}"
    assert domain["user_pool_id"] == stack.ref("aws_cognito_user_pool", "id")
    assert prod_stack.one("aws_cognito_user_pool_domain")["domain"].startswith("payments-prod-${")


def test_token_endpoint_and_pool_id_are_outputs_and_parameters(stack):
    domain = stack.ref("aws_cognito_user_pool_domain", "domain")
    endpoint = f"https://{domain}.auth.us-east-1.amazoncognito.com/oauth2/token"
    assert stack.json["output"]["token-endpoint"]["value"] == endpoint
    assert stack.one("aws_ssm_parameter", name="/payment/token-endpoint-dev")["value"] == endpoint
    pool_id = stack.ref("aws_cognito_user_pool", "id")
    assert stack.json["output"]["user-pool-id"]["value"] == pool_id
    assert stack.one("aws_ssm_parameter", name="/payment/user-pool-id-dev")["value"] == pool_id
    assert stack.one("aws_ssm_parameter", name="/payment/api-id-dev")["value"] == stack.ref("aws_api_gateway_rest_api", "id")


def test_no_output_or_parameter_names_a_client_secret(stack):
    values = [o["value"] for o in stack.json["output"].values()]
    values += [p["value"] for p in stack.resources("aws_ssm_parameter").values()]
    assert not [v for v in values if "secret" in str(v).lower() and "cognito" in str(v).lower()]
    assert "client_secret" not in stack.text


def test_domain_prefix_setting_is_used_as_given():
    s = build_settings({}, {"PAYMENTS_AUTH_DOMAIN_PREFIX": "acme-payments-dev"})
    assert s.auth_domain_prefix == "acme-payments-dev"


@pytest.mark.parametrize("prefix", ["Payments", "-payments", "payments-", "pay_ments", "a" * 64,
                                    "payments-aws", "amazon-pay", "mycognito"])
def test_bad_domain_prefix_is_refused(prefix):
    with pytest.raises(SettingsError, match="invalid setting auth_domain_prefix"):
        build_settings({}, {"PAYMENTS_AUTH_DOMAIN_PREFIX": prefix})


def test_environment_whose_derived_prefix_cognito_refuses_needs_a_prefix():
    with pytest.raises(SettingsError, match="auth_domain_prefix"):
        build_settings({}, {"ENVIRONMENT_SUFFIX": "awsdemo"})
    assert build_settings({}, {"ENVIRONMENT_SUFFIX": "awsdemo",
                               "PAYMENTS_AUTH_DOMAIN_PREFIX": "acme-demo"}).environment == "awsdemo"


@pytest.mark.parametrize("env, setting", [
    ({"PAYMENTS_MERCHANT_RATE_LIMIT": "101"}, "merchant_rate_limit"),
    ({"PAYMENTS_MERCHANT_RATE_LIMIT": "0"}, "merchant_rate_limit"),
    ({"PAYMENTS_MERCHANT_BURST_LIMIT": "201"}, "merchant_burst_limit"),
    ({"PAYMENTS_MERCHANT_TOKEN_MINUTES": "4"}, "merchant_token_validity_minutes"),
    ({"PAYMENTS_MERCHANT_TOKEN_MINUTES": "1441"}, "merchant_token_validity_minutes"),
])
def test_bad_merchant_defaults_are_refused(env, setting):
    with pytest.raises(SettingsError) as err:
        build_settings({}, env)
    assert err.value.setting == setting


def test_merchant_defaults_per_environment():
    dev, prod = build_settings({}, {}), build_settings({}, environment_env("prod"))
    assert (dev.merchant_rate_limit, dev.merchant_burst_limit, dev.merchant_token_validity_minutes) == (20, 40, 60)
    assert (prod.merchant_rate_limit, prod.merchant_burst_limit) == (100, 200)
