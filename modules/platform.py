"""Provider, state backend and rehearsal wiring shared by every stack of the app."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import Mapping

from cdktf import LocalBackend, S3Backend, TerraformStack
from cdktf_cdktf_provider_aws.provider import AwsProvider, AwsProviderDefaultTags, AwsProviderEndpoints

from modules.settings import PROJECT_ROOT, Settings

BACKEND_FILE = PROJECT_ROOT / "backend.tf.json"
# The dependency lock file (hashicorp/aws 5.100.0 and its verified hashes), committed at the root.
LOCK_FILE = PROJECT_ROOT / ".terraform.lock.hcl"

# Services the stacks talk to; in rehearsal each one is pointed at the local endpoint.
REHEARSAL_SERVICES = (
    "apigateway", "backup", "cloudtrail", "cloudwatch", "cloudwatchlogs", "codedeploy", "cognitoidp",
    "dynamodb", "ec2", "iam", "kms", "lambda", "rds", "s3", "secretsmanager", "sns", "sqs", "ssm", "sts",
    "wafv2", "xray",
    "dms", "events", "route53",  # the migration (issue 15)
)
REHEARSAL_KEY = "test"  # moto accepts any key; these are not credentials.
# The state key's alias (modules/stacks/state_stack.py creates it); the backend names the key through it.
STATE_KEY_ALIAS = "alias/payment-terraform-state"


def aws_provider(stack: TerraformStack, settings: Settings, region: str | None = None,
                 alias: str | None = None) -> AwsProvider:
    """The hashicorp/aws provider with the common tags; pointed at the local endpoint in rehearsal.
    ``region``/``alias``: a second provider of the same account in another region (the
    disaster-recovery region's, ``dr_provider``).

    With the environment's account known, ``allowed_account_ids`` pins it: credentials of any other
    account (another environment's role, a profile left on the wrong account) fail when the provider
    is configured, before it reads or changes anything."""
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
        stack, f"aws-{alias}" if alias else "aws", alias=alias,
        region=region or settings.region,
        allowed_account_ids=[settings.account_id] if settings.account_id else None,
        default_tags=[AwsProviderDefaultTags(tags=settings.tags)],
        **rehearsal,
    )


DR_ALIAS = "dr"


def dr_provider(stack: TerraformStack, settings: Settings) -> AwsProvider:
    """The provider of the disaster-recovery region (``dr_region``): same account, same tags."""
    return aws_provider(stack, settings, region=settings.dr_region, alias=DR_ALIAS)


def read_backend_defaults(path: Path = BACKEND_FILE) -> dict[str, object]:
    """The ``terraform.backend.s3`` block of backend.tf.json."""
    return dict(json.loads(path.read_text())["terraform"]["backend"]["s3"])


def partition(region: str) -> str:
    """The ARN partition of a region (``aws``, ``aws-cn``, ``aws-us-gov``)."""
    if region.startswith("cn-"):
        return "aws-cn"
    return "aws-us-gov" if region.startswith("us-gov-") else "aws"


def state_region(env: Mapping[str, str] | None = None) -> str:
    env = os.environ if env is None else env
    return env.get("PAYMENTS_STATE_REGION") or str(read_backend_defaults()["region"])


def _fill(template: str, settings: Settings, region: str) -> str:
    return template.format(account_id=settings.account_id, region=region, partition=partition(region))


def state_bucket_name(settings: Settings, env: Mapping[str, str] | None = None, dr: bool = False) -> str | None:
    """PAYMENTS_STATE_BUCKET, else the account's name from backend.tf.json; None without an account id.
    ``dr``: the state bucket in ``dr_region`` (the standby's state: PAYMENTS_DR_STATE_BUCKET, else the
    same template filled with that region).

    A literal, because Terraform reads the backend before anything else. The default name carries
    the account id so nobody outside the account can register it first."""
    explicit = settings.dr_state_bucket if dr else settings.state_bucket
    if explicit:
        return explicit
    if not settings.account_id:
        return None
    return _fill(str(read_backend_defaults()["bucket"]), settings, settings.dr_region if dr else state_region(env))


def state_bucket_name_in(settings: Settings, account_id: str, region: str, dr: bool = False) -> str:
    """The state bucket's name inside a stack: the literal when known, else the backend.tf.json
    default filled with the account the stack is applied in (a token). ``region``: the bucket's."""
    return state_bucket_name(settings, dr=dr) or str(read_backend_defaults()["bucket"]).format(
        account_id=account_id, region=region)


def state_bucket_patterns(settings: Settings, account_id: str) -> tuple[str, ...]:
    """Every state bucket of the account, in any region: the backend.tf.json name with region ``*``,
    or the names given by PAYMENTS_STATE_BUCKET / PAYMENTS_DR_STATE_BUCKET."""
    if settings.state_bucket:
        return tuple(b for b in (settings.state_bucket, settings.dr_state_bucket) if b)
    return (str(read_backend_defaults()["bucket"]).format(account_id=settings.account_id or account_id, region="*"),)


def state_kms_key_id(settings: Settings, env: Mapping[str, str] | None = None, dr: bool = False) -> str:
    """The state key as the backend names it: the alias ARN (fully qualified, so it resolves in the
    state account, not the caller's); the bare alias when the account id is not set. ``dr``: the
    state key of ``dr_region`` (the same alias there)."""
    if not settings.account_id:
        return STATE_KEY_ALIAS
    return _fill(str(read_backend_defaults()["kms_key_id"]), settings, settings.dr_region if dr else state_region(env))


def configure_backend(stack: TerraformStack, settings: Settings, key: str | None = None,
                      env: Mapping[str, str] | None = None, dr: bool = False) -> None:
    """S3 backend from backend.tf.json: SSE-KMS under the state key, lock file next to the state.

    ``dr``: the state bucket and key in ``dr_region`` (the standby's: it must be planned and applied
    while the state region is down; modules/stacks/state_stack.py creates them).

    ``key`` defaults to the environment's state key. Without a bucket (no PAYMENTS_ACCOUNT_ID or
    PAYMENTS_STATE_BUCKET) the block is a partial configuration: synth works, ``terraform init``
    stops with "bucket: required field is not set" instead of guessing a bucket.
    PAYMENTS_BACKEND=local selects a local backend instead.
    """
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
    bucket = state_bucket_name(settings, env, dr=dr)
    S3Backend(
        stack,
        bucket=bucket or "",
        key=key or str(defaults["key"]).format(environment=settings.environment),
        region=settings.dr_region if dr else state_region(env),
        encrypt=bool(defaults["encrypt"]),
        kms_key_id=state_kms_key_id(settings, env, dr=dr),
        **local_endpoint,
    )
    if bucket is None:
        stack.add_override("terraform.backend.s3.bucket", None)
    elif settings.account_id and not endpoint:
        # The backend checks the caller's account too (Terraform >= 1.6): `terraform init` with
        # another account's credentials stops before reading the state (cdktf 0.21 has no argument).
        stack.add_override("terraform.backend.s3.allowed_account_ids", [settings.account_id])
    # cdktf 0.21's S3Backend has no use_lockfile (Terraform >= 1.10 S3-native locking).
    stack.add_override("terraform.backend.s3.use_lockfile", bool(defaults["use_lockfile"]))


def place_lock_file(outdir: str | Path, lock_file: Path = LOCK_FILE) -> list[Path]:
    """Copy the committed lock file into every stack directory of a synthesized app.

    Terraform then installs exactly the locked provider and checks it against the locked hashes,
    whatever installs it (registry or filesystem mirror); and the cdktf CLI, which runs
    ``terraform providers lock`` (registry only, ignoring a mirror) when a stack has no lock file,
    leaves it alone. Same bytes every synth, so synth stays deterministic.
    """
    outdir = Path(outdir)
    manifest = json.loads((outdir / "manifest.json").read_text())
    placed = []
    for stack in manifest["stacks"].values():
        target = outdir / stack["workingDirectory"] / lock_file.name
        shutil.copyfile(lock_file, target)
        placed.append(target)
    return placed
