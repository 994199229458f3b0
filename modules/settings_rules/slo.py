"""Rules for the service level objectives and their burn-rate alarms (modules/slo_policy.py)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from modules.settings_rules.errors import SettingsError
from modules.slo_policy import ROUTES, ObjectiveError, check_objectives, parse_objectives

if TYPE_CHECKING:
    from modules.settings import Settings

# The workbook's factors assume a 30-day window; 7..90 days keeps every alert window (<= 3 days)
# well inside the budget window and the slowest factor >= 0.23x.
SLO_WINDOW_DAYS = (7, 90)


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
