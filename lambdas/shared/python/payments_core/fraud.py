"""Pure fraud-scoring rules (no I/O).

Rules (points are additive):

* ``HIGH_VALUE``    amount > the currency's high-value threshold        +30
                    (about USD 10,000 in the currency's own units: USD 10,000,
                    JPY 2,000,000, KWD 3,000; see :mod:`payments_core.currencies`)
* ``HIGH_VELOCITY`` >= 5 transactions in the recent window             +20
* ``AMOUNT_SPIKE``  amount > 10x the recent average (same currency)    +40

Level: LOW < 30 <= MEDIUM < 50 <= HIGH; ``requires_review`` at score >= 50.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from typing import Iterable, Mapping, Sequence

from .currencies import CURRENCIES

HIGH_VALUE_POINTS = 30
VELOCITY_THRESHOLD = 5
VELOCITY_POINTS = 20
SPIKE_MULTIPLIER = Decimal("10")
SPIKE_POINTS = 40
MEDIUM_AT = 30
HIGH_AT = 50
REVIEW_AT = 50


@dataclass(frozen=True)
class HistoricalTransaction:
    amount: Decimal
    currency: str
    timestamp: int


@dataclass(frozen=True)
class FraudAssessment:
    score: int
    level: str
    requires_review: bool
    reasons: tuple[str, ...] = field(default_factory=tuple)
    recent_transaction_count: int = 0

    def to_dict(self) -> dict:
        return {
            "risk_score": self.score,
            "risk_level": self.level,
            "requires_review": self.requires_review,
            "reasons": list(self.reasons),
            "recent_transaction_count": self.recent_transaction_count,
        }


def risk_level(score: int) -> str:
    if score >= HIGH_AT:
        return "HIGH"
    if score >= MEDIUM_AT:
        return "MEDIUM"
    return "LOW"


def recent_average(amounts: Sequence[Decimal]) -> Decimal | None:
    if not amounts:
        return None
    return sum(amounts, Decimal(0)) / Decimal(len(amounts))


def high_value_threshold(currency: str,
                         high_value: Mapping[str, Decimal] | Decimal | None = None) -> Decimal:
    """The ``HIGH_VALUE`` threshold for ``currency`` (major units).

    ``high_value`` is the per-currency table (``Config.high_value``, which carries the
    environment's overrides) or one Decimal; None means the built-in table. A currency
    outside the table raises KeyError: amounts are scored only after validation.
    """
    if isinstance(high_value, Decimal):
        return high_value
    if high_value is None:
        return CURRENCIES[currency].high_value
    return high_value[currency]


def score_transaction(amount: Decimal, currency: str,
                      history: Iterable[HistoricalTransaction], *,
                      high_value: Mapping[str, Decimal] | Decimal | None = None,
                      ) -> FraudAssessment:
    """Score ``amount`` against the customer's recent ``history``.

    ``history`` must already be restricted to the recent window. Velocity
    counts every recent transaction; the spike rule averages only the
    same-currency ones (averaging across currencies without FX is meaningless).
    ``high_value``: see :func:`high_value_threshold`.
    """
    history = list(history)
    score = 0
    reasons: list[str] = []
    if amount > high_value_threshold(currency, high_value):
        score += HIGH_VALUE_POINTS
        reasons.append("HIGH_VALUE")
    if len(history) >= VELOCITY_THRESHOLD:
        score += VELOCITY_POINTS
        reasons.append("HIGH_VELOCITY")
    average = recent_average([h.amount for h in history if h.currency == currency])
    if average is not None and average > 0 and amount > SPIKE_MULTIPLIER * average:
        score += SPIKE_POINTS
        reasons.append("AMOUNT_SPIKE")
    return FraudAssessment(score=score, level=risk_level(score),
                           requires_review=score >= REVIEW_AT, reasons=tuple(reasons),
                           recent_transaction_count=len(history))
