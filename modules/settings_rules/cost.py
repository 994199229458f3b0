"""Rules for the cost levers (docs/maintainers/cost.md): NAT, endpoints, Aurora capacity, alarm set."""

from __future__ import annotations

from typing import TYPE_CHECKING

from modules.settings_rules.errors import SettingsError

if TYPE_CHECKING:
    from modules.settings import Settings

# The Aurora PostgreSQL version of the customer database (modules/data.py). It lives here because
# whether the cluster may scale to zero depends on it.
AURORA_ENGINE_VERSION = "15.8"
# First version of each Aurora PostgreSQL major that supports a minimum capacity of 0 ACUs
# (Serverless v2 auto-pause), from the "Aurora Serverless v2 capacity" table of the Aurora User Guide.
AUTO_PAUSE_MIN_VERSIONS = {13: (13, 15), 14: (14, 12), 15: (15, 7), 16: (16, 3)}
# AWS's range for SecondsUntilAutoPause (5 minutes .. 1 day).
AUTO_PAUSE_SECONDS_RANGE = (300, 86_400)
# Aurora allows up to 15 replicas per cluster.
MAX_AURORA_READERS = 15
# "essential": only the alarms CodeDeploy rolls back on (function errors, API 5xx and p99 latency);
# "full": those plus throttling, DynamoDB, Aurora CPU and the composite "payments degraded" alarm.
ALARM_SETS = ("essential", "full")
# What the checks below accept, in words: the settings reference (docs/maintainers/settings.md) prints it.
RULES = {
    "nat_gateways": "must be between 0 and 3 (one per AZ)",
    "aurora_min_capacity": ("0 (auto-pause, if the engine supports it) or 0.5..256 ACU in 0.5 steps; at most "
                            "aurora_max_capacity; production at least 0.5"),
    "aurora_max_capacity": "1..256 ACU",
    "aurora_seconds_until_auto_pause": "{}..{} seconds".format(*AUTO_PAUSE_SECONDS_RANGE),
    "aurora_readers": f"0..{MAX_AURORA_READERS}; production at least 1",
    "interface_endpoint_azs": "1..3",
    "alarm_set": " or ".join(f"`{name}`" for name in ALARM_SETS),
    "functions_in_vpc": "production: always true",
    "waf_enabled": "production: always true",
}


def check_capacity(s: Settings) -> None:
    """Capacity levers, and the resilience production keeps whatever the overrides."""
    if not 0 <= s.nat_gateways <= 3:
        raise SettingsError("nat_gateways", f"{s.nat_gateways} {RULES['nat_gateways']}")
    if not (s.aurora_min_capacity == 0 or 0.5 <= s.aurora_min_capacity <= 256) or (s.aurora_min_capacity * 2) % 1:
        raise SettingsError("aurora_min_capacity",
                            f"{s.aurora_min_capacity} must be 0 (auto-pause) or 0.5..256 ACU in 0.5 steps")
    if s.aurora_min_capacity == 0 and not auto_pause_supported(AURORA_ENGINE_VERSION):
        raise SettingsError("aurora_min_capacity",
                            f"0 needs an engine that supports auto-pause; Aurora PostgreSQL "
                            f"{AURORA_ENGINE_VERSION} does not (see AUTO_PAUSE_MIN_VERSIONS)")
    low, high = AUTO_PAUSE_SECONDS_RANGE
    if not low <= s.aurora_seconds_until_auto_pause <= high:
        raise SettingsError("aurora_seconds_until_auto_pause",
                            f"{s.aurora_seconds_until_auto_pause} must be {low}..{high} seconds")
    if not 0 <= s.aurora_readers <= MAX_AURORA_READERS:
        raise SettingsError("aurora_readers", f"{s.aurora_readers} must be 0..{MAX_AURORA_READERS}")
    if not 1 <= s.interface_endpoint_azs <= 3:
        raise SettingsError("interface_endpoint_azs", f"{s.interface_endpoint_azs} must be 1..3")
    if s.alarm_set not in ALARM_SETS:
        raise SettingsError("alarm_set", f"{s.alarm_set!r} is not one of {ALARM_SETS}")
    if s.is_production:
        # Production keeps its resilience whatever the overrides: no 15 s resume on the payment path,
        # a reader to fail over to, and the WAF in front of the API.
        if s.aurora_min_capacity == 0:
            raise SettingsError("aurora_min_capacity", "production never pauses: must be at least 0.5 ACU")
        if s.aurora_readers < 1:
            raise SettingsError("aurora_readers", "production needs at least one reader to fail over to")
        if not s.functions_in_vpc:
            raise SettingsError("functions_in_vpc", "production functions always run in the private subnets")
        if not s.waf_enabled:
            raise SettingsError("waf_enabled", "production always has the WAF in front of the API")
    if not 1 <= s.aurora_max_capacity <= 256:
        raise SettingsError("aurora_max_capacity", f"{s.aurora_max_capacity} must be 1..256 ACU")
    if s.aurora_min_capacity > s.aurora_max_capacity:
        raise SettingsError(
            "aurora_min_capacity",
            f"{s.aurora_min_capacity} is above aurora_max_capacity {s.aurora_max_capacity}",
        )


def auto_pause_supported(version: str) -> bool:
    """Whether Aurora PostgreSQL ``version`` (e.g. "15.8") may scale to 0 ACUs (auto-pause)."""
    try:
        major, minor = (int(part) for part in version.split(".")[:2])
    except ValueError:
        return False
    first = AUTO_PAUSE_MIN_VERSIONS.get(major)
    if first is None:
        return major > max(AUTO_PAUSE_MIN_VERSIONS)
    return (major, minor) >= first
