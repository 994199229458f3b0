"""MerchantIdentity: the merchants' Cognito user pool (machine clients only), the `payments` resource
server with one scope per route, and the hosted domain of the token endpoint. The app clients
themselves are made by scripts/merchants.py (their secrets never enter Terraform state)."""

import pytest
from cdktf import Testing
from cdktf_cdktf_provider_aws.cognito_resource_server import CognitoResourceServer
from cdktf_cdktf_provider_aws.cognito_user_pool import CognitoUserPool
from cdktf_cdktf_provider_aws.cognito_user_pool_client import CognitoUserPoolClient
from cdktf_cdktf_provider_aws.cognito_user_pool_domain import CognitoUserPoolDomain

from modules.identity import IdentityProps, MerchantIdentity
from tests.constructs.conftest import ACCOUNT, Scoped, scoped, settings_for


@pytest.fixture(scope="module")
def identity(dev) -> Scoped:
    return scoped(lambda scope: MerchantIdentity(scope, "identity", IdentityProps(dev, ACCOUNT)))


def test_pool_admits_no_self_sign_up_and_no_client_secrets_in_state(identity):
    assert Testing.to_have_resource_with_properties(identity.synthesized, CognitoUserPool.TF_RESOURCE_TYPE, {
        "name": "payment-merchants-dev",
        "admin_create_user_config": {"allow_admin_create_user_only": True},
        "account_recovery_setting": {"recovery_mechanism": [{"name": "admin_only", "priority": 1}]},
        "password_policy": {"minimum_length": 14, "temporary_password_validity_days": 1},
        "deletion_protection": "INACTIVE"})
    assert not Testing.to_have_resource(identity.synthesized, CognitoUserPoolClient.TF_RESOURCE_TYPE)


def test_one_scope_per_route_and_the_api_gets_their_full_names(identity):
    assert Testing.to_have_resource_with_properties(
        identity.synthesized, CognitoResourceServer.TF_RESOURCE_TYPE, {
            "identifier": "payments", "user_pool_id": identity.ref(identity.construct.user_pool_id)})
    (server,) = identity.resources(CognitoResourceServer.TF_RESOURCE_TYPE).values()
    assert [s["scope_name"] for s in server["scope"]] == ["validate", "fraud-check", "process"]
    # What PaymentApi's MerchantAuth.route_scopes takes.
    assert identity.construct.scopes == {"validate": "payments/validate", "fraud-check": "payments/fraud-check",
                                         "process": "payments/process"}


def test_domain_prefix_hashes_the_account_and_the_token_endpoint_is_typed(identity):
    (domain,) = identity.resources(CognitoUserPoolDomain.TF_RESOURCE_TYPE).values()
    assert domain["domain"] == f'payments-dev-${{substr(sha256("{ACCOUNT}"), 0, 10)}}'
    assert ACCOUNT not in domain["domain"].replace(f'sha256("{ACCOUNT}")', "")  # the id is not published
    assert identity.ref(identity.construct.token_endpoint).endswith(
        ".domain}.auth.us-east-1.amazoncognito.com/oauth2/token")
    assert identity.ref(identity.construct.user_pool_arn).endswith(".arn}")


def test_production_pool_is_deletion_protected_and_a_fixed_prefix_wins():
    built = scoped(lambda scope: MerchantIdentity(scope, "identity", IdentityProps(
        settings_for("dev", deletion_protection=True, auth_domain_prefix="acme-payments"), ACCOUNT)))
    assert Testing.to_have_resource_with_properties(built.synthesized, CognitoUserPool.TF_RESOURCE_TYPE, {
        "deletion_protection": "ACTIVE"})
    assert Testing.to_have_resource_with_properties(built.synthesized, CognitoUserPoolDomain.TF_RESOURCE_TYPE, {
        "domain": "acme-payments"})
