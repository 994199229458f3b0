"""The warm standby of the request path in the disaster-recovery region (issue 21):
``payments-<env>-<dr_region>``.

One stack per region, not a second provider inside ``payments-<env>``: the standby must be planned
and applied while the primary region is down, and a stack that also manages the primary's resources
cannot be (its refresh reads them). This stack reads nothing in the primary region: the data it
serves is what the primary's stack replicates into the DR region (modules/disaster_recovery.py),
found there by name (modules/standby.py ``ReplicatedData``).

What it builds, with the primary's constructs and the primary's settings moved to ``dr_region``
(``standby_settings``): the network (with the interface endpoints where the functions are in the
VPC), the functions and their ``live`` aliases, the API with its WAF and the DR region's user pool,
the alarms and their alert topic, the SLO burn-rate alarms, the synthetic merchant, the customer database's
secondary cluster (modules/global_database.py), and, with a custom domain, the merchant-facing name's
``SECONDARY`` failover record. Its functions are fenced by
default (payments_core.fence): the standby stores no payment until ``make failover`` opens it.

Not here: a CodeDeploy pipeline (Terraform moves the standby's aliases on each apply: it takes no traffic to shift), the
migration.
"""

from __future__ import annotations

from cdktf import TerraformOutput, TerraformStack
from constructs import Construct
from cdktf_cdktf_provider_aws.data_aws_caller_identity import DataAwsCallerIdentity
from cdktf_cdktf_provider_aws.data_aws_partition import DataAwsPartition

from modules.api import ApiProps, MerchantAuth, PaymentApi
from modules.backup import BackupProps, DatabaseBackup
from modules.canary import CanaryProps, SyntheticMerchant
from modules.compute import ComputeProps, FunctionNetwork, PaymentFunctions
from modules.endpoints import InterfaceEndpoints, InterfaceEndpointsProps
from modules.failover_routing import FailoverRecord, FailoverRecordProps
from modules.global_database import SecondaryCluster, SecondaryClusterProps, global_cluster_name
from modules.identity import IdentityProps, MerchantIdentity
from modules.messaging import AlertsProps, AlertTopic
from modules.network import EndpointPoliciesProps, GatewayEndpointPolicies, Network, NetworkProps
from modules.observability import ObservabilityProps, PaymentObservability
from modules.parameters import PlatformParameters
from modules.permissions_boundary import boundary_arn, bound_every_role
from modules.platform import aws_provider, configure_backend, read_backend_defaults
from modules.settings import Settings
from modules.slo import ServiceLevelAlarms, SloProps
from modules.stacks.payment_stack import AUDIT_BUCKET_PREFIX
from modules.standby import ReplicatedData, ReplicatedDataProps, StandbySettings, standby_settings


def standby_stack_name(settings: Settings) -> str:
    return f"payments-{settings.environment}-{settings.dr_region}"


def standby_state_key(settings: Settings) -> str:
    """Its own state (``payments/<env>-<dr_region>/terraform.tfstate``): applying it never locks or
    rewrites the primary's."""
    return str(read_backend_defaults()["key"]).format(environment=f"{settings.environment}-{settings.dr_region}")


class StandbyStack(TerraformStack):
    """The request path of one environment in its ``dr_region``, fenced until a failover."""

    def __init__(self, scope: Construct, settings: Settings):
        super().__init__(scope, standby_stack_name(settings))
        self.primary_settings = settings
        self.settings = s = standby_settings(settings)
        aws_provider(self, s)
        # Its state is in dr_region's state bucket: planned and applied while the state region is down.
        configure_backend(self, settings, key=standby_state_key(settings), dr=True)
        account_id = DataAwsCallerIdentity(self, "caller").account_id
        partition = DataAwsPartition(self, "partition").partition
        bound_every_role(self, boundary_arn(partition, account_id))

        self.data = data = ReplicatedData(self, "replicated", ReplicatedDataProps(s))
        key_arn = data.key.arn
        self.network = Network(self, "network", NetworkProps(s, key_arn, account_id, partition))
        function_network = None
        if self.network.lambda_sg is not None:
            function_network = FunctionNetwork(self.network.subnet_ids["private"], self.network.lambda_sg.id)
            InterfaceEndpoints(self, "endpoints", InterfaceEndpointsProps(
                s, self.network.vpc.id, function_network.subnet_ids, function_network.security_group_id))
        self.alerts = AlertTopic(self, "alerts", AlertsProps(s, data.key.id, account_id, partition))
        # The customer database's secondary: headless unless dr_database_instances (modules/global_database.py).
        assert self.network.aurora_sg is not None
        self.database = SecondaryCluster(self, "aurora", SecondaryClusterProps(
            settings=s, global_cluster_identifier=global_cluster_name(settings), kms_key_arn=key_arn,
            subnet_ids=self.network.subnet_ids["isolated"], security_group_id=self.network.aurora_sg.id,
            alert_topic_arn=self.alerts.arn))
        # Its own daily plan (the primary's copies land in the same vault): backed up from the first
        # night after a failover, when it is the writer (modules/backup.py).
        self.backup = DatabaseBackup(self, "backup", BackupProps(
            s, key_arn, self.database.cluster.arn, account_id, partition))
        # The audit trail's replica (modules/audit_replication.py): where this region's audit writer files.
        audit_name = f"{AUDIT_BUCKET_PREFIX}{settings.environment}-{account_id}-{s.region}"
        self.compute = PaymentFunctions(self, "lambda", ComputeProps(
            s, key_arn, data, data.fingerprint_key.arn, f"arn:{partition}:s3:::{audit_name}", audit_name,
            function_network, partition, account_id=account_id,
            registry_table_arn=data.registry.arn, registry_table_name=data.registry.name, standby=True))
        GatewayEndpointPolicies(self, "endpoint-policies", EndpointPoliciesProps(
            endpoint_ids={svc: ep.id for svc, ep in self.network.endpoints.items()},
            table_arns=[data.transactions.arn, data.idempotency.arn, data.activity.arn, data.registry.arn],
            object_arns=[self.compute.audit_objects_arn]))
        # Cognito pools do not replicate: this region's own pool (docs/operators/disaster-recovery.md
        # "Identity": a merchant's client here is keyed by its merchant id through merchant_key).
        self.identity = MerchantIdentity(self, "identity", IdentityProps(s, account_id))
        self.api = PaymentApi(self, "api", ApiProps(
            s, key_arn, self.compute.functions, MerchantAuth(self.identity.user_pool_arn, self.identity.scopes)))
        self.observability = PaymentObservability(self, "observability", ObservabilityProps(
            settings=s, alert_topic_arn=self.alerts.arn, api_name=self.api.api.name,
            api_stage=self.api.stage.stage_name,
            function_names={k: f.function.function_name for k, f in self.compute.functions.items()},
            table_name=data.transactions.name, cluster_identifier=None,
            audit_writer_name=self.compute.functions["audit-writer"].function.function_name,
            audit_dlq_name=self.compute.dlq.name))
        ServiceLevelAlarms(self, "slo", SloProps(settings=s, alert_topic_arn=self.alerts.arn,
                                                 api_name=self.api.api.name, api_stage=self.api.stage.stage_name))
        self.canary: SyntheticMerchant | None = None
        if s.canary_enabled:
            self.canary = SyntheticMerchant(self, "canary", CanaryProps(
                settings=s, kms_key_arn=key_arn, layer_arn=self.compute.layer.arn, alert_topic_arn=self.alerts.arn,
                api_url=self.api.url, token_endpoint=self.identity.token_endpoint,
                network=function_network if s.nat_gateways else None, partition=partition, account_id=account_id,
                api_connect_to=self.api.domain.regional_domain_name if self.api.domain else "",
                serving_alarm=True))
            self.observability.add_dashboard_row(self.canary.graphs)
            if s.dr_hosted_zone_id and self.api.domain and self.canary.serving_alarm:
                FailoverRecord(self, "failover-record", FailoverRecordProps(
                    settings=s, role="SECONDARY", hosted_zone_id=s.dr_hosted_zone_id,
                    record_name=s.api_domain_name, target_domain_name=self.api.domain.regional_domain_name,
                    target_zone_id=self.api.domain.regional_zone_id,
                    serving_alarm_name=self.canary.serving_alarm.alarm_name, region=s.region))
        self._outputs(s)

    def _outputs(self, s: StandbySettings) -> None:
        """What the operator's commands read in the DR region (its SSM parameters, the primary's
        being out of reach when the primary region is)."""
        outputs = {
            "api-url": (self.api.url, f"Payment API base URL in {s.region} (the standby)"),
            "api-id": (self.api.api.id, "Payment API id of the standby (merchant usage plans attach to it)"),
            "api-stage": (self.api.stage.stage_name, "Payment API stage name"),
            "user-pool-id": (self.identity.user_pool_id, f"Cognito user pool of the merchant app clients in {s.region}"),
            "token-endpoint": (self.identity.token_endpoint, f"OAuth2 token endpoint in {s.region}"),
            "merchant-registry": (self.data.registry.name, "Merchant registry table (the global table's replica)"),
        }
        PlatformParameters(self, "ssm", s, outputs)
        for name, (value, description) in outputs.items():
            TerraformOutput(self, name, value=value, description=description)
        if self.canary is not None:
            TerraformOutput(self, "canary-function", value=self.canary.function.name,
                            description="The standby's synthetic merchant (make failover invokes it to verify)")
