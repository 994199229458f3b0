"""Rules for the environment itself: its name, region and alert address."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from modules.settings_rules.errors import SettingsError

if TYPE_CHECKING:
    from modules.settings import Settings

ENVIRONMENT_PATTERN = re.compile(r"^[a-z][a-z0-9]{1,11}$")
EMAIL_PATTERN = re.compile(r"^[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}$")
REGION_PATTERN = re.compile(r"^[a-z]{2}(-gov)?-[a-z]+-\d$")
# What the checks below accept, in words: the settings reference (docs/maintainers/settings.md) prints it.
RULES = {
    "environment": f"must match `{ENVIRONMENT_PATTERN.pattern}`",
    "region": f"an AWS region name (`{REGION_PATTERN.pattern}`)",
    "alert_email": "an e-mail address",
}


def check_environment(s: Settings) -> None:
    """Name, region and alert e-mail."""
    if not ENVIRONMENT_PATTERN.match(s.environment):
        raise SettingsError("environment", f"{s.environment!r} must match {ENVIRONMENT_PATTERN.pattern}")
    if not REGION_PATTERN.match(s.region):
        raise SettingsError("region", f"{s.region!r} is not an AWS region name")
    if not EMAIL_PATTERN.match(s.alert_email):
        raise SettingsError("alert_email", f"{s.alert_email!r} is not an e-mail address")
