"""Rules for the service level objectives, their burn-rate alarms (modules/slo_policy.py) and the
business metrics' merchant allow-list."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from modules.payment_limits import layer_module

from modules.settings_rules.errors import SettingsError
from modules.slo_policy import ROUTES, ObjectiveError, check_objectives, parse_objectives

if TYPE_CHECKING:
    from modules.settings import Settings

# The workbook's factors assume a 30-day window; 7..90 days keeps every alert window (<= 3 days)
# well inside the budget window and the slowest factor >= 0.23x.
SLO_WINDOW_DAYS = (7, 90)
# What the checks below accept, in words: the settings reference (docs/maintainers/settings.md) prints it.
RULES = {
    "slo_window_days": "must be {}..{} days".format(*SLO_WINDOW_DAYS),
    "slo_objectives": "`route:availability=<%>:latency=<%>:latency_ms=<ms>,...` overrides of the defaults in "
                      "modules/slo_policy.py; every objective's fastest alert must be able to fire",
    "slo_alarm_routes": f"`none` or routes among {', '.join(ROUTES)}, each once",
    "slo_latency_alarms": "any (latency burn-rate alarms beside the availability ones)",
    "metrics_merchants": "comma-separated merchant (app client) ids, at most the functions' cap (20); others are `other`",
}


def check_slo(s: Settings) -> None:
    """Objectives readable and reachable, window in range, alarm routes known and not repeated."""
    low, high = SLO_WINDOW_DAYS
    if not low <= s.slo_window_days <= high:
        raise SettingsError("slo_window_days", f"{s.slo_window_days} must be {low}..{high}")
    try:
        check_objectives(parse_objectives(s.slo_objectives), s.slo_window_days)
    except ObjectiveError as error:
        raise SettingsError("slo_objectives", str(error)) from None
    for route in s.slo_routes:
        if route not in ROUTES:
            raise SettingsError("slo_alarm_routes", f"{route!r} is not a route ({', '.join(ROUTES)})")
    if len(set(s.slo_routes)) != len(s.slo_routes):
        raise SettingsError("slo_alarm_routes", "a route is named twice")
    _check_metrics_merchants(s)


def _check_metrics_merchants(s: Settings) -> None:
    """The Merchant dimension's allow-list: merchant ids, at most the functions' own cap (each
    merchant is two more custom metrics, $0.30 a month each)."""
    cap = layer_module("metrics").MAX_MERCHANTS
    merchants = [m.strip() for m in s.metrics_merchants.split(",") if m.strip()]
    if len(merchants) > cap:
        raise SettingsError("metrics_merchants", f"{len(merchants)} merchants; at most {cap}")
    for merchant in merchants:
        if not re.fullmatch(r"[A-Za-z0-9]{1,128}", merchant):
            raise SettingsError("metrics_merchants", f"{merchant!r} is not a merchant (app client) id")
