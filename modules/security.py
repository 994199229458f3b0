"""Security: the platform's customer-managed KMS key, its alias and its key policy.

The key policy names every AWS service that encrypts with the key on the platform's behalf, each
scoped to this account and region. CloudWatch alarms are among them: without that statement an alarm
cannot publish to the KMS-encrypted alert topic (the seed's defect: none of its alarms could page).
"""

from __future__ import annotations

from dataclasses import dataclass

from constructs import Construct
from cdktf_cdktf_provider_aws.kms_alias import KmsAlias
from cdktf_cdktf_provider_aws.kms_key import KmsKey

from modules.iam import Statement, policy_document
from modules.settings import Settings

ENCRYPT_ACTIONS = ("kms:Encrypt*", "kms:Decrypt*", "kms:ReEncrypt*", "kms:GenerateDataKey*", "kms:Describe*")
PUBLISH_ACTIONS = ("kms:Decrypt", "kms:GenerateDataKey*")


@dataclass(frozen=True)
class KeyProps:
    settings: Settings
    account_id: str
    partition: str = "aws"


def platform_key_policy(account_id: str, region: str, partition: str = "aws",
                        event_rules_publish: bool = False) -> str:
    """Key policy: account administration, plus the services that use the key for us."""
    account_arn = f"arn:{partition}:iam::{account_id}:root"
    event_rules = [Statement(
        sid="EventBridgeRulesPublishToEncryptedTopics", actions=PUBLISH_ACTIONS,
        principals={"Service": "events.amazonaws.com"},
        conditions={"StringEquals": {"aws:SourceAccount": account_id},
                    "ArnLike": {"aws:SourceArn": f"arn:{partition}:events:{region}:{account_id}:rule/*"}},
    )] if event_rules_publish else []
    return policy_document(
        # Key administration and use stay with the account's IAM policies (AWS default policy).
        # "*" in a key policy means this key only.
        Statement(sid="AccountAdministers", actions=["kms:*"], principals={"AWS": account_arn}),
        Statement(
            sid="CloudWatchLogsEncryptsLogGroups", actions=ENCRYPT_ACTIONS,
            principals={"Service": f"logs.{region}.amazonaws.com"},
            conditions={"ArnLike": {"kms:EncryptionContext:aws:logs:arn":
                                    f"arn:{partition}:logs:{region}:{account_id}:log-group:*"}},
        ),
        Statement(
            sid="CloudWatchAlarmsPublishToEncryptedTopics", actions=PUBLISH_ACTIONS,
            principals={"Service": "cloudwatch.amazonaws.com"},
            conditions={"StringEquals": {"aws:SourceAccount": account_id},
                        "ArnLike": {"aws:SourceArn": f"arn:{partition}:cloudwatch:{region}:{account_id}:alarm:*"}},
        ),
        Statement(
            sid="SnsUsesKeyForTopics", actions=PUBLISH_ACTIONS,
            principals={"Service": "sns.amazonaws.com"},
            conditions={"StringEquals": {"aws:SourceAccount": account_id},
                        "ArnLike": {"aws:SourceArn": f"arn:{partition}:sns:{region}:{account_id}:*"}},
        ),
        *event_rules,
    )


class PlatformKey(Construct):
    """The one customer-managed key every encrypted resource of the platform uses."""

    def __init__(self, scope: Construct, id: str, props: KeyProps):
        super().__init__(scope, id)
        s = props.settings
        self.key = KmsKey(
            self, "key",
            description=f"Payment platform data key ({s.environment})",
            enable_key_rotation=True,
            rotation_period_in_days=365,
            # With dr_region: replicas in the DR region (modules/disaster_recovery.py). Only at creation.
            multi_region=True if s.dr_region else None,
            deletion_window_in_days=30 if s.is_production else 7,
            policy=platform_key_policy(props.account_id, s.region, props.partition,
                                       event_rules_publish=s.migration_enabled),
        )
        self.alias = KmsAlias(self, "alias", name=f"alias/{s.name('key')}", target_key_id=self.key.key_id)
        self.arn = self.key.arn
        self.key_id = self.key.key_id
        # Keyed card fingerprints (PCI DSS 4.0 3.5.1.1): an HMAC key whose material never leaves KMS,
        # so no secret exists in code, state or the function's environment.
        self.fingerprint_key = KmsKey(
            self, "card-fingerprint",
            description=f"HMAC key for card fingerprints ({s.environment})",
            customer_master_key_spec="HMAC_256", key_usage="GENERATE_VERIFY_MAC",
            # A replica shares the key material: the DR region computes the same fingerprints.
            multi_region=True if s.dr_region else None,
            deletion_window_in_days=30,  # deleting it orphans every stored fingerprint
            policy=policy_document(Statement(
                sid="AccountAdministers", actions=["kms:*"],
                principals={"AWS": f"arn:{props.partition}:iam::{props.account_id}:root"})),
        )
        KmsAlias(self, "card-fingerprint-alias", name=f"alias/{s.name('card-fingerprint')}",
                 target_key_id=self.fingerprint_key.key_id)
