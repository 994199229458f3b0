"""The rehearsal's account checks (account per environment, docs/operators/accounts.md):

- ``refuse_other_account``: a plan of the deployed environment with credentials of another account
  (moto hands them out through STS AssumeRole into that account) stops when the provider is
  configured, on ``allowed_account_ids``, before any resource or data source is read;
- ``check_api_logging``: API Gateway's account setting names the account stack's role and that role
  exists: after the account stack's apply, and again after an environment was destroyed (an
  environment that owned the setting took its role with it and the region's APIs stopped logging).
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any, Mapping

from scripts import terraform
from scripts.rehearsal.common import RehearsalError
from scripts.rehearsal.runners import record_step

# moto's default account (moto.core.DEFAULT_ACCOUNT_ID): the rehearsal's environment lives there.
ACCOUNT_ID = "123456789012"
# The account whose credentials a wrong-account plan uses (staging's or prod's, say).
OTHER_ACCOUNT_ID = "111111111111"
PROVIDER_OVERRIDE = "provider_override.tf.json"
# What Terraform prints when it reads a resource or a data source: none may appear before the refusal.
READ_MARKERS = ("Refreshing state...", "Reading...", "Read complete")


def other_account_credentials(sts: Any) -> dict[str, str]:
    """Temporary credentials of a role in OTHER_ACCOUNT_ID (moto answers GetCallerIdentity with the
    assumed role's account for them)."""
    creds = sts.assume_role(RoleArn=f"arn:aws:iam::{OTHER_ACCOUNT_ID}:role/payment-ci-plan-staging",
                            RoleSessionName="wrong-account")["Credentials"]
    return {"access_key": creds["AccessKeyId"], "secret_key": creds["SecretAccessKey"],
            "token": creds["SessionToken"]}


def refuse_other_account(stack_dir: Path, env: Mapping[str, str], sts: Any, logs: Path, niceness: int = 0) -> str:
    """``terraform plan`` of ``stack_dir`` with the provider's credentials swapped for another
    account's (a Terraform override file, removed again): it must fail on the account check, having
    read nothing. ``-lock=false``: the refused plan must not leave the state lock behind either."""
    override = stack_dir / PROVIDER_OVERRIDE
    override.write_text(json.dumps({"provider": {"aws": [other_account_credentials(sts)]}}))
    started = time.perf_counter()
    try:
        proc = terraform.run(stack_dir, ["plan", "-input=false", "-no-color", "-lock=false"], env=dict(env),
                             check=False, niceness=niceness)
    finally:
        override.unlink(missing_ok=True)
    logs.mkdir(parents=True, exist_ok=True)
    (logs / "plan-other-account.log").write_text(proc.stdout or "")
    record_step(logs, "terraform plan (plan-other-account)", started)
    refusal = f"AWS account ID not allowed: {OTHER_ACCOUNT_ID}"
    if proc.returncode == 0 or refusal not in proc.stdout:
        raise RehearsalError(f"a plan with account {OTHER_ACCOUNT_ID}'s credentials was not refused "
                             f"(exit {proc.returncode}):\n{proc.stdout[-3000:]}")
    reads = [line for line in proc.stdout.splitlines() if any(m in line for m in READ_MARKERS)]
    if reads:
        raise RehearsalError(f"the wrong-account plan read before it was refused: {reads[:5]}")
    return f"plan with account {OTHER_ACCOUNT_ID}'s credentials refused ({refusal!r}), nothing read"


def check_api_logging(apigateway: Any, iam: Any, role_arn: str, when: str) -> str:
    """API Gateway's account setting names ``role_arn`` and the role exists."""
    current = apigateway.get_account().get("cloudwatchRoleArn")
    if current != role_arn:
        raise RehearsalError(f"{when}: API Gateway's account logs with {current!r}, not {role_arn}")
    name = role_arn.rsplit("/", 1)[1]
    try:
        iam.get_role(RoleName=name)
    except iam.exceptions.NoSuchEntityException:
        raise RehearsalError(f"{when}: API Gateway's logging role {name} no longer exists") from None
    return f"{when}: API Gateway logs with {name} (exists)"
