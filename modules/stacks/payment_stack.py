"""The payment platform stack: composes the constructs of one environment."""

from __future__ import annotations

from typing import TYPE_CHECKING

from cdktf import TerraformOutput, TerraformStack
from constructs import Construct
from cdktf_cdktf_provider_aws.data_aws_caller_identity import DataAwsCallerIdentity
from cdktf_cdktf_provider_aws.data_aws_partition import DataAwsPartition

from modules.api import ApiProps, MerchantAuth, PaymentApi
from modules.audit_replication import AuditReplica, AuditReplicaProps
from modules.backup import BackupProps, DatabaseBackup, backup_vault_arn
from modules.business_metrics import BusinessAlarms, BusinessAlarmsProps, business_graphs
from modules.canary import CanaryProps, SyntheticMerchant
from modules.compute import ComputeProps, FunctionNetwork, PaymentFunctions
from modules.delivery import DeliveryProps, ReleasePipeline
from modules.disaster_recovery import DataReplicas, DataReplicasProps, ReplicatedTable
from modules.failover_routing import FailoverRecord, FailoverRecordProps
from modules.global_database import GlobalDatabase, GlobalDatabaseProps
from modules.data import CustomerDatabase, DatabaseProps, TablesProps, TransactionTables
from modules.identity import IdentityProps, MerchantIdentity
from modules.merchant_registry import MerchantRegistry, MerchantRegistryProps
from modules.endpoints import InterfaceEndpoints, InterfaceEndpointsProps
from modules.messaging import AlertsProps, AlertTopic
from modules.observability import ObservabilityProps, PaymentObservability
from modules.network import EndpointPoliciesProps, GatewayEndpointPolicies, Network, NetworkProps
from modules.parameters import PlatformParameters
from modules.permissions_boundary import boundary_arn, bound_every_role
from modules.platform import aws_provider, configure_backend, dr_provider
from modules.rehearsal import apply_rehearsal_overrides
from modules.security import KeyProps, PlatformKey
from modules.settings import Settings
from modules.standby import standby_settings
from modules.slo import ServiceLevelAlarms, SloProps
from modules.storage import ObjectLock, SecureBucket, SecureBucketProps

if TYPE_CHECKING:
    from modules.migration import Migration

AUDIT_GLACIER_AFTER_DAYS = 90
# Every environment's audit bucket starts with this; the account's trail (modules/trail.py, in the
# payments-account stack) records object access to all buckets named so.
AUDIT_BUCKET_PREFIX = "payment-audit-logs-"


def stack_name(settings: Settings) -> str:
    return f"payments-{settings.environment}"


class PaymentStack(TerraformStack):
    """All infrastructure of one environment of the payment platform."""

    def __init__(self, scope: Construct, settings: Settings):
        super().__init__(scope, stack_name(settings))
        self.settings = s = settings
        aws_provider(self, s)
        configure_backend(self, s)
        identity = DataAwsCallerIdentity(self, "caller")
        partition = DataAwsPartition(self, "partition").partition
        account_id = identity.account_id
        # Every role carries the account's deploy boundary: a CI deploy may create no other.
        bound_every_role(self, boundary_arn(partition, account_id))

        self.key = PlatformKey(self, "kms", KeyProps(s, account_id, partition))
        self.network = Network(self, "network", NetworkProps(s, self.key.arn, account_id, partition))
        # In the VPC the functions need a route to each AWS API they call; outside it (dev, previews)
        # they use the public endpoints and the interface endpoints would cost $14.60/month for nothing.
        function_network = None
        self.endpoints: InterfaceEndpoints | None = None
        if self.network.lambda_sg is not None:
            function_network = FunctionNetwork(self.network.subnet_ids["private"], self.network.lambda_sg.id)
            self.endpoints = InterfaceEndpoints(self, "endpoints", InterfaceEndpointsProps(
                s, self.network.vpc.id, function_network.subnet_ids, function_network.security_group_id))
        self.database = CustomerDatabase(self, "aurora", DatabaseProps(
            s, self.key.arn, self.network.subnet_ids["isolated"], self.network.aurora_sg.id,
            account_id=account_id, partition=partition, global_primary=bool(s.dr_region)))
        # With a DR region, Aurora is a global database made from that cluster (its secondary is the
        # standby stack's).
        self.global_database = (GlobalDatabase(self, "global-db", GlobalDatabaseProps(s, self.database.cluster.arn))
                                if s.dr_region else None)
        self.tables = TransactionTables(self, "dynamodb", TablesProps(s, self.key.arn))
        self.registry = MerchantRegistry(self, "registry", MerchantRegistryProps(s, self.key.arn))
        self.audit = SecureBucket(self, "audit", SecureBucketProps(
            name=f"{AUDIT_BUCKET_PREFIX}{s.environment}-{account_id}", kms_key_arn=self.key.arn,
            force_destroy=not s.is_production, glacier_after_days=AUDIT_GLACIER_AFTER_DAYS,
            object_lock=ObjectLock(mode=s.audit_lock_mode, days=s.audit_retention_days), partition=partition))
        # With a DR region, every recovery point is copied into the standby's vault (modules/backup.py).
        self.backup = DatabaseBackup(self, "backup", BackupProps(
            s, self.key.arn, self.database.cluster.arn, account_id, partition,
            copy_to_vault_arn=backup_vault_arn(standby_settings(s), account_id, partition) if s.dr_region else None))
        self.alerts = AlertTopic(self, "alerts", AlertsProps(s, self.key.key_id, account_id, partition,
                                                             event_rules_publish=s.migration_enabled))
        # Disaster recovery, the data (issue 21): every table and both keys replicated into dr_region.
        self.replicas: DataReplicas | None = None
        self.audit_replica: AuditReplica | None = None
        if s.dr_region:
            dr = dr_provider(self, s)
            self.replicas = DataReplicas(self, "dr", DataReplicasProps(
                settings=s, provider=dr, key_arn=self.key.arn,
                fingerprint_key_arn=self.key.fingerprint_key.arn,
                tables={short: ReplicatedTable(table.arn, table.name) for short, table in (
                    ("transactions", self.tables.transactions), ("idempotency", self.tables.idempotency),
                    ("activity", self.tables.activity), ("registry", self.registry.table))},
                alert_topic_arn=self.alerts.arn, account_id=account_id, partition=partition))
            # ... and the audit trail, write-once there too, within 15 minutes (modules/audit_replication.py).
            self.audit_replica = AuditReplica(self, "dr-audit", AuditReplicaProps(
                settings=s, provider=dr, source=self.audit, source_key_arn=self.key.arn,
                replica_key_arn=self.replicas.key.arn,
                replica_name=f"{AUDIT_BUCKET_PREFIX}{s.environment}-{account_id}-{s.dr_region}",
                object_lock=ObjectLock(mode=s.audit_lock_mode, days=s.audit_retention_days),
                force_destroy=not s.is_production, glacier_after_days=AUDIT_GLACIER_AFTER_DAYS,
                alert_topic_arn=self.alerts.arn, account_id=account_id, partition=partition))
        self.compute = PaymentFunctions(self, "lambda", ComputeProps(
            s, self.key.arn, self.tables, self.key.fingerprint_key.arn, self.audit.arn, self.audit.name,
            function_network, partition, account_id=account_id,
            registry_table_arn=self.registry.arn, registry_table_name=self.registry.name))
        GatewayEndpointPolicies(self, "endpoint-policies", EndpointPoliciesProps(
            endpoint_ids={svc: ep.id for svc, ep in self.network.endpoints.items()},
            table_arns=[self.tables.transactions.arn, self.tables.idempotency.arn, self.tables.activity.arn,
                        self.registry.arn],
            object_arns=[self.compute.audit_objects_arn]))
        self.identity = MerchantIdentity(self, "identity", IdentityProps(s, account_id))
        self.api = PaymentApi(self, "api", ApiProps(
            s, self.key.arn, self.compute.functions,
            MerchantAuth(self.identity.user_pool_arn, self.identity.scopes)))
        self.observability = PaymentObservability(self, "observability", ObservabilityProps(
            settings=s, alert_topic_arn=self.alerts.arn, api_name=self.api.api.name,
            api_stage=self.api.stage.stage_name,
            function_names={k: f.function.function_name for k, f in self.compute.functions.items()},
            table_name=self.tables.transactions.name,
            cluster_identifier=self.database.cluster.cluster_identifier,
            audit_writer_name=self.compute.functions["audit-writer"].function.function_name,
            audit_dlq_name=self.compute.dlq.name))
        alarms = self.observability.alarms
        self.slo = ServiceLevelAlarms(self, "slo", SloProps(
            settings=s, alert_topic_arn=self.alerts.arn, api_name=self.api.api.name,
            api_stage=self.api.stage.stage_name))
        self.observability.add_dashboard_row(business_graphs(s))
        self.business: BusinessAlarms | None = None
        if s.alarm_set == "full":  # $0.60/month: the two anomaly alarms on the functions' metrics
            self.business = BusinessAlarms(self, "business", BusinessAlarmsProps(s, self.alerts.arn))
        # The synthetic merchant: pays through the public API every few minutes (modules/canary.py).
        self.canary: SyntheticMerchant | None = None
        if s.canary_enabled:
            self.canary = SyntheticMerchant(self, "canary", CanaryProps(
                settings=s, kms_key_arn=self.key.arn, layer_arn=self.compute.layer.arn,
                alert_topic_arn=self.alerts.arn, api_url=self.api.url, token_endpoint=self.identity.token_endpoint,
                network=function_network if s.nat_gateways else None, partition=partition, account_id=account_id,
                # Migrating or failing over, the custom domain is a routed name: judge this region's API.
                api_connect_to=(self.api.domain.regional_domain_name
                                if self.api.domain and (s.migration_enabled or s.dr_region) else ""),
                serving_alarm=bool(s.dr_region)))
            self.observability.add_dashboard_row(self.canary.graphs)
        # The merchant-facing name answers from here while this region pays (modules/failover_routing.py);
        # during a migration the name is the cutover's, and there is no zone for these yet.
        if s.dr_hosted_zone_id and self.api.domain and self.canary and self.canary.serving_alarm:
            FailoverRecord(self, "failover-record", FailoverRecordProps(
                settings=s, role="PRIMARY", hosted_zone_id=s.dr_hosted_zone_id, record_name=s.api_domain_name,
                target_domain_name=self.api.domain.regional_domain_name,
                target_zone_id=self.api.domain.regional_zone_id,
                serving_alarm_name=self.canary.serving_alarm.alarm_name, region=s.region))
        if s.migration_enabled:
            self.migration = self._migration(s, account_id, partition)
        self.delivery = ReleasePipeline(self, "delivery", DeliveryProps(
            settings=s, alert_topic_arn=self.alerts.arn, kms_key_arn=self.key.arn,
            function_names={k: f.name for k, f in self.compute.functions.items()},
            function_arns={k: f.arn for k, f in self.compute.functions.items()},
            function_alarm_names={k: alarms[f"{k}-errors"].alarm_name for k in self.compute.functions},
            api_alarm_names=[alarms["api-5xx"].alarm_name, alarms["api-p99-latency"].alarm_name],
            account_id=account_id, partition=partition))

        outputs = {
            "vpc-id": (self.network.vpc.id, "VPC ID for payment processing"),
            "aurora-endpoint": (self.database.endpoint, "Aurora cluster writer endpoint"),
            "transaction-table": (self.tables.transactions.name, "DynamoDB transaction table name"),
            "audit-bucket": (self.audit.name, "S3 audit log bucket name"),
            "kms-key-id": (self.key.key_id, "KMS key ID for payment processing"),
            "api-url": (self.api.url, "Payment API base URL (custom domain)" if self.api.domain
                        else "Payment API base URL (stage invoke URL)"),
            # What scripts/merchants.py needs to onboard a merchant (identifiers, no secrets).
            "api-id": (self.api.api.id, "Payment API id (merchant usage plans attach to it)"),
            "api-stage": (self.api.stage.stage_name, "Payment API stage name"),
            "user-pool-id": (self.identity.user_pool_id, "Cognito user pool of the merchant app clients"),
            "token-endpoint": (self.identity.token_endpoint, "OAuth2 token endpoint (client credentials)"),
            "merchant-registry": (self.registry.name, "Merchant registry table (scripts/merchants.py writes it)"),
        }
        PlatformParameters(self, "ssm", s, outputs)
        for name, (value, description) in outputs.items():
            TerraformOutput(self, name, value=value, description=description)
        TerraformOutput(self, "aurora-reader-endpoint", value=self.database.reader_endpoint,
                        description="Aurora reader endpoint (read-only connections)")
        TerraformOutput(self, "alert-topic-arn", value=self.alerts.arn,
                        description="SNS topic every alarm notifies (KMS-encrypted)")
        TerraformOutput(self, "idempotency-table", value=self.tables.idempotency.name,
                        description="DynamoDB table of the idempotency records")
        if self.observability.dashboard_url:
            TerraformOutput(self, "dashboard-url", value=self.observability.dashboard_url,
                            description="CloudWatch dashboard of the environment")
        TerraformOutput(self, "codedeploy-application", value=self.delivery.app.name,
                        description="CodeDeploy application that shifts the functions' live aliases (make release)")
        if self.api.domain:
            # What the DNS record for the API's domain points at (CNAME, or Route 53 alias + zone id).
            TerraformOutput(self, "api-domain-target", value=self.api.domain.regional_domain_name,
                            description="regional hostname the custom domain's DNS record (CNAME or alias) points at")
            TerraformOutput(self, "api-domain-zone-id", value=self.api.domain.regional_zone_id,
                            description="hosted zone id of that hostname, for a Route 53 alias record")
        if s.rehearsal:
            apply_rehearsal_overrides(self)

    def _migration(self, s: Settings, account_id: str, partition: str) -> "Migration":
        """The optional migration from the data centre (issue 15), imported only when it is on."""
        from modules.migration import Migration, MigrationProps
        from modules.migration.stack import execute_api_hostname

        assert self.canary is not None, "settings validation requires canary_enabled with the migration"

        migration = Migration(self, "migration", MigrationProps(
            settings=s, kms_key_arn=self.key.arn, account_id=account_id, partition=partition,
            vpc_id=self.network.vpc.id,
            route_table_ids=[*self.network.route_table_ids["private"], *self.network.route_table_ids["isolated"]],
            private_subnet_ids=self.network.subnet_ids["private"],
            aurora_security_group_id=self.network.aurora_sg.id,
            aurora_database=self.database.cluster.database_name, aurora_secret_arn=self.database.secret_arn,
            alert_topic_arn=self.alerts.arn,
            # Merchants reach the new API at its custom domain when one is set (TLS 1.2 only).
            new_api_hostname=(self.api.domain.regional_domain_name if self.api.domain
                              else execute_api_hostname(self.api.api.id, s.region)),
            # The canary's verdict, not the API 5xx alarm: that one is green when no merchant gets in.
            new_api_alarm_name=self.canary.alarm.alarm_name))
        self.observability.add_dashboard_row(migration.graphs)
        TerraformOutput(self, "migration-task-id", value=migration.task_id,
                        description="DMS replication task of the migration (make cutover reads it)")
        return migration
