"""Log groups: every one the platform writes to is created explicitly, with the environment's
retention and the platform KMS key, so nothing relies on implicit creation (which keeps logs forever,
unencrypted)."""

from __future__ import annotations

from constructs import Construct
from cdktf_cdktf_provider_aws.cloudwatch_log_group import CloudwatchLogGroup

from modules.settings import Settings


def encrypted_log_group(scope: Construct, id: str, name: str, settings: Settings,
                        kms_key_arn: str) -> CloudwatchLogGroup:
    return CloudwatchLogGroup(scope, id, name=name, retention_in_days=settings.log_retention_days,
                              kms_key_id=kms_key_arn)
