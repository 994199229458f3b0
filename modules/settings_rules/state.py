"""Rules for the state backend, CI trust (GitHub OIDC) and the rehearsal endpoint."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from modules.settings_rules.errors import SettingsError

if TYPE_CHECKING:
    from modules.settings import Settings

ACCOUNT_PATTERN = re.compile(r"^\d{12}$")
GITHUB_REPOSITORY_PATTERN = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9-]{0,38})/[A-Za-z0-9._-]{1,100}$")
ROLE_ARN_PATTERN = re.compile(r"^arn:aws(-cn|-us-gov)?:iam::\d{12}:role/[A-Za-z0-9+=,.@_/-]{1,512}$")
# What the checks below accept, in words: the settings reference (docs/maintainers/settings.md) prints it.
RULES = {
    "account_id": "empty or a 12-digit AWS account id",
    "state_bucket": "empty (derived) or a name S3 accepts for a general purpose bucket",
    "state_reader_arns": "comma-separated IAM role ARNs",
    "github_repository": "empty or `owner/repo`",
    "aws_endpoint": "empty (real AWS) or an http(s) URL",
}


def check_state(s: Settings) -> None:
    """Account, state bucket and readers, GitHub repository, rehearsal endpoint."""
    if s.account_id and not ACCOUNT_PATTERN.match(s.account_id):
        raise SettingsError("account_id", f"{s.account_id!r} is not a 12-digit AWS account id")
    if s.state_bucket and (problem := bucket_name_problem(s.state_bucket)):
        raise SettingsError("state_bucket", f"{s.state_bucket!r} is not a valid S3 bucket name: {problem}")
    for arn in s.state_readers:
        if not ROLE_ARN_PATTERN.match(arn):
            raise SettingsError("state_reader_arns", f"{arn!r} is not an IAM role ARN")
    if s.github_repository and not GITHUB_REPOSITORY_PATTERN.match(s.github_repository):
        raise SettingsError("github_repository", f"{s.github_repository!r} is not owner/repo")
    if s.aws_endpoint and not re.match(r"^https?://[^\s/]+(:\d+)?/?$", s.aws_endpoint):
        raise SettingsError("aws_endpoint", f"{s.aws_endpoint!r} is not an http(s) URL")


def bucket_name_problem(name: str) -> str | None:
    """Why S3 would refuse ``name`` as a general purpose bucket name, or None."""
    if not 3 <= len(name) <= 63:
        return "must be 3 to 63 characters"
    if not re.fullmatch(r"[a-z0-9][a-z0-9.-]*[a-z0-9]", name):
        return "must be lowercase letters, digits, dots and hyphens, starting and ending with a letter or digit"
    if ".." in name or ".-" in name or "-." in name:
        return "must not have adjacent dots or a dot next to a hyphen"
    if re.fullmatch(r"\d{1,3}(\.\d{1,3}){3}", name):
        return "must not look like an IP address"
    for prefix in ("xn--", "sthree-", "amzn-s3-demo-"):
        if name.startswith(prefix):
            return f"must not start with {prefix!r} (reserved)"
    for suffix in ("-s3alias", "--ol-s3", ".mrap", "--x-s3", "--table-s3"):
        if name.endswith(suffix):
            return f"must not end with {suffix!r} (reserved)"
    return None
