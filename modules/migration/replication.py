"""Replication with AWS DMS: the on-premises PostgreSQL (source) into the Aurora cluster (target),
full load then change data capture, validated row by row.

Credentials never pass through Terraform: both endpoints name a Secrets Manager secret that DMS
reads through its own role (``secrets_manager_access_role_arn``): the source secret is created by
the team (docs/operators/migration.md), the target one is Aurora's managed master secret.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Sequence

from constructs import Construct
from cdktf_cdktf_provider_aws.dms_endpoint import DmsEndpoint, DmsEndpointPostgresSettings
from cdktf_cdktf_provider_aws.dms_replication_instance import DmsReplicationInstance
from cdktf_cdktf_provider_aws.dms_replication_subnet_group import DmsReplicationSubnetGroup
from cdktf_cdktf_provider_aws.dms_replication_task import DmsReplicationTask
from cdktf_cdktf_provider_aws.iam_role import IamRole
from cdktf_cdktf_provider_aws.iam_role_policy import IamRolePolicy
from cdktf_cdktf_provider_aws.iam_role_policy_attachment import IamRolePolicyAttachment
from cdktf_cdktf_provider_aws.security_group import SecurityGroup
from cdktf_cdktf_provider_aws.vpc_security_group_egress_rule import VpcSecurityGroupEgressRule
from cdktf_cdktf_provider_aws.vpc_security_group_ingress_rule import VpcSecurityGroupIngressRule

from modules.iam import Statement, assume_role_policy, policy_document
from modules.logs import encrypted_log_group
from modules.settings import PROJECT_ROOT, Settings

TABLE_MAPPINGS = PROJECT_ROOT / "migration" / "table-mappings.json"
AURORA_PORT = 5432
# DMS looks these two roles up by these exact names (account-wide; docs/operators/migration.md).
DMS_SERVICE_ROLES = {
    "dms-vpc-role": "service-role/AmazonDMSVPCManagementRole",
    "dms-cloudwatch-logs-role": "service-role/AmazonDMSCloudWatchLogsRole",
}
LOG_COMPONENTS = ("SOURCE_CAPTURE", "SOURCE_UNLOAD", "TARGET_APPLY", "TARGET_LOAD", "TASK_MANAGER",
                  "VALIDATOR_EXT")


def table_mappings() -> str:
    """The reviewed table mappings, normalised (sorted keys) so synth output is stable."""
    return json.dumps(json.loads(TABLE_MAPPINGS.read_text()), sort_keys=True)


def task_settings() -> str:
    """Task settings: validation on, logging on, and the choices a zero-downtime cutover needs
    (nothing dropped on the target; failures stop the task). DMS picks the log group itself
    (``dms-tasks-<instance id>``; the provider rejects ``Logging.CloudWatchLogGroup`` as read-only),
    so the construct creates that group, encrypted, before the task."""
    return json.dumps({
        "TargetMetadata": {"SupportLobs": True, "FullLobMode": False, "LimitedSizeLobMode": True,
                           "LobMaxSize": 64},
        # The schema is created and reviewed before the load (docs/operators/migration.md), never dropped by DMS.
        "FullLoadSettings": {"TargetTablePrepMode": "DO_NOTHING", "MaxFullLoadSubTasks": 8,
                             "CommitRate": 10000},
        "ValidationSettings": {"EnableValidation": True, "ValidationMode": "ROW_LEVEL",
                               "ThreadCount": 5, "FailureMaxCount": 10000,
                               "HandleCollationDiff": True, "RecordFailureDelayLimitInMinutes": 0},
        "Logging": {"EnableLogging": True,
                    "LogComponents": [{"Id": c, "Severity": "LOGGER_SEVERITY_DEFAULT"} for c in LOG_COMPONENTS]},
        # A row DMS cannot apply stops the task (alarmed) instead of being skipped silently.
        "ErrorBehavior": {"DataErrorPolicy": "STOP_TASK", "ApplyErrorDeletePolicy": "STOP_TASK",
                          "ApplyErrorInsertPolicy": "STOP_TASK", "ApplyErrorUpdatePolicy": "STOP_TASK",
                          "TableErrorPolicy": "STOP_TASK"},
        "ChangeProcessingTuning": {"BatchApplyEnabled": False},  # transactional apply, in order
    }, sort_keys=True)


@dataclass(frozen=True)
class ReplicationProps:
    settings: Settings
    kms_key_arn: str
    account_id: str
    partition: str
    vpc_id: str
    subnet_ids: Sequence[str]             # private subnets: routes to the VPN and to Aurora
    aurora_security_group_id: str
    aurora_database: str
    aurora_secret_arn: str | None   # None with a global database: dms_target_secret_arn is required


class Replication(Construct):
    """DMS subnet group, security group, instance, endpoints, and the full-load-and-CDC task."""

    def __init__(self, scope: Construct, id: str, props: ReplicationProps):
        super().__init__(scope, id)
        s = props.settings
        self.instance_id = s.name("dms")
        self.task_id = s.name("migration")
        # The task's ARN ends with its resource_identifier, so it is known without referencing the task.
        self.task_arn = f"arn:{props.partition}:dms:{s.region}:{props.account_id}:task:{self.task_id}"
        service_roles = self._service_roles(props)
        self.subnet_group = DmsReplicationSubnetGroup(
            self, "subnet-group", replication_subnet_group_id=s.name("dms"),
            replication_subnet_group_description="Private subnets of the payment VPC (VPN and Aurora routes)",
            subnet_ids=list(props.subnet_ids), depends_on=service_roles,
        )
        self.security_group = self._security_group(props)
        self.instance = DmsReplicationInstance(
            self, "instance", replication_instance_id=self.instance_id,
            replication_instance_class=s.dms_instance_class, allocated_storage=s.dms_allocated_storage,
            multi_az=s.is_production, kms_key_arn=props.kms_key_arn, publicly_accessible=False,
            replication_subnet_group_id=self.subnet_group.replication_subnet_group_id,
            vpc_security_group_ids=[self.security_group.id], auto_minor_version_upgrade=True,
            apply_immediately=not s.is_production,
            preferred_maintenance_window="sun:04:00-sun:05:00",
        )
        # DMS writes task logs to dms-tasks-<instance id>; created here so the key and retention are ours.
        self.log_group = encrypted_log_group(self, "task-logs", f"dms-tasks-{self.instance_id}", s,
                                             props.kms_key_arn)
        # A dedicated DMS user's secret when given (least privilege, host/port in it as DMS expects),
        # else the cluster's managed master secret.
        self.target_secret_arn = s.dms_target_secret_arn or props.aurora_secret_arn
        secrets_role = self._secrets_role(props)
        self.source = DmsEndpoint(
            self, "source", endpoint_id=s.name("onprem-source"), endpoint_type="source",
            # Host, port and credentials come from the secret: the provider refuses server_name/port
            # next to secrets_manager_arn ("server_name": conflicts with secrets_manager_arn).
            engine_name="postgres", database_name=s.onprem_db_name, ssl_mode=s.onprem_db_ssl_mode,
            certificate_arn=s.onprem_db_certificate_arn or None,
            secrets_manager_arn=s.onprem_db_secret_arn, secrets_manager_access_role_arn=secrets_role.arn,
            kms_key_arn=props.kms_key_arn,
            # The heartbeat moves the replication slot on a quiet source, so WAL does not pile up there;
            # DDL is not captured: schema changes during the migration go through the runbook.
            postgres_settings=DmsEndpointPostgresSettings(heartbeat_enable=True, heartbeat_frequency=5,
                                                          capture_ddls=False),
        )
        self.target = DmsEndpoint(
            self, "target", endpoint_id=s.name("aurora-target"), endpoint_type="target",
            engine_name="aurora-postgresql", database_name=props.aurora_database,
            ssl_mode="require",  # the cluster forces TLS too
            secrets_manager_arn=self.target_secret_arn, secrets_manager_access_role_arn=secrets_role.arn,
            kms_key_arn=props.kms_key_arn,
        )
        self.task = DmsReplicationTask(
            self, "task", replication_task_id=self.task_id,
            # The ARN suffix and the CloudWatch ReplicationTaskIdentifier dimension: stable, so the
            # alarms can name it before the task exists.
            resource_identifier=self.task_id,
            migration_type="full-load-and-cdc",
            # one(instance[*].arn) is the instance's ARN; written so it stays valid when the rehearsal
            # sets count = 0 on the instance and the task (moto cannot create either; modules/rehearsal.py).
            replication_instance_arn=f"${{one({self.instance.fqn}[*].replication_instance_arn)}}",
            source_endpoint_arn=self.source.endpoint_arn, target_endpoint_arn=self.target.endpoint_arn,
            table_mappings=table_mappings(), replication_task_settings=task_settings(),
            # Started by the operator after the preparation checklist (docs/operators/migration.md), never by an apply.
            start_replication_task=False,
            depends_on=[self.log_group],
        )

    def _service_roles(self, props: ReplicationProps) -> list[IamRolePolicyAttachment]:
        """The two account-wide roles DMS itself needs (network interfaces; CloudWatch Logs). AWS
        managed service-role policies: DMS documents exactly these, and they grant nothing else."""
        attachments = []
        for name, policy in DMS_SERVICE_ROLES.items():
            role = IamRole(self, name, name=name, assume_role_policy=policy_document(Statement(
                sid="TrustDms", actions=["sts:AssumeRole"], resources=(),
                principals={"Service": "dms.amazonaws.com"})))
            attachments.append(IamRolePolicyAttachment(
                self, f"{name}-policy", role=role.name,
                policy_arn=f"arn:{props.partition}:iam::aws:policy/{policy}"))
        return attachments

    def _secrets_role(self, props: ReplicationProps) -> IamRole:
        s = props.settings
        role = IamRole(
            self, "secrets-role", name=s.name("dms-secrets"),
            assume_role_policy=assume_role_policy(f"dms.{s.region}.amazonaws.com",
                                                  source_account=props.account_id, sid="TrustDmsInThisAccount"),
        )
        IamRolePolicy(
            self, "secrets-policy", role=role.id, name="read-endpoint-secrets",
            policy=policy_document(
                Statement(sid="ReadEndpointSecrets", actions=["secretsmanager:GetSecretValue"],
                          resources=[s.onprem_db_secret_arn, self.target_secret_arn]),
                # Both secrets are encrypted with the platform key (docs/operators/migration.md); decrypt only via Secrets Manager.
                Statement(sid="DecryptEndpointSecrets", actions=["kms:Decrypt"], resources=[props.kms_key_arn],
                          conditions={"StringEquals": {"kms:ViaService": f"secretsmanager.{s.region}.amazonaws.com"}}),
            ),
        )
        return role

    def _security_group(self, props: ReplicationProps) -> SecurityGroup:
        s = props.settings
        sg = SecurityGroup(
            self, "sg", name=s.name("dms"), vpc_id=props.vpc_id,
            description="DMS replication instance: the on-premises database, Aurora and AWS APIs only",
            tags={"Name": s.name("dms")},
        )
        VpcSecurityGroupEgressRule(
            self, "to-onprem-db", security_group_id=sg.id, ip_protocol="tcp",
            from_port=s.onprem_db_port, to_port=s.onprem_db_port, cidr_ipv4=s.onprem_db_cidr,
            description="PostgreSQL to the on-premises source over the VPN")
        VpcSecurityGroupEgressRule(
            self, "to-aurora", security_group_id=sg.id, ip_protocol="tcp", from_port=AURORA_PORT,
            to_port=AURORA_PORT, referenced_security_group_id=props.aurora_security_group_id,
            description="PostgreSQL to the Aurora target")
        VpcSecurityGroupEgressRule(
            self, "to-aws-apis", security_group_id=sg.id, ip_protocol="tcp", from_port=443, to_port=443,
            cidr_ipv4="0.0.0.0/0", description="HTTPS to Secrets Manager, KMS, CloudWatch (via NAT)")
        VpcSecurityGroupIngressRule(
            self, "aurora-from-dms", security_group_id=props.aurora_security_group_id, ip_protocol="tcp",
            from_port=AURORA_PORT, to_port=AURORA_PORT, referenced_security_group_id=sg.id,
            description="PostgreSQL from the DMS replication instance")
        return sg
