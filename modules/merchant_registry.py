"""The merchant registry: one DynamoDB item per merchant app client, written by the operator command
(scripts/merchants.py) and read by the API functions before any payment data (payments_core.registry).

Item (partition key ``client_id``, the Cognito app client id = the merchant id):
``merchant`` (name), ``api_key_id`` (the one API key issued with the client), ``usage_plan_id``,
``status`` (``active`` / ``suspended`` / ``removed``), ``created_at``, ``suspended_at``,
``resumed_at``, ``removed_at``, ``updated_at`` (ISO 8601 UTC). No secret is ever stored here (the
client secret and the API key value live only in the merchant's Secrets Manager secret).

Who may touch it: the validate, fraud-check and process function roles ``dynamodb:GetItem`` on this
table only (modules/compute.py), not the merchant-data roles; operators write it with their own
credentials; a PR's plan role may read no item of any table (modules/ci_denied_reads.py).
"""

from __future__ import annotations

from dataclasses import dataclass

from constructs import Construct
from cdktf_cdktf_provider_aws.dynamodb_table import (
    DynamodbTable, DynamodbTableAttribute, DynamodbTablePointInTimeRecovery,
    DynamodbTableServerSideEncryption,
)

from modules.disaster_recovery import global_table_options
from modules.settings import Settings

PARTITION_KEY = "client_id"


@dataclass(frozen=True)
class MerchantRegistryProps:
    settings: Settings
    kms_key_arn: str


class MerchantRegistry(Construct):
    """Table ``payment-merchant-registry-<env>``: on demand, PITR, the platform key, deletion
    protection where the environment has it. Removing a merchant marks its item, never deletes it."""

    def __init__(self, scope: Construct, id: str, props: MerchantRegistryProps):
        super().__init__(scope, id)
        s = props.settings
        self.table = DynamodbTable(
            self, "table", name=s.name("merchant-registry"),
            billing_mode="PAY_PER_REQUEST", hash_key=PARTITION_KEY,
            attribute=[DynamodbTableAttribute(name=PARTITION_KEY, type="S")],
            point_in_time_recovery=DynamodbTablePointInTimeRecovery(enabled=True),
            server_side_encryption=DynamodbTableServerSideEncryption(enabled=True, kms_key_arn=props.kms_key_arn),
            deletion_protection_enabled=s.deletion_protection,
            **global_table_options(s),  # with dr_region: a global table (modules/disaster_recovery.py)
        )
        self.arn = self.table.arn
        self.name = self.table.name
