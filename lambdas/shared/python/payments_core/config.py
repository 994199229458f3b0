"""Runtime configuration read from environment variables.

Configuration is read at call time (``load_config()`` is cheap), so tests can
change variables with ``monkeypatch.setenv`` without any cache to reset.
Invalid values raise :class:`ConfigurationError`, which handlers turn into a
generic HTTP 500 (it is an operator error, not a client error).

Amount limits are per currency (:mod:`payments_core.limits`): ``PAYMENT_LIMITS``
holds the environment's overrides of the table in :mod:`payments_core.currencies`
and is parsed once per distinct value (a warm function parses it once, not per
request). The former flat ``MAX_AMOUNT`` ("1,000,000 of any currency") is
refused with a message saying what replaced it, so a stale variable cannot
silently stop limiting anything.
"""
from __future__ import annotations

import functools
import os
from dataclasses import dataclass
from decimal import Decimal
from typing import Mapping

from .errors import ConfigurationError
from .limits import LimitsError, PaymentLimits, build_limits

DEFAULT_FRAUD_WINDOW_SECONDS = 86400
DEFAULT_FRAUD_QUERY_LIMIT = 100
DEFAULT_IDEMPOTENCY_TTL_SECONDS = 86400
DEFAULT_AUDIT_PREFIX = "audit/"


@dataclass(frozen=True)
class Config:
    environment: str
    log_level: str
    # Per currency code, major units: maximum per transaction and HIGH_VALUE threshold.
    max_amount: Mapping[str, Decimal]
    high_value: Mapping[str, Decimal]
    transaction_table: str | None
    # Per merchant-customer scoring window (strongly consistent velocity/spike history).
    activity_table: str | None
    # Role assumed with session tag merchant_id=<merchant> for every read/write of merchant data.
    merchant_data_role_arn: str | None
    fraud_window_seconds: int
    fraud_query_limit: int
    idempotency_table: str | None
    idempotency_ttl_seconds: int
    audit_bucket: str | None
    audit_prefix: str
    audit_kms_key_id: str | None
    card_fingerprint_key_id: str | None
    # The merchant registry (client id -> API key id, status); every API route reads it first.
    merchant_registry_table: str | None = None

    def require(self, name: str) -> str:
        """Return a string setting that must be present for this function."""
        value = getattr(self, name)
        if not value:
            raise ConfigurationError(f"missing required setting {name.upper()}")
        return value


def _int(env: Mapping[str, str], name: str, default: int, lo: int, hi: int) -> int:
    raw = env.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        value = int(raw.strip())
    except ValueError:
        raise ConfigurationError(f"{name} must be an integer") from None
    if not lo <= value <= hi:
        raise ConfigurationError(f"{name} must be between {lo} and {hi}")
    return value


@functools.lru_cache(maxsize=8)
def _parse_limits(text: str) -> PaymentLimits:
    try:
        return build_limits(text)
    except LimitsError as error:
        raise ConfigurationError(f"PAYMENT_LIMITS: {error}") from None


def _limits(env: Mapping[str, str]) -> PaymentLimits:
    if (env.get("MAX_AMOUNT") or "").strip():
        raise ConfigurationError(
            "MAX_AMOUNT is no longer read: limits are per currency in PAYMENT_LIMITS "
            "(e.g. USD:max=1000000:high=10000); remove MAX_AMOUNT")
    return _parse_limits((env.get("PAYMENT_LIMITS") or "").strip())


def _prefix(env: Mapping[str, str]) -> str:
    prefix = env.get("AUDIT_PREFIX")
    if prefix is None:
        prefix = DEFAULT_AUDIT_PREFIX
    prefix = prefix.lstrip("/")
    if prefix and not prefix.endswith("/"):
        prefix += "/"
    return prefix


def load_config(env: Mapping[str, str] | None = None) -> Config:
    """Build a :class:`Config` from ``env`` (default: ``os.environ``)."""
    env = os.environ if env is None else env
    limits = _limits(env)
    return Config(
        environment=env.get("ENVIRONMENT", "dev"),
        log_level=(env.get("LOG_LEVEL") or "INFO").upper(),
        max_amount=limits.max_amount,
        high_value=limits.high_value,
        transaction_table=env.get("TRANSACTION_TABLE") or None,
        activity_table=env.get("CUSTOMER_ACTIVITY_TABLE") or None,
        merchant_data_role_arn=(env.get("MERCHANT_DATA_ROLE_ARN") or "").strip() or None,
        fraud_window_seconds=_int(env, "FRAUD_WINDOW_SECONDS",
                                  DEFAULT_FRAUD_WINDOW_SECONDS, 1, 366 * 86400),
        fraud_query_limit=_int(env, "FRAUD_QUERY_LIMIT",
                               DEFAULT_FRAUD_QUERY_LIMIT, 1, 1000),
        idempotency_table=env.get("IDEMPOTENCY_TABLE") or None,
        idempotency_ttl_seconds=_int(env, "IDEMPOTENCY_TTL_SECONDS",
                                     DEFAULT_IDEMPOTENCY_TTL_SECONDS, 60, 366 * 86400),
        audit_bucket=env.get("AUDIT_BUCKET") or None,
        audit_prefix=_prefix(env),
        audit_kms_key_id=env.get("AUDIT_KMS_KEY_ID") or None,
        # KMS HMAC_256 key (ARN) for card fingerprints; required by /process only.
        card_fingerprint_key_id=(env.get("CARD_FINGERPRINT_KEY_ID") or "").strip() or None,
        merchant_registry_table=(env.get("MERCHANT_REGISTRY_TABLE") or "").strip() or None,
    )
