"""Bootstrap stack for the Terraform state bucket itself (its own state stays local)."""

from __future__ import annotations

from cdktf import LocalBackend, TerraformOutput, TerraformStack
from constructs import Construct
from cdktf_cdktf_provider_aws.data_aws_caller_identity import DataAwsCallerIdentity
from cdktf_cdktf_provider_aws.data_aws_partition import DataAwsPartition
from cdktf_cdktf_provider_aws.kms_alias import KmsAlias
from cdktf_cdktf_provider_aws.kms_key import KmsKey

from modules.iam import Statement, policy_document
from modules.payment_stack import AUDIT_BUCKET_PREFIX
from modules.platform import aws_provider, state_bucket_name
from modules.rehearsal import apply_rehearsal_overrides
from modules.settings import Settings
from modules.storage import SecureBucket, SecureBucketProps
from modules.trail import DataEventTrail, DataEventTrailProps

STACK_NAME = "payments-state"
TRAIL_NAME = "payment-object-access-trail"


class StateBucketStack(TerraformStack):
    """Creates the versioned, KMS-encrypted, TLS-only bucket the S3 backend of every stack uses."""

    def __init__(self, scope: Construct, settings: Settings, bucket: str | None = None):
        super().__init__(scope, STACK_NAME)
        aws_provider(self, settings)
        # Chicken and egg: the state bucket cannot hold its own state before it exists.
        LocalBackend(self, path="terraform.payments-state.tfstate")
        account_id = DataAwsCallerIdentity(self, "caller").account_id
        partition = DataAwsPartition(self, "partition").partition
        key = KmsKey(
            self, "key", description="Terraform state of the payment platform",
            enable_key_rotation=True, deletion_window_in_days=30,
            policy=policy_document(Statement(
                sid="AccountAdministers", actions=["kms:*"],
                principals={"AWS": f"arn:{partition}:iam::{account_id}:root"})),
        )
        KmsAlias(self, "alias", name="alias/payment-terraform-state", target_key_id=key.key_id)
        self.bucket = SecureBucket(self, "state", SecureBucketProps(
            name=bucket or state_bucket_name(), kms_key_arn=key.arn, force_destroy=False))
        # Who read or wrote which state or audit object (the state holds every secret Terraform
        # knows): one trail for the account, see modules/trail.py.
        self.trail = DataEventTrail(self, "trail", DataEventTrailProps(
            name=TRAIL_NAME, log_bucket_name=f"payment-trail-logs-{account_id}",
            object_arn_prefixes=[f"{self.bucket.arn}/", f"arn:{partition}:s3:::{AUDIT_BUCKET_PREFIX}"],
            account_id=account_id, region=settings.region, partition=partition))
        TerraformOutput(self, "state-bucket", value=self.bucket.name)
        TerraformOutput(self, "state-key-arn", value=key.arn)
        if settings.rehearsal:
            apply_rehearsal_overrides(self)
