"""The payment platform stack: composes the constructs of one environment."""

from __future__ import annotations

from typing import TYPE_CHECKING

from cdktf import TerraformOutput, TerraformStack
from constructs import Construct
from cdktf_cdktf_provider_aws.data_aws_caller_identity import DataAwsCallerIdentity
from cdktf_cdktf_provider_aws.data_aws_partition import DataAwsPartition

from modules.api import ApiProps, PaymentApi
from modules.compute import ComputeProps, PaymentFunctions
from modules.delivery import DeliveryProps, ReleasePipeline
from modules.data import CustomerDatabase, DatabaseProps, TablesProps, TransactionTables
from modules.messaging import AlertsProps, AlertTopic
from modules.observability import ObservabilityProps, PaymentObservability
from modules.network import Network, NetworkProps
from modules.parameters import PlatformParameters
from modules.platform import aws_provider, configure_backend
from modules.rehearsal import apply_rehearsal_overrides
from modules.security import KeyProps, PlatformKey
from modules.settings import Settings
from modules.storage import SecureBucket, SecureBucketProps

if TYPE_CHECKING:
    from modules.migration import Migration

AUDIT_GLACIER_AFTER_DAYS = 90


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

        self.key = PlatformKey(self, "kms", KeyProps(s, account_id, partition))
        self.network = Network(self, "network", NetworkProps(s, self.key.arn))
        self.database = CustomerDatabase(self, "aurora", DatabaseProps(
            s, self.key.arn, self.network.subnet_ids["isolated"], self.network.aurora_sg.id,
            partition=partition))
        self.tables = TransactionTables(self, "dynamodb", TablesProps(s, self.key.arn))
        self.audit = SecureBucket(self, "audit", SecureBucketProps(
            name=f"payment-audit-logs-{s.environment}-{account_id}", kms_key_arn=self.key.arn,
            force_destroy=not s.is_production, glacier_after_days=AUDIT_GLACIER_AFTER_DAYS))
        self.alerts = AlertTopic(self, "alerts", AlertsProps(s, self.key.key_id, account_id, partition,
                                                             event_rules_publish=s.migration_enabled))
        self.compute = PaymentFunctions(self, "lambda", ComputeProps(
            s, self.key.arn, self.tables, self.key.fingerprint_key.arn, self.audit.arn, self.audit.name,
            self.network.subnet_ids["private"], self.network.lambda_sg.id, partition))
        self.api = PaymentApi(self, "api", ApiProps(s, self.key.arn, self.compute.functions, partition))
        self.observability = PaymentObservability(self, "observability", ObservabilityProps(
            settings=s, alert_topic_arn=self.alerts.arn, api_name=self.api.api.name,
            api_stage=self.api.stage.stage_name,
            function_names={k: f.function.function_name for k, f in self.compute.functions.items()},
            table_name=self.tables.transactions.name,
            cluster_identifier=self.database.cluster.cluster_identifier))
        alarms = self.observability.alarms
        if s.migration_enabled:
            self.migration = self._migration(s, account_id, partition)
        self.delivery = ReleasePipeline(self, "delivery", DeliveryProps(
            settings=s, alert_topic_arn=self.alerts.arn, kms_key_arn=self.key.arn,
            function_names={k: f.name for k, f in self.compute.functions.items()},
            function_alarm_names={k: alarms[f"{k}-errors"].alarm_name for k in self.compute.functions},
            api_alarm_names=[alarms["api-5xx"].alarm_name, alarms["api-p99-latency"].alarm_name],
            partition=partition))

        outputs = {
            "vpc-id": (self.network.vpc.id, "VPC ID for payment processing"),
            "aurora-endpoint": (self.database.endpoint, "Aurora cluster writer endpoint"),
            "transaction-table": (self.tables.transactions.name, "DynamoDB transaction table name"),
            "audit-bucket": (self.audit.name, "S3 audit log bucket name"),
            "kms-key-id": (self.key.key_id, "KMS key ID for payment processing"),
            "api-url": (self.api.url, "Payment API base URL (stage invoke URL)"),
        }
        PlatformParameters(self, "ssm", s, outputs)
        for name, (value, description) in outputs.items():
            TerraformOutput(self, name, value=value, description=description)
        TerraformOutput(self, "aurora-reader-endpoint", value=self.database.reader_endpoint)
        TerraformOutput(self, "alert-topic-arn", value=self.alerts.arn)
        TerraformOutput(self, "idempotency-table", value=self.tables.idempotency.name)
        TerraformOutput(self, "dashboard-url", value=self.observability.dashboard_url)
        TerraformOutput(self, "codedeploy-application", value=self.delivery.app.name)
        if s.rehearsal:
            apply_rehearsal_overrides(self)

    def _migration(self, s: Settings, account_id: str, partition: str) -> "Migration":
        """The optional migration from the data centre (issue 15), imported only when it is on."""
        from modules.migration import Migration, MigrationProps
        from modules.migration.stack import execute_api_hostname

        migration = Migration(self, "migration", MigrationProps(
            settings=s, kms_key_arn=self.key.arn, account_id=account_id, partition=partition,
            vpc_id=self.network.vpc.id,
            route_table_ids=[*self.network.route_table_ids["private"], *self.network.route_table_ids["isolated"]],
            private_subnet_ids=self.network.subnet_ids["private"],
            aurora_security_group_id=self.network.aurora_sg.id,
            aurora_database=self.database.cluster.database_name, aurora_secret_arn=self.database.secret_arn,
            alert_topic_arn=self.alerts.arn,
            # One line to change when the API has a custom domain: its regional_domain_name.
            new_api_hostname=execute_api_hostname(self.api.api.id, s.region),
            new_api_alarm_name=self.observability.alarms["api-5xx"].alarm_name))
        self.observability.add_dashboard_row(migration.graphs)
        TerraformOutput(self, "migration-task-id", value=migration.task_id)
        return migration
