"""Rules for the organisation's guardrails (the payments-guardrails stack, docs/operators/guardrails.md)."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from modules.settings_rules.environment import REGION_PATTERN
from modules.settings_rules.errors import SettingsError
from modules.settings_rules.state import ACCOUNT_PATTERN

if TYPE_CHECKING:
    from modules.settings import Settings

# What an SCP can be attached to: an organizational unit, an account (the root is left out on
# purpose: it would put the guardrails on every account of the organisation, not the platform's).
OU_PATTERN = re.compile(r"^ou-[0-9a-z]{4,32}-[a-z0-9]{8,32}$")
# A role ARN, the account and the path/name may carry IAM wildcards (the same role in every account).
BREAK_GLASS_PATTERN = re.compile(r"^arn:aws(-cn|-us-gov)?:iam::(\d{12}|\*):role/(?P<name>[A-Za-z0-9+=,.@_/*?-]{1,512})$")
# What the checks below accept, in words: the settings reference (docs/maintainers/settings.md) prints it.
RULES = {
    "guardrails_targets": "OU ids (`ou-...`) or 12-digit account ids, comma-separated; never the management "
                          "account; empty: no payments-guardrails stack",
    "management_account_id": "a 12-digit account id; required with guardrails_targets",
    "break_glass_role_arn": "an IAM role ARN (the account may be `*`) whose name is not only wildcards",
    "guardrails_regions": "AWS region names including the platform's region; the state region is always added",
}


def check_guardrails(s: Settings) -> None:
    """Targets, management account, break-glass role and regions of the SCPs."""
    for target in s.guardrail_targets:
        if not (OU_PATTERN.match(target) or ACCOUNT_PATTERN.match(target)):
            raise SettingsError("guardrails_targets", f"{target!r} is neither an OU id (ou-...) nor a 12-digit "
                                                      "account id")
    if s.management_account_id and not ACCOUNT_PATTERN.match(s.management_account_id):
        raise SettingsError("management_account_id", f"{s.management_account_id!r} is not a 12-digit AWS account id")
    if s.guardrail_targets and not s.management_account_id:
        raise SettingsError("management_account_id", "is required with guardrails_targets: the SCPs are applied "
                                                     "in the management account, and only there")
    if s.management_account_id in s.guardrail_targets:
        raise SettingsError("guardrails_targets", "the management account is not a target: SCPs never "
                                                  "restrict it (AWS Organizations)")
    glass = BREAK_GLASS_PATTERN.match(s.break_glass_role_arn)
    if not glass:
        raise SettingsError("break_glass_role_arn", f"{s.break_glass_role_arn!r} is not an IAM role ARN "
                                                    "(arn:aws:iam::<account or *>:role/<name>)")
    if not glass["name"].strip("*?/"):
        raise SettingsError("break_glass_role_arn", f"{s.break_glass_role_arn!r} matches every role: the "
                                                    "guardrails would restrict nobody")
    regions = s.guardrail_regions
    for region in regions:
        if not REGION_PATTERN.match(region):
            raise SettingsError("guardrails_regions", f"{region!r} is not an AWS region name")
    if regions and s.region not in regions:
        raise SettingsError("guardrails_regions", f"must include the platform's region {s.region}, or the "
                                                  "guardrails deny the platform itself")
