"""Rules for the disaster-recovery region (modules/disaster_recovery.py)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from modules.settings_rules.errors import SettingsError
from modules.settings_rules.environment import REGION_PATTERN

if TYPE_CHECKING:
    from modules.settings import Settings

# DynamoDB's ReplicationLatency is typically well under a second between US regions; the alarm
# needs a threshold above that, and an RPO above a minute is not a warm standby any more.
RPO_SECONDS = (1, 60)
RULES = {
    "dr_region": "empty (one region), or an AWS region name other than `region`",
    "dr_rpo_seconds": "must be {}..{} seconds".format(*RPO_SECONDS),
}


def check_disaster_recovery(s: Settings) -> None:
    """A real region other than the platform's; an RPO the alarm can hold."""
    if s.dr_region and not REGION_PATTERN.match(s.dr_region):
        raise SettingsError("dr_region", f"{s.dr_region!r} is not an AWS region name")
    if s.dr_region == s.region:
        raise SettingsError("dr_region", f"{s.dr_region} is the platform's region: a replica there survives nothing")
    low, high = RPO_SECONDS
    if not low <= s.dr_rpo_seconds <= high:
        raise SettingsError("dr_rpo_seconds", f"{s.dr_rpo_seconds} {RULES['dr_rpo_seconds']}")
