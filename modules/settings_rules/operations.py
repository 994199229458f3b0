"""Rules for alarms, alert subscriptions and the CodeDeploy release configuration."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from modules.settings_rules.errors import SettingsError

if TYPE_CHECKING:
    from modules.settings import Settings

# CodeDeploy's predefined Lambda traffic-shifting configurations.
LAMBDA_DEPLOYMENT_CONFIGS = tuple(
    f"CodeDeployDefault.Lambda{kind}" for kind in (
        "AllAtOnce", "Canary10Percent5Minutes", "Canary10Percent10Minutes", "Canary10Percent15Minutes",
        "Canary10Percent30Minutes", "Linear10PercentEvery1Minute", "Linear10PercentEvery2Minutes",
        "Linear10PercentEvery3Minutes", "Linear10PercentEvery10Minutes"))
NON_NEGATIVE = ("alarm_api_p99_latency_ms", "alarm_api_5xx_count", "alarm_function_errors",
                "alarm_function_throttles", "alarm_dynamodb_throttles")
# What the checks below accept, in words: the settings reference (docs/maintainers/settings.md) prints it.
RULES = {
    **{name: "must not be negative" for name in NON_NEGATIVE},
    "alarm_period_seconds": "must be 10, 30 or a multiple of 60",
    "alarm_aurora_cpu_percent": "must be 1..100",
    "deployment_config": "a CodeDeployDefault.Lambda* configuration (LAMBDA_DEPLOYMENT_CONFIGS)",
    "alert_https_endpoints": "comma-separated https:// URLs",
}


def check_operations(s: Settings) -> None:
    """Alarm thresholds and period, deployment config, alert endpoints."""
    for name in NON_NEGATIVE:
        if getattr(s, name) < 0:
            raise SettingsError(name, f"{getattr(s, name)} {RULES[name]}")
    if s.alarm_period_seconds not in (10, 30) and (s.alarm_period_seconds < 60 or s.alarm_period_seconds % 60):
        raise SettingsError("alarm_period_seconds", RULES["alarm_period_seconds"])
    if not 1 <= s.alarm_aurora_cpu_percent <= 100:
        raise SettingsError("alarm_aurora_cpu_percent", RULES["alarm_aurora_cpu_percent"])
    if s.deployment_config not in LAMBDA_DEPLOYMENT_CONFIGS:
        raise SettingsError("deployment_config", f"{s.deployment_config!r} is not one of {LAMBDA_DEPLOYMENT_CONFIGS}")
    for url in s.https_alert_endpoints:
        if not re.match(r"^https://[^\s]+$", url):
            raise SettingsError("alert_https_endpoints", f"{url!r} is not an https:// URL")
