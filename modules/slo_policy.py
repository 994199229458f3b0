"""Service level objectives of the payment API and the burn-rate alert policy built on them.

Pure Python (no cdktf import): settings validation, the SLO construct (modules/slo.py), the docs
and the tests all read the objectives, windows and factors from here.

The alert policy is the Google SRE workbook's multi-window, multi-burn-rate one ("Alerting on SLOs",
table 5-8): an alert fires when the error budget burns fast enough over a long window to spend a
given share of the whole budget, AND still burns over a short window (so the alert resets minutes
after the burn stops). The workbook's factors (14.4x, 6x, 1x) are those shares for a 30-day SLO
window; here they are derived from the shares, so another SLO window keeps the same meaning.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Mapping

# The API's routes (modules/api.py ROUTES; tests/test_slo.py holds the two equal).
ROUTES = ("validate", "fraud-check", "process")
SLIS = ("availability", "latency")
# API Gateway's integration timeout: a latency threshold above it could never be missed.
MAX_LATENCY_MS = 29_000


@dataclass(frozen=True)
class Objective:
    """What a route promises over the SLO window: ``availability`` percent of requests answered
    without a 5xx; ``latency`` percent of requests answered in at most ``latency_ms``."""

    availability: Decimal
    latency: Decimal
    latency_ms: int

    def target(self, sli: str) -> Decimal:
        return self.availability if sli == "availability" else self.latency

    def budget_percent(self, sli: str) -> Decimal:
        """The error budget: the share of requests (percent) allowed to fail the SLI."""
        return Decimal(100) - self.target(sli)


# Defaults: /process carries the money (KMS MAC, STS session, DynamoDB transaction: 300 ms);
# /validate is pure computation (150 ms); /fraud-check reads one DynamoDB item (250 ms).
DEFAULT_OBJECTIVES: Mapping[str, Objective] = {
    "validate": Objective(Decimal("99.9"), Decimal("99"), 150),
    "fraud-check": Objective(Decimal("99.9"), Decimal("99"), 250),
    "process": Objective(Decimal("99.9"), Decimal("99"), 300),
}


@dataclass(frozen=True)
class BurnAlert:
    """One window pair of the policy: ``severity`` when ``budget_share`` of the whole error budget
    would be spent in ``long_seconds`` (and the burn still shows over ``short_seconds``)."""

    name: str                 # "page-fast", "page-slow", "ticket"
    severity: str             # "page" or "ticket"
    budget_share: Decimal
    long_seconds: int
    short_seconds: int

    def factor(self, slo_window_days: int) -> Decimal:
        """The burn rate: how many times faster than "exactly the budget over the SLO window"."""
        return self.budget_share * Decimal(slo_window_days * 86_400) / Decimal(self.long_seconds)

    def threshold_percent(self, objective: Objective, sli: str, slo_window_days: int) -> Decimal:
        """The bad-request percentage both windows must exceed."""
        return self.factor(slo_window_days) * objective.budget_percent(sli)


HOUR = 3600
# 2 % of the budget in 1 h (14.4x over 30 days), 5 % in 6 h (6x), 10 % in 3 days (1x).
BURN_ALERTS = (
    BurnAlert("page-fast", "page", Decimal("0.02"), HOUR, 5 * 60),
    BurnAlert("page-slow", "page", Decimal("0.05"), 6 * HOUR, 30 * 60),
    BurnAlert("ticket", "ticket", Decimal("0.10"), 72 * HOUR, 6 * HOUR),
)
SEVERITIES = ("page", "ticket")


def window_label(seconds: int) -> str:
    """``5m``, ``1h``, ``3d``: the window in an alarm name."""
    if seconds % 86_400 == 0:
        return f"{seconds // 86_400}d"
    return f"{seconds // HOUR}h" if seconds % HOUR == 0 else f"{seconds // 60}m"


class ObjectiveError(ValueError):
    """``slo_objectives`` cannot be read."""


def parse_objectives(text: str) -> dict[str, Objective]:
    """The default objectives with the overrides of ``text`` applied, e.g.
    ``"process:availability=99.95:latency_ms=250,validate:latency=99.5"``."""
    result = dict(DEFAULT_OBJECTIVES)
    for item in (part.strip() for part in text.split(",")):
        if not item:
            continue
        route, *pairs = item.split(":")
        if route not in ROUTES:
            raise ObjectiveError(f"{route!r} is not a route ({', '.join(ROUTES)})")
        values: dict[str, object] = dict(vars(result[route]))
        for pair in pairs:
            key, _, raw = pair.partition("=")
            if key not in ("availability", "latency", "latency_ms") or not raw:
                raise ObjectiveError(f"{pair!r}: expected availability=, latency= or latency_ms=")
            try:
                values[key] = int(raw) if key == "latency_ms" else Decimal(raw)
            except (ValueError, ArithmeticError):
                raise ObjectiveError(f"{pair!r}: {raw!r} is not a number") from None
        result[route] = Objective(**values)  # type: ignore[arg-type]
    return result


def check_objectives(objectives: Mapping[str, Objective], slo_window_days: int) -> None:
    """Every alert must be able to fire: its threshold (factor x budget) below 100 % of requests."""
    fastest = max(BURN_ALERTS, key=lambda a: a.factor(slo_window_days))
    for route, objective in objectives.items():
        if not 1 <= objective.latency_ms <= MAX_LATENCY_MS:
            raise ObjectiveError(f"{route}: latency_ms {objective.latency_ms} must be 1..{MAX_LATENCY_MS}")
        for sli in SLIS:
            target = objective.target(sli)
            if not Decimal(0) < target < Decimal(100):
                raise ObjectiveError(f"{route}: {sli} {target} must be between 0 and 100 (exclusive)")
            if fastest.threshold_percent(objective, sli, slo_window_days) >= 100:
                raise ObjectiveError(
                    f"{route}: {sli} {target} leaves a budget of {objective.budget_percent(sli)} %, so the "
                    f"{fastest.factor(slo_window_days)}x burn alert could never fire; aim higher")


# --- the metric math of each SLI (what modules/slo.py puts in an alarm and tests/test_slo.py evaluates)

def availability_expression() -> str:
    """Percent of requests answered with a 5xx; no requests burn nothing."""
    return "IF(requests > 0, 100 * errors / requests, 0)"


def latency_expression() -> str:
    """Percent of requests slower than the threshold (``fast`` is the percentile rank PR(:threshold))."""
    return "100 - fast"


def latency_statistic(objective: Objective) -> str:
    """CloudWatch's percentile rank: the percentage of Latency samples at most ``latency_ms``."""
    return f"PR(:{objective.latency_ms})"
