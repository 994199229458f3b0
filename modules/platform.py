"""Provider, state backend and rehearsal wiring shared by every stack of the app."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Mapping

from cdktf import LocalBackend, S3Backend, TerraformStack
from cdktf_cdktf_provider_aws.provider import AwsProvider, AwsProviderDefaultTags, AwsProviderEndpoints

from modules.settings import PROJECT_ROOT, Settings

BACKEND_FILE = PROJECT_ROOT / "backend.tf.json"

# Services the stacks talk to; in rehearsal each one is pointed at the local endpoint.
REHEARSAL_SERVICES = (
    "apigateway", "cloudwatch", "cloudwatchlogs", "codedeploy", "dynamodb", "ec2", "iam", "kms",
    "lambda", "rds", "s3", "secretsmanager", "sns", "sqs", "ssm", "sts", "wafv2", "xray",
    "dms", "events", "route53",  # the migration (issue 15)
)
REHEARSAL_KEY = "test"  # moto accepts any key; these are not credentials.


def aws_provider(stack: TerraformStack, settings: Settings) -> AwsProvider:
    """The hashicorp/aws provider with the common tags; pointed at the local endpoint in rehearsal."""
    rehearsal: dict[str, object] = {}
    if settings.rehearsal:
        rehearsal = dict(
            access_key=REHEARSAL_KEY,
            secret_key=REHEARSAL_KEY,
            skip_credentials_validation=True,
            skip_metadata_api_check="true",
            # moto's STS answers; with the account id empty, execute-api ARNs break.
            skip_requesting_account_id=False,
            s3_use_path_style=True,
            max_retries=3,  # an action moto lacks would otherwise retry for over ten minutes
            # The Python binding spells the `lambda` endpoint `lambda_` (a Python keyword).
            endpoints=[AwsProviderEndpoints(**{("lambda_" if s == "lambda" else s): settings.aws_endpoint
                                               for s in REHEARSAL_SERVICES})],
        )
    return AwsProvider(
        stack, "aws",
        region=settings.region,
        default_tags=[AwsProviderDefaultTags(tags=settings.tags)],
        **rehearsal,
    )


def read_backend_defaults(path: Path = BACKEND_FILE) -> dict[str, object]:
    """The ``terraform.backend.s3`` block of backend.tf.json."""
    return dict(json.loads(path.read_text())["terraform"]["backend"]["s3"])


def state_bucket_name(env: Mapping[str, str] | None = None) -> str:
    env = os.environ if env is None else env
    return env.get("PAYMENTS_STATE_BUCKET") or str(read_backend_defaults()["bucket"])


def configure_backend(stack: TerraformStack, settings: Settings,
                      env: Mapping[str, str] | None = None) -> None:
    """S3 backend with lock files from backend.tf.json, or a local one (PAYMENTS_BACKEND=local)."""
    env = os.environ if env is None else env
    if env.get("PAYMENTS_BACKEND", "s3") == "local":
        LocalBackend(stack, path=f"terraform.{settings.environment}.tfstate")
        return
    defaults = read_backend_defaults()
    endpoint = env.get("PAYMENTS_STATE_ENDPOINT") or settings.aws_endpoint
    local_endpoint: dict[str, object] = {}
    if endpoint:
        local_endpoint = dict(
            endpoints={"s3": endpoint, "sts": endpoint}, use_path_style=True,
            skip_credentials_validation=True, skip_requesting_account_id=True,
            skip_metadata_api_check=True, skip_region_validation=True,
            access_key=REHEARSAL_KEY, secret_key=REHEARSAL_KEY,
        )
    S3Backend(
        stack,
        bucket=state_bucket_name(env),
        key=str(defaults["key"]).format(environment=settings.environment),
        region=env.get("PAYMENTS_STATE_REGION") or str(defaults["region"]),
        encrypt=bool(defaults["encrypt"]),
        **local_endpoint,
    )
    # cdktf 0.21's S3Backend has no use_lockfile (Terraform >= 1.10 S3-native locking).
    stack.add_override("terraform.backend.s3.use_lockfile", bool(defaults["use_lockfile"]))
