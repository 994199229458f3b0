"""Bootstrap stack for the Terraform state bucket itself and the key that encrypts every state, one
per account (the bucket is named after it).

Its own state goes into the bucket it creates: ``make bootstrap`` (scripts/bootstrap.py) applies it
with a local backend, then migrates that state into the bucket (docs/operators/state-and-bootstrap.md). The trail
that records who reads the states is the account stack's (modules/stacks/account_stack.py)."""

from __future__ import annotations

import dataclasses

from cdktf import TerraformOutput, TerraformProvider, TerraformStack
from constructs import Construct
from cdktf_cdktf_provider_aws.data_aws_caller_identity import DataAwsCallerIdentity
from cdktf_cdktf_provider_aws.data_aws_partition import DataAwsPartition
from cdktf_cdktf_provider_aws.kms_alias import KmsAlias
from cdktf_cdktf_provider_aws.kms_key import KmsKey

from modules.iam import Statement, policy_document
from modules.platform import (STATE_KEY_ALIAS, aws_provider, configure_backend, dr_provider,
                              state_bucket_name_in, state_region)
from modules.rehearsal import apply_rehearsal_overrides
from modules.settings import Settings
from modules.storage import SecureBucket, SecureBucketProps

STACK_NAME = "payments-state"
STATE_KEY = "payments/state/terraform.tfstate"
# Object writes the SSE-KMS statements cover: every state (workspaces too), not the lock files.
STATE_OBJECTS = "*.tfstate"
OBJECT_ACTIONS = ("s3:GetObject*", "s3:PutObject*", "s3:DeleteObject*", "s3:RestoreObject")


def state_bucket_statements(bucket_arn: str, key_arn: str, alias_arn: str, root_arn: str,
                            readers: tuple[str, ...]) -> list[Statement]:
    """Bucket-policy statements of the state bucket beyond TLS-only.

    The key-id condition sees the key as the writer named it, so the three names of the one key are
    accepted: its ARN, its alias ARN (what the backend sends) and the bare alias.
    A request without the header has no value and is denied (StringNotEquals on a missing key)."""
    states = f"{bucket_arn}/{STATE_OBJECTS}"
    statements = [
        Statement(
            sid="DenyStateWithoutSseKms", effect="Deny", actions=["s3:PutObject"],
            principals={"AWS": "*"}, resources=[states],
            conditions={"StringNotEquals": {"s3:x-amz-server-side-encryption": "aws:kms"}},
        ),
        Statement(
            sid="DenyStateUnderAnotherKey", effect="Deny", actions=["s3:PutObject"],
            principals={"AWS": "*"}, resources=[states],
            conditions={"StringNotEquals": {
                "s3:x-amz-server-side-encryption-aws-kms-key-id": [key_arn, alias_arn, STATE_KEY_ALIAS]}},
        ),
    ]
    if readers:
        # The account root stays listed: without it a wrong list would lock everyone out for good.
        statements.append(Statement(
            sid="DenyStateToUnlistedPrincipals", effect="Deny", actions=list(OBJECT_ACTIONS),
            principals={"AWS": "*"}, resources=[f"{bucket_arn}/*"],
            conditions={"ArnNotLike": {"aws:PrincipalArn": [root_arn, *readers]}},
        ))
    return statements


class StateBucketStack(TerraformStack):
    """Creates the versioned, KMS-encrypted, TLS-only bucket the S3 backend of every stack uses and,
    with ``dr_region``, its twin there: the standby's state (modules/stacks/standby_stack.py) must be
    readable while the state region is down. Each bucket has its own key under the same alias (an
    alias is regional), so each backend names ``alias/payment-terraform-state`` of its region."""

    def __init__(self, scope: Construct, settings: Settings, bucket: str | None = None):
        super().__init__(scope, STACK_NAME)
        region = state_region()
        # The bucket lives where the backend of every stack looks for it.
        aws_provider(self, dataclasses.replace(settings, region=region))
        configure_backend(self, settings, key=STATE_KEY)
        account_id = DataAwsCallerIdentity(self, "caller").account_id
        partition = DataAwsPartition(self, "partition").partition
        # Without PAYMENTS_ACCOUNT_ID the name comes from the caller's account at apply time.
        name = bucket or state_bucket_name_in(settings, account_id, region)
        self.bucket, key, alias = self._state_store("", name, settings, account_id, partition, None)
        TerraformOutput(self, "state-bucket", value=self.bucket.name,
                        description="S3 bucket holding every Terraform state of the account")
        TerraformOutput(self, "state-key-arn", value=key.arn,
                        description="KMS key encrypting the Terraform states")
        TerraformOutput(self, "state-key-alias-arn", value=alias.arn,
                        description="alias of the state key, as the S3 backend names it (kms_key_id)")
        self.dr_bucket: SecureBucket | None = None
        if settings.dr_region:
            dr_name = state_bucket_name_in(settings, account_id, settings.dr_region, dr=True)
            self.dr_bucket, _, _ = self._state_store("dr-", dr_name, settings, account_id, partition,
                                                     dr_provider(self, settings))
            TerraformOutput(self, "dr-state-bucket", value=self.dr_bucket.name,
                            description=f"S3 bucket holding the standby's state in {settings.dr_region}")
        if settings.rehearsal:
            apply_rehearsal_overrides(self)

    def _state_store(self, prefix: str, name: str, settings: Settings, account_id: str, partition: str,
                     provider: TerraformProvider | None) -> tuple[SecureBucket, KmsKey, KmsAlias]:
        """Key, alias and bucket of one region (``provider``'s; None: the state region)."""
        key = KmsKey(
            self, f"{prefix}key", description="Terraform state of the payment platform",
            enable_key_rotation=True, deletion_window_in_days=30, provider=provider,
            policy=policy_document(Statement(
                sid="AccountAdministers", actions=["kms:*"],
                principals={"AWS": f"arn:{partition}:iam::{account_id}:root"})),
        )
        alias = KmsAlias(self, f"{prefix}alias", name=STATE_KEY_ALIAS, target_key_id=key.key_id, provider=provider)
        root = f"arn:{partition}:iam::{account_id}:root"
        bucket = SecureBucket(self, f"{prefix}state", SecureBucketProps(
            name=name, kms_key_arn=key.arn, force_destroy=False, provider=provider,
            policy_statements=state_bucket_statements(
                f"arn:{partition}:s3:::{name}", key.arn, alias.arn, root, settings.state_readers)))
        return bucket, key, alias
