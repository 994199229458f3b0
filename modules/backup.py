"""AWS Backup for the Aurora cluster: a daily recovery point kept ``backup_retention_days`` in a vault
encrypted with the platform key, on top of Aurora's own automated backups (point-in-time restore).

Aurora's automated backups go when the cluster is deleted; a Backup recovery point lives in the vault
on its own schedule and retention, and can be kept for a year or more (prod: 365 days).

With a DR region (issue 21) there are two of these: the primary's plan also **copies** each recovery
point into the standby's vault (``copy_to_vault_arn``), so a restore point outlives the loss of the
primary region. The global database replicates every write within a second, a bad one too: the copy
is what a restore after a replicated mistake starts from. The standby's own plan selects the secondary
cluster, so that the region serving money after a failover is backed up from the first night.
"""

from __future__ import annotations

from dataclasses import dataclass

from constructs import Construct
from cdktf_cdktf_provider_aws.backup_plan import (
    BackupPlan, BackupPlanRule, BackupPlanRuleCopyAction, BackupPlanRuleCopyActionLifecycle, BackupPlanRuleLifecycle,
)
from cdktf_cdktf_provider_aws.backup_selection import BackupSelection
from cdktf_cdktf_provider_aws.backup_vault import BackupVault
from cdktf_cdktf_provider_aws.iam_role import IamRole
from cdktf_cdktf_provider_aws.iam_role_policy_attachment import IamRolePolicyAttachment

from modules.iam import assume_role_policy
from modules.settings import Settings

# After Aurora's own backup window (03:00-04:00 UTC, modules/data.py), so the two never overlap.
SCHEDULE = "cron(0 5 * * ? *)"
START_WINDOW_MINUTES = 60
COMPLETION_WINDOW_MINUTES = 240
# AWS's policy for the role AWS Backup assumes to take and expire recovery points. It is written for
# exactly this job, follows AWS Backup as it changes (a hand-copied list breaks silently: jobs fail,
# nothing alarms on a missing permission), and what the role may back up is bounded by the
# selection below (the one cluster ARN) and by the trust policy (AWS Backup, this account only).
# Restores are a human, break-glass act: the restore policy is deliberately not attached.
BACKUP_POLICY = "service-role/AWSBackupServiceRolePolicyForBackup"


@dataclass(frozen=True)
class BackupProps:
    settings: Settings
    kms_key_arn: str
    cluster_arn: str
    account_id: str
    partition: str = "aws"
    # The standby's vault (backup_vault_arn): every recovery point is copied there, kept as long.
    copy_to_vault_arn: str | None = None


def backup_vault_name(settings: Settings) -> str:
    return settings.name("backup")


def backup_vault_arn(settings: Settings, account_id: str, partition: str = "aws") -> str:
    """The vault of ``settings``' region (a standby's settings: the DR region's vault), by name."""
    return f"arn:{partition}:backup:{settings.region}:{account_id}:backup-vault:{backup_vault_name(settings)}"


class DatabaseBackup(Construct):
    """Vault (platform key), daily plan (retention from settings), selection of the cluster by ARN."""

    def __init__(self, scope: Construct, id: str, props: BackupProps):
        super().__init__(scope, id)
        s = props.settings
        self.vault = BackupVault(
            self, "vault", name=backup_vault_name(s), kms_key_arn=props.kms_key_arn,
            force_destroy=not s.is_production)  # production recovery points are never emptied by Terraform
        self.plan = BackupPlan(self, "plan", name=s.name("aurora-daily"), rule=[BackupPlanRule(
            rule_name="daily", target_vault_name=self.vault.name, schedule=SCHEDULE,
            start_window=START_WINDOW_MINUTES, completion_window=COMPLETION_WINDOW_MINUTES,
            lifecycle=BackupPlanRuleLifecycle(delete_after=s.backup_retention_days),
            copy_action=[BackupPlanRuleCopyAction(
                destination_vault_arn=props.copy_to_vault_arn,
                lifecycle=BackupPlanRuleCopyActionLifecycle(delete_after=s.backup_retention_days),
            )] if props.copy_to_vault_arn else None,
        )])
        self.role = IamRole(self, "role", name=s.name("backup"), assume_role_policy=assume_role_policy(
            # Only AWS Backup acting for this account (confused-deputy guard; it sends no SourceArn).
            "backup.amazonaws.com", source_account=props.account_id, sid="TrustBackup"))
        attachment = IamRolePolicyAttachment(
            self, "policy", role=self.role.name,
            policy_arn=f"arn:{props.partition}:iam::aws:policy/{BACKUP_POLICY}")
        BackupSelection(
            self, "selection", name=s.name("aurora"), plan_id=self.plan.id, iam_role_arn=self.role.arn,
            resources=[props.cluster_arn], depends_on=[attachment])
