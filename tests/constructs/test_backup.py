"""DatabaseBackup: AWS Backup vault under the platform key, a daily plan with the environment's
retention, and a selection of the Aurora cluster by ARN through a role only AWS Backup for this
account can assume."""

import json

import pytest
from cdktf import Testing
from cdktf_cdktf_provider_aws.backup_plan import BackupPlan
from cdktf_cdktf_provider_aws.backup_selection import BackupSelection
from cdktf_cdktf_provider_aws.backup_vault import BackupVault
from cdktf_cdktf_provider_aws.iam_role import IamRole

from modules.backup import DatabaseBackup, BackupProps
from tests.constructs.conftest import ACCOUNT, KEY_ARN, Scoped, scoped

CLUSTER_ARN = f"arn:aws:rds:us-east-1:{ACCOUNT}:cluster:payment-customer-db-dev"


def build(settings) -> Scoped:
    return scoped(lambda scope: DatabaseBackup(scope, "backup", BackupProps(settings, KEY_ARN, CLUSTER_ARN, ACCOUNT)))


@pytest.fixture(scope="module")
def backup(dev) -> Scoped:
    return build(dev)


def test_vault_uses_the_platform_key_and_the_plan_keeps_dev_points_a_week(backup):
    assert Testing.to_have_resource_with_properties(backup.synthesized, BackupVault.TF_RESOURCE_TYPE, {
        "name": "payment-backup-dev", "kms_key_arn": KEY_ARN, "force_destroy": True})
    assert Testing.to_have_resource_with_properties(backup.synthesized, BackupPlan.TF_RESOURCE_TYPE, {
        "name": "payment-aurora-daily-dev",
        "rule": [{"rule_name": "daily", "schedule": "cron(0 5 * * ? *)", "lifecycle": {"delete_after": 7},
                  "target_vault_name": backup.ref(backup.construct.vault.name)}]})


def test_selects_the_cluster_through_a_role_for_this_account_only(backup):
    assert Testing.to_have_resource_with_properties(backup.synthesized, BackupSelection.TF_RESOURCE_TYPE, {
        "resources": [CLUSTER_ARN], "plan_id": backup.ref(backup.construct.plan.id),
        "iam_role_arn": backup.ref(backup.construct.role.arn)})
    (role,) = backup.resources(IamRole.TF_RESOURCE_TYPE).values()
    (trust,) = json.loads(role["assume_role_policy"])["Statement"]
    assert trust["Principal"] == {"Service": "backup.amazonaws.com"}
    assert trust["Condition"] == {"StringEquals": {"aws:SourceAccount": ACCOUNT}}


def test_production_keeps_a_year_and_never_empties_the_vault(prod):
    production = build(prod)
    assert Testing.to_have_resource_with_properties(production.synthesized, BackupVault.TF_RESOURCE_TYPE, {
        "name": "payment-backup-prod", "force_destroy": False})
    assert Testing.to_have_resource_with_properties(production.synthesized, BackupPlan.TF_RESOURCE_TYPE, {
        "rule": [{"lifecycle": {"delete_after": 365}}]})
