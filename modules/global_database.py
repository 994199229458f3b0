"""Disaster recovery, the customer database (issue 21): Aurora as a global database, its secondary in
the DR region, and the master password a global database needs.

**The password decision.** Aurora does not manage the master password in Secrets Manager for a
cluster of a global database (Aurora User Guide, "Limitations for Secrets Manager integration").
Storing one ourselves would put it where a pull request's plan role reads it: the provider refreshes
an ``aws_secretsmanager_secret_version`` with ``GetSecretValue`` even when its value is write-only
(modules/ci_denied_reads.py denies that read, and tests/test_ci_identities.py fails on such a type).
So **nobody holds the master password** of a global database: an ephemeral
``aws_secretsmanager_random_password`` (hashicorp/aws 5.100.0, Terraform >= 1.10) is generated in
each run and sent only to the cluster's write-only ``master_password_wo``, when
``aurora_password_version`` changes. It is in no state file, no plan, no secret and no log.
People and services connect with IAM database authentication (on for every cluster); the migration's
DMS task uses its own user (``dms_target_secret_arn``, required with ``dr_region`` and the migration). Break-glass:
an administrator sets a password with ``ModifyDBCluster`` (recorded by CloudTrail), uses it, and
raises ``aurora_password_version`` so that the next apply replaces it with one nobody knows
(docs/operators/disaster-recovery.md "The customer database";
docs/maintainers/decisions/global-database-master-password.md). CDKTF 0.21 has no ephemeral resource
construct, so the block is a stack override (``password_source``). The plan role may call
``secretsmanager:GetRandomPassword``, which generates a value and reads none (modules/ci_identities.py).

**The secondary** (``SecondaryCluster``, in the standby stack) joins the global cluster by name, in
the standby's isolated subnets, encrypted with the replica of the platform key, with
``dr_database_instances`` instances: 0 (prod's default) is **headless**, storage only: replicated,
billed for storage and I/O, no instance hours. ``make failover`` promotes it (scripts/failover.py:
a switchover with instances, a detach when headless or when the primary is lost). The lag alarm
reads ``AuroraGlobalDBReplicationLag`` against ``dr_rpo_seconds``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

from cdktf import TerraformResourceLifecycle, TerraformStack
from constructs import Construct
from cdktf_cdktf_provider_aws.cloudwatch_metric_alarm import CloudwatchMetricAlarm
from cdktf_cdktf_provider_aws.rds_cluster import RdsCluster, RdsClusterServerlessv2ScalingConfiguration
from cdktf_cdktf_provider_aws.rds_cluster_instance import RdsClusterInstance
from cdktf_cdktf_provider_aws.rds_global_cluster import RdsGlobalCluster

from modules.aurora_base import AURORA_ENGINE, cluster_base
from modules.observability import DR_RUNBOOK_PATH, Metric, metric_alarm
from modules.settings import AURORA_ENGINE_VERSION, Settings

PASSWORD_SOURCE = "aurora_master"   # the ephemeral block's name
PASSWORD_LENGTH = 40
LAG_PERIODS = 3


def global_cluster_name(settings: Settings) -> str:
    return settings.name("customer-db-global")


def password_source(scope: Construct) -> str:
    """The ephemeral random password of ``scope``'s stack (declared once), as an expression. The stack
    then needs Terraform 1.11 (ephemeral resources 1.10, write-only arguments 1.11; an older CLI stops
    at the ``ephemeral`` block). Not said as ``terraform.required_version``: checkov 3.3.30's
    Terraform JSON parser fails on that string and would scan nothing (docs/maintainers/versions.md)."""
    TerraformStack.of(scope).add_override(
        f"ephemeral.aws_secretsmanager_random_password.{PASSWORD_SOURCE}",
        {"password_length": PASSWORD_LENGTH, "exclude_punctuation": True, "require_each_included_type": True})
    return f"ephemeral.aws_secretsmanager_random_password.{PASSWORD_SOURCE}.random_password"


@dataclass(frozen=True)
class GlobalDatabaseProps:
    settings: Settings
    source_cluster_arn: str   # the primary cluster (modules/data.py, global_primary=True)


class GlobalDatabase(Construct):
    """Global cluster ``payment-customer-db-global-<env>``, made from the primary cluster
    (``source_db_cluster_identifier``): engine, version and encryption are that cluster's. An existing
    cluster cannot be added to an existing global cluster (the provider refuses it), so this is the
    one form that works for an environment created with ``dr_region`` and for one that gets it later."""

    def __init__(self, scope: Construct, id: str, props: GlobalDatabaseProps):
        super().__init__(scope, id)
        s = props.settings
        self.cluster = RdsGlobalCluster(
            self, "cluster", global_cluster_identifier=global_cluster_name(s),
            source_db_cluster_identifier=props.source_cluster_arn,
            # Required with a source: a destroy detaches the members first (deletion protection and
            # the plan gate, scripts/plan_summary.py, stand before any destroy in prod).
            force_destroy=True, deletion_protection=s.deletion_protection,
            # No API reads the source back: without this every plan would show a change.
            lifecycle=TerraformResourceLifecycle(ignore_changes=["source_db_cluster_identifier"]))


@dataclass(frozen=True)
class SecondaryClusterProps:
    settings: Settings              # the standby's (modules/standby.py): names carry the region
    global_cluster_identifier: str
    kms_key_arn: str                # the replica of the platform key
    subnet_ids: Sequence[str]       # the standby's isolated subnets
    security_group_id: str
    alert_topic_arn: str


class SecondaryCluster(Construct):
    """The global database's secondary cluster in the DR region, its instances (none: headless) and
    the replication lag alarm."""

    def __init__(self, scope: Construct, id: str, props: SecondaryClusterProps):
        super().__init__(scope, id)
        s = props.settings
        identifier = s.name("customer-db")
        base = cluster_base(self, identifier, props.subnet_ids, "Isolated subnets of the standby's VPC", s,
                            props.kms_key_arn)
        subnets, params, log_group = base.subnets, base.params, base.log_group
        self.cluster = RdsCluster(
            self, "cluster", cluster_identifier=identifier, engine=AURORA_ENGINE, engine_mode="provisioned",
            engine_version=AURORA_ENGINE_VERSION, global_cluster_identifier=props.global_cluster_identifier,
            storage_encrypted=True, kms_key_id=props.kms_key_arn, iam_database_authentication_enabled=True,
            db_subnet_group_name=subnets.name, vpc_security_group_ids=[props.security_group_id],
            db_cluster_parameter_group_name=params.name,
            serverlessv2_scaling_configuration=RdsClusterServerlessv2ScalingConfiguration(
                min_capacity=max(s.aurora_min_capacity, 0.5), max_capacity=s.aurora_max_capacity),
            backup_retention_period=s.aurora_backup_retention_days, copy_tags_to_snapshot=True,
            enabled_cloudwatch_logs_exports=["postgresql"], deletion_protection=s.deletion_protection,
            # No final snapshot: while it is a member it cannot be deleted on its own; after a detach
            # deletion protection (prod) stops a destroy, and both regions' backups hold its data.
            skip_final_snapshot=True,
            # After a failover the roles swap outside Terraform (scripts/failover.py).
            lifecycle=TerraformResourceLifecycle(ignore_changes=["replication_source_identifier",
                                                                 "global_cluster_identifier"]),
            depends_on=[log_group])
        self.instances = [
            RdsClusterInstance(self, f"instance-{n}", identifier=f"{identifier}-{n}", cluster_identifier=self.cluster.id,
                               instance_class="db.serverless", engine=AURORA_ENGINE,
                               engine_version=self.cluster.engine_version, db_subnet_group_name=subnets.name,
                               auto_minor_version_upgrade=True)
            for n in range(1, s.dr_database_instances + 1)]
        self.alarm: CloudwatchMetricAlarm = metric_alarm(
            self, "database-replication-lag", s, props.alert_topic_arn,
            f"The customer database's secondary in {s.region} is more than {s.dr_rpo_seconds}s behind the "
            "primary: the recovery point objective is not met",
            Metric("AWS/RDS", "AuroraGlobalDBReplicationLag", {"DBClusterIdentifier": identifier}, "Maximum"),
            # No datapoints is shown as INSUFFICIENT_DATA, not OK: whether a headless secondary reports
            # the metric is not established here, and a detached one stops reporting it.
            threshold=s.dr_rpo_seconds * 1000, periods=LAG_PERIODS, period=60, missing="missing",
            page=DR_RUNBOOK_PATH)
