"""The disaster-recovery region's view of the platform (issue 21): the settings its standby stack is
built with, and the replicated data it finds there.

The standby request path (modules/stacks/standby_stack.py) is the primary's constructs built again in
``dr_region``. Two things differ, and this module is where:

- **Names.** IAM is global: a second ``payment-process-prod`` role would be the first one. Everything
  the standby creates is named ``payment-<component>-<env>-<dr_region>`` (``StandbySettings.name``);
  what it *finds* keeps the primary's name (``primary_name``): a global table's replica and a replica
  key's alias have the names of their primaries.
- **What it finds instead of creating.** The tables' replicas and the replica keys are created by the
  primary's stack (modules/disaster_recovery.py) and looked up here by name, in the DR region
  (``ReplicatedData``): the standby stack can be planned and applied from the DR region alone.
"""

from __future__ import annotations

from dataclasses import dataclass, fields

from constructs import Construct
from cdktf_cdktf_provider_aws.data_aws_dynamodb_table import DataAwsDynamodbTable
from cdktf_cdktf_provider_aws.data_aws_kms_key import DataAwsKmsKey

from modules.settings import Settings


@dataclass(frozen=True)
class StandbySettings(Settings):
    """The primary's settings in ``dr_region``: the standby's own names carry the region."""

    def name(self, component: str) -> str:
        return f"payment-{component}-{self.environment}-{self.region}"

    def primary_name(self, component: str) -> str:
        """The name of what the primary's stack created (replicated tables, replica key aliases)."""
        return Settings.name(self, component)


def standby_settings(settings: Settings) -> StandbySettings:
    """``settings`` moved to ``dr_region``. A warm standby takes no traffic until a failover, so it
    has no provisioned concurrency (cold starts are inside the recovery time); its custom domain uses
    the DR region's certificate (ACM certificates are regional); no migration runs there."""
    assert settings.dr_region, "a standby needs dr_region"
    values = {f.name: getattr(settings, f.name) for f in fields(Settings)}
    values.update(region=settings.dr_region, dr_region="", lambda_provisioned_concurrency=0,
                  api_certificate_arn=settings.dr_api_certificate_arn, migration_enabled=False)
    return StandbySettings(**values)


class ReplicatedTable(Construct):
    """A global table's replica in this stack's region, by name: ``arn``, ``name``, ``stream_arn``."""

    def __init__(self, scope: Construct, id: str, name: str):
        super().__init__(scope, id)
        self.table = DataAwsDynamodbTable(self, "table", name=name)
        self.arn, self.name, self.stream_arn = self.table.arn, self.table.name, self.table.stream_arn


@dataclass(frozen=True)
class ReplicatedDataProps:
    settings: StandbySettings


class ReplicatedData(Construct):
    """What the primary replicates into this region: the replica keys (by alias) and the four tables,
    shaped like the primary's ``TransactionTables`` (``transactions``, ``idempotency``, ``activity``)
    plus ``registry``."""

    def __init__(self, scope: Construct, id: str, props: ReplicatedDataProps):
        super().__init__(scope, id)
        s = props.settings
        self.key = DataAwsKmsKey(self, "key", key_id=f"alias/{s.primary_name('key')}")
        self.fingerprint_key = DataAwsKmsKey(self, "card-fingerprint", key_id=f"alias/{s.primary_name('card-fingerprint')}")
        self.transactions = ReplicatedTable(self, "transactions", s.primary_name("transactions"))
        self.idempotency = ReplicatedTable(self, "idempotency", s.primary_name("idempotency"))
        self.activity = ReplicatedTable(self, "activity", s.primary_name("customer-activity"))
        self.registry = ReplicatedTable(self, "registry", s.primary_name("merchant-registry"))
