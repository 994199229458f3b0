"""Data: Aurora Serverless v2 PostgreSQL (customers) and the DynamoDB tables (transactions,
idempotency records, customer activity). Everything is encrypted with the platform key.

Every DynamoDB key that holds merchant data starts with the merchant id (its Cognito app client
id) and "#": idempotency records ``"<merchant>#<key digest>"``, customer activity and the
customer index ``"<merchant>#<customer_id>"``, the status index ``"<merchant>#<status>"``, and the
ledger itself (the transactions table) ``"<merchant>#<transaction_id>"``. The same customer id or
Idempotency-Key from two merchants is two unrelated items, and IAM enforces the prefix on every item
a merchant session touches (``dynamodb:LeadingKeys``, modules/merchant_access.py). Keying the ledger
per merchant replaced the table (docs/maintainers/decisions/ledger-keyed-per-merchant.md)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

from cdktf import TerraformResourceLifecycle
from constructs import Construct
from cdktf_cdktf_provider_aws.dynamodb_table import (
    DynamodbTable, DynamodbTableAttribute, DynamodbTableGlobalSecondaryIndex,
    DynamodbTablePointInTimeRecovery, DynamodbTableServerSideEncryption, DynamodbTableTtl,
)
from cdktf_cdktf_provider_aws.iam_role import IamRole
from cdktf_cdktf_provider_aws.iam_role_policy import IamRolePolicy
from cdktf_cdktf_provider_aws.rds_cluster import RdsCluster, RdsClusterServerlessv2ScalingConfiguration
from cdktf_cdktf_provider_aws.rds_cluster_instance import RdsClusterInstance
from cdktf_cdktf_provider_aws.secretsmanager_secret_rotation import (
    SecretsmanagerSecretRotation, SecretsmanagerSecretRotationRotationRules,
)

from modules.aurora_base import AURORA_ENGINE, cluster_base
from modules.disaster_recovery import global_table_options
from modules.global_database import password_source
from modules.iam import Statement, assume_role_policy, policy_document
from modules.settings import AURORA_ENGINE_VERSION, Settings

CUSTOMER_INDEX = "customer-index"
STATUS_INDEX = "status-index"
#: Partition key of a merchant's customer: "<merchant>#<customer_id>".
MERCHANT_CUSTOMER = "merchant_customer"
#: The ledger's partition key: "<merchant>#<transaction_id>" (the only key; no sort key, so one
#: transaction id is one item whatever its timestamp).
MERCHANT_TRANSACTION = "merchant_transaction"
#: The status index's partition key: "<merchant>#<status>".
MERCHANT_STATUS = "merchant_status"
SECRET_ROTATION_DAYS = 30
# Enhanced monitoring: OS metrics every 60 s, which RDS writes to this fixed, account-wide log group
# (one stream per instance); AWS chooses the name, so it cannot be one of ours.
MONITORING_INTERVAL_SECONDS = 60
MONITORING_LOG_GROUP = "RDSOSMetrics"


def instance_roles(readers: int) -> list[str]:
    """Terraform ids (and identifier suffixes) of the instances: ``writer``, ``reader``, ``reader-2``...

    The first reader keeps the id it always had, so adding readers never replaces it."""
    return ["writer", *(("reader" if n == 1 else f"reader-{n}") for n in range(1, readers + 1))]


@dataclass(frozen=True)
class DatabaseProps:
    settings: Settings
    kms_key_arn: str
    subnet_ids: Sequence[str]
    security_group_id: str
    account_id: str
    partition: str = "aws"
    # With dr_region: the primary of a global database (modules/global_database.py makes the global
    # cluster from it); its master password is one nobody holds. False: RDS manages it in Secrets Manager.
    global_primary: bool = False


class CustomerDatabase(Construct):
    """Aurora Serverless v2 cluster: a writer and ``aurora_readers`` readers, TLS forced, IAM auth,
    managed master secret (none when it is a global database's primary). With a minimum of 0 ACU the
    instances pause when idle (no compute cost)."""

    def __init__(self, scope: Construct, id: str, props: DatabaseProps):
        super().__init__(scope, id)
        s = props.settings
        identifier = s.name("customer-db")
        base = cluster_base(self, identifier, props.subnet_ids, "Isolated subnets of the payment VPC", s,
                            props.kms_key_arn)
        subnets, params, self.log_group = base.subnets, base.params, base.log_group
        # A global database's cluster cannot have RDS manage its password: one nobody holds, write-only
        # (modules/global_database.py "The password decision"). The global cluster is made *from* this
        # cluster (it never names the global cluster: the provider's pattern for an existing cluster, and
        # one apply for a new one); membership and the replication source move at a failover.
        password: dict[str, object] = (
            dict(master_password_wo=f"${{{password_source(self)}}}",
                 master_password_wo_version=s.aurora_password_version,
                 lifecycle=TerraformResourceLifecycle(ignore_changes=["global_cluster_identifier",
                                                                      "replication_source_identifier"]))
            if props.global_primary else
            dict(manage_master_user_password=True, master_user_secret_kms_key_id=props.kms_key_arn))
        self.cluster = RdsCluster(
            self, "cluster",
            cluster_identifier=identifier,
            engine=AURORA_ENGINE, engine_mode="provisioned", engine_version=AURORA_ENGINE_VERSION,
            database_name="customerdb",
            master_username="dbadmin",
            **password,
            iam_database_authentication_enabled=True,
            storage_encrypted=True, kms_key_id=props.kms_key_arn,
            db_subnet_group_name=subnets.name,
            vpc_security_group_ids=[props.security_group_id],
            db_cluster_parameter_group_name=params.name,
            serverlessv2_scaling_configuration=RdsClusterServerlessv2ScalingConfiguration(
                min_capacity=s.aurora_min_capacity, max_capacity=s.aurora_max_capacity,
                # Only meaningful at 0 ACU; left unset otherwise so AWS keeps its default.
                seconds_until_auto_pause=(s.aurora_seconds_until_auto_pause
                                          if s.aurora_min_capacity == 0 else None),
            ),
            backup_retention_period=s.aurora_backup_retention_days,
            preferred_backup_window="03:00-04:00",
            copy_tags_to_snapshot=True,
            enabled_cloudwatch_logs_exports=["postgresql"],
            deletion_protection=s.deletion_protection,
            skip_final_snapshot=not s.is_production,
            final_snapshot_identifier=f"{identifier}-final" if s.is_production else None,
            depends_on=[self.log_group],
        )
        monitoring_role, monitoring_policy = self._monitoring_role(props, identifier)
        self.instances = [
            RdsClusterInstance(
                self, role, identifier=f"{identifier}-{role}", cluster_identifier=self.cluster.id,
                instance_class="db.serverless", engine=AURORA_ENGINE,
                engine_version=self.cluster.engine_version,
                db_subnet_group_name=subnets.name,
                performance_insights_enabled=True, performance_insights_kms_key_id=props.kms_key_arn,
                performance_insights_retention_period=7,
                auto_minor_version_upgrade=True,
                monitoring_interval=MONITORING_INTERVAL_SECONDS, monitoring_role_arn=monitoring_role.arn,
                # Readers scale (and pause) with the writer (promotion tier 1) so a failover keeps capacity.
                promotion_tier=0 if role == "writer" else 1,
                depends_on=[monitoring_policy],  # RDS checks the role's permissions on create
            )
            for role in instance_roles(s.aurora_readers)
        ]
        # The master secret RDS manages and rotates; None for a global database (no master secret).
        self.secret_arn: str | None = None
        if not props.global_primary:
            self.secret_arn = self.cluster.master_user_secret.get(0).secret_arn
            SecretsmanagerSecretRotation(
                self, "secret-rotation", secret_id=self.secret_arn,
                rotation_rules=SecretsmanagerSecretRotationRotationRules(
                    automatically_after_days=SECRET_ROTATION_DAYS),
            )
        self.endpoint = self.cluster.endpoint
        self.reader_endpoint = self.cluster.reader_endpoint

    def _monitoring_role(self, props: DatabaseProps, identifier: str) -> tuple[IamRole, IamRolePolicy]:
        """The role RDS Enhanced Monitoring assumes for this cluster's instances. Instead of the AWS
        managed AmazonRDSEnhancedMonitoringRole (RDS* log groups in every account and region), the same
        actions on RDSOSMetrics in this account and region."""
        s = props.settings
        region_account = f"{s.region}:{props.account_id}"
        role = IamRole(self, "monitoring-role", name=s.name("rds-monitoring"),
                       assume_role_policy=assume_role_policy(
                           "monitoring.rds.amazonaws.com", source_account=props.account_id,
                           # RDS passes the DB instance's ARN: only this cluster's instances
                           # (<cluster identifier>-writer, -reader, and any added later).
                           source_arn=f"arn:{props.partition}:rds:{region_account}:db:{identifier}-*"))
        group = f"arn:{props.partition}:logs:{region_account}:log-group:{MONITORING_LOG_GROUP}"
        statements = [
            # RDS creates the group on first use (it is shared by every instance in the account).
            Statement(sid="CreateOsMetricsGroup", resources=[group],
                      actions=["logs:CreateLogGroup", "logs:PutRetentionPolicy"]),
            Statement(sid="WriteOsMetrics", resources=[f"{group}:log-stream:*"], actions=[
                "logs:CreateLogStream", "logs:PutLogEvents", "logs:DescribeLogStreams", "logs:GetLogEvents"]),
        ]
        policy = IamRolePolicy(self, "monitoring-role-policy", role=role.id, name="publish-os-metrics",
                               policy=policy_document(*statements))
        return role, policy


@dataclass(frozen=True)
class TablesProps:
    settings: Settings
    kms_key_arn: str


def _string_and_number(*pairs: tuple[str, str]) -> list[DynamodbTableAttribute]:
    return [DynamodbTableAttribute(name=name, type=kind) for name, kind in pairs]


class TransactionTables(Construct):
    """The transactions table (the ledger, with the stream the audit writer consumes: new and old
    images, so a MODIFY or REMOVE reaches the audit trail with both digests), the idempotency table and
    the customer-activity table (the fraud rules' strongly consistent per merchant-customer history,
    written in the same transaction as each payment)."""

    def __init__(self, scope: Construct, id: str, props: TablesProps):
        super().__init__(scope, id)
        s = props.settings
        encryption = [DynamodbTableServerSideEncryption(enabled=True, kms_key_arn=props.kms_key_arn)]
        # With dr_region: global tables (a stream each, replicas owned by modules/disaster_recovery.py).
        replicated = global_table_options(s)
        self.transactions = DynamodbTable(
            self, "transactions", name=s.name("transactions"),
            billing_mode="PAY_PER_REQUEST", hash_key=MERCHANT_TRANSACTION,
            attribute=_string_and_number(
                (MERCHANT_TRANSACTION, "S"), ("timestamp", "N"), (MERCHANT_CUSTOMER, "S"),
                (MERCHANT_STATUS, "S")),
            global_secondary_index=[
                # A merchant's customer's payments, newest first (operations and reporting; scoring
                # reads the activity table, because a GSI can only be read eventually consistent).
                DynamodbTableGlobalSecondaryIndex(name=CUSTOMER_INDEX, hash_key=MERCHANT_CUSTOMER,
                                                  range_key="timestamp", projection_type="ALL"),
                # A merchant's payments in one status (e.g. DECLINED_REVIEW for the review queue).
                DynamodbTableGlobalSecondaryIndex(name=STATUS_INDEX, hash_key=MERCHANT_STATUS,
                                                  range_key="timestamp", projection_type="ALL"),
            ],
            point_in_time_recovery=DynamodbTablePointInTimeRecovery(enabled=True),
            server_side_encryption=encryption[0],
            stream_enabled=True, stream_view_type="NEW_AND_OLD_IMAGES",
            deletion_protection_enabled=s.deletion_protection, lifecycle=replicated.get("lifecycle"),
        )
        # Partition key "<merchant>#<keyed digest of the client's Idempotency-Key>".
        self.idempotency = DynamodbTable(
            self, "idempotency", name=s.name("idempotency"),
            billing_mode="PAY_PER_REQUEST", hash_key="idempotency_key",
            attribute=_string_and_number(("idempotency_key", "S")),
            ttl=DynamodbTableTtl(attribute_name="expires_at", enabled=True),
            point_in_time_recovery=DynamodbTablePointInTimeRecovery(enabled=True),
            server_side_encryption=encryption[0],
            deletion_protection_enabled=s.deletion_protection, **replicated,
        )
        # One item per merchant-customer: recent payments + a version the payment transaction checks.
        # Items expire one fraud window after the customer's last payment.
        self.activity = DynamodbTable(
            self, "activity", name=s.name("customer-activity"),
            billing_mode="PAY_PER_REQUEST", hash_key=MERCHANT_CUSTOMER,
            attribute=_string_and_number((MERCHANT_CUSTOMER, "S")),
            ttl=DynamodbTableTtl(attribute_name="expires_at", enabled=True),
            point_in_time_recovery=DynamodbTablePointInTimeRecovery(enabled=True),
            server_side_encryption=encryption[0],
            deletion_protection_enabled=s.deletion_protection, **replicated,
        )
