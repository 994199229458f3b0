"""Per-currency amount limits: the defaults of :mod:`payments_core.currencies` plus overrides.

An environment overrides limits with one compact string (setting ``payment_limits`` /
``PAYMENTS_PAYMENT_LIMITS`` at synth; the functions receive it as ``PAYMENT_LIMITS``)::

    JPY:max=150000000:high=1500000,KWD:high=2500

Entries are separated by commas; each names an ISO 4217 currency of the allow-list and sets
``max`` (maximum per transaction), ``high`` (``HIGH_VALUE`` fraud threshold) or both, in the
currency's major units. A value is a plain positive decimal with at most the currency's minor
units (no sign, no exponent). After merging with the defaults, ``high`` must not exceed ``max``.

The same parser validates the setting at synth (so a bad value stops synth with one line) and
reads the variable in the functions, so the two can never disagree.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import Decimal
from types import MappingProxyType
from typing import Mapping

from .currencies import CURRENCIES
from .validation import decimal_places

#: Override key -> what it sets.
KEYS = {"max": "max_amount", "high": "high_value"}
#: Upper bound of any limit (keeps amounts far from Decimal/DynamoDB precision edges).
CEILING = Decimal("1e15")
#: All of a function's environment variables share 4 KB; overrides get at most half of it.
MAX_TEXT = 2048

_VALUE_RE = re.compile(r"[0-9]{1,16}(?:\.[0-9]{1,20})?")


class LimitsError(ValueError):
    """An override string that cannot be used (the message names the bad part, one line)."""


@dataclass(frozen=True)
class PaymentLimits:
    """Effective limits for every supported currency (major units)."""

    max_amount: Mapping[str, Decimal]
    high_value: Mapping[str, Decimal]
    overrides: str = ""  # canonical override text; "" = the table's defaults


def _value(code: str, key: str, text: str) -> Decimal:
    if not _VALUE_RE.fullmatch(text):
        raise LimitsError(f"{code} {key}={text!r} is not a plain positive decimal")
    value = Decimal(text)
    if value <= 0 or value > CEILING:
        raise LimitsError(f"{code} {key}={text} must be greater than 0 and at most {CEILING:f}")
    places = CURRENCIES[code].minor_units
    if decimal_places(value) > places:
        raise LimitsError(f"{code} {key}={text} has more decimal places than {code}'s {places}")
    return value


def parse_overrides(text: str) -> dict[str, dict[str, Decimal]]:
    """``"JPY:max=1:high=1,..."`` -> ``{"JPY": {"max": Decimal, "high": Decimal}, ...}``."""
    if not isinstance(text, str):
        raise LimitsError("must be a string")
    if len(text) > MAX_TEXT:
        raise LimitsError(f"is {len(text)} characters; at most {MAX_TEXT} fit a function's environment")
    overrides: dict[str, dict[str, Decimal]] = {}
    if not text.strip():
        return overrides
    for entry in text.split(","):
        parts = [p.strip() for p in entry.split(":")]
        code, settings = parts[0].upper(), parts[1:]
        if code not in CURRENCIES:
            raise LimitsError(f"unknown or unsupported currency {parts[0]!r}")
        if code in overrides:
            raise LimitsError(f"{code} is listed twice")
        if not settings:
            raise LimitsError(f"{code} sets nothing (expected {code}:max=...:high=...)")
        values: dict[str, Decimal] = {}
        for setting in settings:
            key, sep, raw = setting.partition("=")
            key = key.strip().lower()
            if not sep or key not in KEYS:
                raise LimitsError(f"{code}: {setting!r} is not max=<amount> or high=<amount>")
            if key in values:
                raise LimitsError(f"{code} sets {key} twice")
            values[key] = _value(code, key, raw.strip())
        overrides[code] = values
    return overrides


def format_overrides(overrides: Mapping[str, Mapping[str, Decimal]]) -> str:
    """Canonical text: currencies sorted, ``max`` before ``high`` (deterministic synth output)."""
    return ",".join(
        code + "".join(f":{key}={overrides[code][key]:f}" for key in KEYS if key in overrides[code])
        for code in sorted(overrides))


def build_limits(text: str = "") -> PaymentLimits:
    """Defaults merged with the overrides in ``text``; raises :class:`LimitsError`."""
    overrides = parse_overrides(text)
    max_amount = {code: c.max_amount for code, c in CURRENCIES.items()}
    high_value = {code: c.high_value for code, c in CURRENCIES.items()}
    for code, values in overrides.items():
        max_amount[code] = values.get("max", max_amount[code])
        high_value[code] = values.get("high", high_value[code])
        if high_value[code] > max_amount[code]:
            raise LimitsError(f"{code} high={high_value[code]:f} is above its max={max_amount[code]:f}")
    return PaymentLimits(MappingProxyType(max_amount), MappingProxyType(high_value),
                         format_overrides(overrides))


#: The table's limits, no overrides.
DEFAULT_LIMITS = build_limits("")
