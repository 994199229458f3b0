"""Identity: who may call the payment API. A Cognito user pool that holds one OAuth2 app client per
merchant (machine clients only), the `payments` resource server with one scope per route, and the
hosted domain whose token endpoint issues access tokens for the client-credentials grant.

Merchant app clients are not Terraform resources: Cognito returns a client's secret on create, and
anything Terraform creates lands in state. `scripts/merchants.py` creates and removes them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping

from cdktf import Fn
from constructs import Construct
from cdktf_cdktf_provider_aws.cognito_resource_server import CognitoResourceServer, CognitoResourceServerScope
from cdktf_cdktf_provider_aws.cognito_user_pool import (
    CognitoUserPool, CognitoUserPoolAccountRecoverySetting,
    CognitoUserPoolAccountRecoverySettingRecoveryMechanism, CognitoUserPoolAdminCreateUserConfig,
    CognitoUserPoolPasswordPolicy, CognitoUserPoolUserPoolAddOns,
)
from cdktf_cdktf_provider_aws.cognito_user_pool_domain import CognitoUserPoolDomain

from modules.settings import Settings

RESOURCE_SERVER = "payments"
# Scope name -> what it allows. A merchant's app client is granted some of them; each route of the
# API requires its own (modules/api.py), so a client allowed only `validate` cannot store payments.
SCOPES: Mapping[str, str] = {
    "validate": "POST /validate: check a payment request",
    "fraud-check": "POST /fraud-check: score a payment against the merchant's history",
    "process": "POST /process: store a payment",
}
DOMAIN_HASH_LENGTH = 10


def full_scope(name: str) -> str:
    """The scope string in tokens and in API Gateway: ``payments/<name>``."""
    return f"{RESOURCE_SERVER}/{name}"


@dataclass(frozen=True)
class IdentityProps:
    settings: Settings
    # The default domain prefix carries a hash of it (unique per account, without publishing the id).
    account_id: str


class MerchantIdentity(Construct):
    """User pool `payment-merchants-<env>`, resource server `payments`, hosted token domain."""

    def __init__(self, scope: Construct, id: str, props: IdentityProps):
        super().__init__(scope, id)
        s = props.settings
        self.user_pool = CognitoUserPool(
            self, "pool", name=s.name("merchants"),
            # Machine clients only: nobody signs up, and there are no users to recover.
            admin_create_user_config=CognitoUserPoolAdminCreateUserConfig(allow_admin_create_user_only=True),
            account_recovery_setting=CognitoUserPoolAccountRecoverySetting(recovery_mechanism=[
                CognitoUserPoolAccountRecoverySettingRecoveryMechanism(name="admin_only", priority=1)]),
            # Holds no users; should an operator ever create one, it gets a strong, short-lived start.
            password_policy=CognitoUserPoolPasswordPolicy(
                minimum_length=14, require_lowercase=True, require_uppercase=True, require_numbers=True,
                require_symbols=True, temporary_password_validity_days=1),
            # Threat protection scores user sign-ins; client-credentials grants have no user to score.
            user_pool_add_ons=CognitoUserPoolUserPoolAddOns(advanced_security_mode="OFF"),
            # Deleting the pool deletes every merchant's credentials at once.
            deletion_protection="ACTIVE" if s.deletion_protection else "INACTIVE",
        )
        self.resource_server = CognitoResourceServer(
            self, "payments", user_pool_id=self.user_pool.id, identifier=RESOURCE_SERVER,
            name="Payments API",
            scope=[CognitoResourceServerScope(scope_name=name, scope_description=text)
                   for name, text in SCOPES.items()],
        )
        prefix = s.auth_domain_prefix or (
            f"payments-{s.environment}-"
            f"{Fn.substr(Fn.sha256(props.account_id), 0, DOMAIN_HASH_LENGTH)}")
        self.domain = CognitoUserPoolDomain(self, "domain", domain=prefix, user_pool_id=self.user_pool.id)
        self.user_pool_id = self.user_pool.id
        self.user_pool_arn = self.user_pool.arn
        self.scopes = {name: full_scope(name) for name in SCOPES}
        self.token_endpoint = (f"https://{self.domain.domain}.auth.{s.region}.amazoncognito.com"
                               "/oauth2/token")
