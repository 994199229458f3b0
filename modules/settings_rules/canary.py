"""Rules for the synthetic merchant (modules/canary.py): its schedule, its name, and the migration's
dependence on it."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from modules.settings_rules.errors import SettingsError

if TYPE_CHECKING:
    from modules.settings import Settings

# scripts/merchant_resources.py NAME_PATTERN: the canary is onboarded like any merchant.
MERCHANT_NAME = re.compile(r"^[a-z][a-z0-9-]{1,30}[a-z0-9]$")
# EventBridge rate() in minutes; above an hour a broken API goes unnoticed longer than any page allows.
INTERVAL_MINUTES = (1, 60)
# Runs in a row before the alarm: 1 pages on one blip; more than 5 is a health check that keeps
# sending merchants to a broken API for half an hour at the default interval.
FAILED_RUNS = (1, 5)
RULES = {
    "canary_enabled": "any; must be on when migration_enabled (the new API's Route 53 health check is "
                      "the canary's alarm)",
    "canary_merchant": "a merchant name (lowercase letters, digits, inner hyphens, 3-32 characters)",
    "canary_interval_minutes": "must be {}..{} minutes".format(*INTERVAL_MINUTES),
    "canary_failed_runs": "must be {}..{} runs".format(*FAILED_RUNS),
}


def check_canary(s: Settings) -> None:
    """Name onboardable, schedule and alarm in range, on wherever the migration reads it."""
    if not MERCHANT_NAME.match(s.canary_merchant):
        raise SettingsError("canary_merchant", f"{s.canary_merchant!r}: {RULES['canary_merchant']}")
    low, high = INTERVAL_MINUTES
    if not low <= s.canary_interval_minutes <= high:
        raise SettingsError("canary_interval_minutes", f"{s.canary_interval_minutes} {RULES['canary_interval_minutes']}")
    low, high = FAILED_RUNS
    if not low <= s.canary_failed_runs <= high:
        raise SettingsError("canary_failed_runs", f"{s.canary_failed_runs} {RULES['canary_failed_runs']}")
    if s.migration_enabled and not s.canary_enabled:
        raise SettingsError("canary_enabled", "the migration needs the canary: Route 53 sends merchants to "
                                              "the new API only while the canary's alarm is OK")
