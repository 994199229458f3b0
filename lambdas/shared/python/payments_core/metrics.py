"""Business metrics in CloudWatch embedded metric format (EMF): JSON lines on stderr.

CloudWatch Logs extracts the metrics from the function's own log events, so a metric costs no API
call, no latency and no IAM permission. Lambda sends stdout and stderr alike to the function's log
group; stderr keeps the metrics apart from the application log on stdout, whose lines are log
records filtered by LOG_LEVEL (payments_core.log): the metrics flow at every log level. What a line may contain is fixed here, by construction:
metric values are numbers, dimension values come from closed sets (the routes, our error codes,
the fraud rules, the phases, the ISO currencies of the amount table, an operator's allow-list of
merchants); never a card number, a customer id, an idempotency key or anything else a caller sent.

Namespace ``Payments/<ENVIRONMENT>``. Metrics (all with the ``Route`` dimension):

* ``PaymentsAccepted``   count; also per ``Merchant`` (see below)
* ``PaymentsDeclined``   count per ``Reason`` (an error code, or ``FRAUD_REVIEW``)
* ``FraudFlags``         count per ``Rule`` (HIGH_VALUE, HIGH_VELOCITY, AMOUNT_SPIKE)
* ``FlaggedPayments``    count of payments any rule flagged; also per ``Merchant``
* ``IdempotentReplays``  count
* ``PaymentAmount``      accepted amount in minor units (exact integers) per ``Currency``
* ``PhaseLatency``       milliseconds per ``Phase`` (validation, fraud_scoring, dynamodb_write, kms)

The canary's requests (a merchant the registry marks ``synthetic``) are not business: every count
above is left out for them, and each is counted once as ``SyntheticRequests`` (per ``Route``)
instead. Their ``PhaseLatency`` is kept: it measures the platform, whoever the caller is.

Cardinality, which is also the bill (each distinct name + dimension values is one custom metric):
a merchant id is a Cognito app client id, one per merchant, without bound. So ``Merchant`` is a
dimension only for the merchants named in ``METRICS_MERCHANTS`` (the setting
``metrics_merchants``, at most ``MAX_MERCHANTS``); every other merchant is counted as ``other``.
A reason that is not one of ours is counted as ``OTHER``.
"""
from __future__ import annotations

import contextvars
import json
import logging
import os
import sys
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Iterator, TextIO

from .currencies import CURRENCIES

PHASES = ("validation", "fraud_scoring", "dynamodb_write", "kms")
ROUTES = ("validate", "fraud-check", "process")
FRAUD_RULES = ("HIGH_VALUE", "HIGH_VELOCITY", "AMOUNT_SPIKE")
# Why a payment was not accepted: our error codes (validation.py, errors.py, service.py) and the
# fraud decision. Anything else is counted as OTHER.
DECLINE_REASONS = (
    "FRAUD_REVIEW", "MISSING_BODY", "INVALID_JSON", "BODY_TOO_LARGE", "INVALID_ENCODING",
    "INVALID_BODY_TYPE", "MISSING_FIELD", "UNKNOWN_FIELD", "INVALID_CUSTOMER_ID", "INVALID_CURRENCY", "UNSUPPORTED_CURRENCY", "INVALID_AMOUNT",
    "AMOUNT_NOT_POSITIVE", "AMOUNT_TOO_LARGE", "AMOUNT_TOO_PRECISE", "INVALID_CARD_NUMBER",
    "INVALID_CARD_NUMBER_LENGTH", "CARD_NUMBER_CHECKSUM_FAILED", "MISSING_IDEMPOTENCY_KEY",
    "INVALID_IDEMPOTENCY_KEY", "IDEMPOTENCY_KEY_REUSED", "CONCURRENT_PAYMENTS", "INVALID_REQUEST",
    "MERCHANT_UNAUTHENTICATED", "INSUFFICIENT_SCOPE", "INTERNAL_ERROR", "REGION_FENCED",
)
MAX_MERCHANTS = 20
OTHER_MERCHANT = "other"
COUNT, MILLISECONDS, NONE = "Count", "Milliseconds", "None"


def namespace() -> str:
    return f"Payments/{os.environ.get('ENVIRONMENT') or 'dev'}"


def tracked_merchants() -> frozenset[str]:
    """The allow-list of merchants with their own ``Merchant`` dimension (METRICS_MERCHANTS)."""
    names = [m.strip() for m in os.environ.get("METRICS_MERCHANTS", "").split(",") if m.strip()]
    return frozenset(names[:MAX_MERCHANTS])


def merchant_dimension(merchant_id: str | None) -> str:
    return merchant_id if merchant_id and merchant_id in tracked_merchants() else OTHER_MERCHANT


def _closed(value: str, allowed: tuple[str, ...], other: str = "OTHER") -> str:
    return value if value in allowed else other


@dataclass
class Recorder:
    """The metrics of one request; ``emit`` writes them as EMF lines (one per dimension shape)."""

    route: str
    merchant: str | None = None
    synthetic: bool = False      # the canary merchant's request (run_api sets it from the registry)
    counts: dict[tuple[str, tuple[tuple[str, str], ...]], float] = field(default_factory=dict)
    timings: dict[str, float] = field(default_factory=dict)

    def count(self, name: str, value: float = 1, **dimensions: str) -> None:
        key = (name, tuple(sorted(dimensions.items())))
        self.counts[key] = self.counts.get(key, 0) + value

    def accepted(self, currency: str, amount: Decimal) -> None:
        self.count("PaymentsAccepted")
        self.count("PaymentsAccepted", Merchant=merchant_dimension(self.merchant))
        if currency in CURRENCIES:  # validated already; the check keeps the dimension closed
            self.count("PaymentAmount", int(amount.scaleb(CURRENCIES[currency].minor_units)), Currency=currency)

    def declined(self, reason: str) -> None:
        self.count("PaymentsDeclined", Reason=_closed(reason, DECLINE_REASONS))

    def flagged(self, rules: tuple[str, ...] | list[str]) -> None:
        """One ``FraudFlags`` per rule that fired; one ``FlaggedPayments`` per payment with any."""
        for rule in rules:
            self.count("FraudFlags", Rule=_closed(rule, FRAUD_RULES))
        if rules:
            self.count("FlaggedPayments")
            self.count("FlaggedPayments", Merchant=merchant_dimension(self.merchant))

    def replayed(self) -> None:
        self.count("IdempotentReplays")

    @contextmanager
    def phase(self, name: str) -> Iterator[None]:
        assert name in PHASES, name
        started = time.perf_counter()
        try:
            yield
        finally:
            self.timings[name] = self.timings.get(name, 0.0) + (time.perf_counter() - started) * 1000

    def lines(self, now_ms: int | None = None) -> list[dict]:
        """The EMF documents: one per metric and dimension set (EMF puts dimension values at the top
        level, so two values of one dimension cannot share a document)."""
        timestamp = int(time.time() * 1000) if now_ms is None else now_ms
        route = _closed(self.route, ROUTES, "other")
        documents = []
        counts = {("SyntheticRequests", ()): 1} if self.synthetic else self.counts
        for (name, dims), value in sorted(counts.items()):
            unit = NONE if name == "PaymentAmount" else COUNT
            documents.append(emf_document(timestamp, name, value, unit, {"Route": route, **dict(dims)}))
        for phase, millis in sorted(self.timings.items()):
            documents.append(emf_document(timestamp, "PhaseLatency", round(millis, 3), MILLISECONDS,
                                       {"Route": route, "Phase": phase}))
        return documents

    def emit(self, stream: TextIO | None = None) -> None:
        """Write the lines; a metric must never turn an answered request into an error."""
        try:
            text = "".join(json.dumps(d, separators=(",", ":"), sort_keys=True) + "\n" for d in self.lines())
            out = stream or sys.stderr
            out.write(text)
            out.flush()
        except Exception:  # noqa: BLE001  (logged; the response is already decided)
            logging.getLogger("payments").warning("business metrics not emitted", exc_info=True)


def emf_document(timestamp: int, name: str, value: float, unit: str, dimensions: dict[str, str]) -> dict:
    """One metric in EMF under ``namespace()`` (the business metrics; the canary's verdict)."""
    return {
        "_aws": {"Timestamp": timestamp, "CloudWatchMetrics": [{
            "Namespace": namespace(), "Dimensions": [sorted(dimensions)],
            "Metrics": [{"Name": name, "Unit": unit}]}]},
        **dimensions, name: value,
    }


_current: contextvars.ContextVar[Recorder | None] = contextvars.ContextVar("payments_metrics", default=None)


def start(route: str) -> Recorder:
    """A fresh recorder for this request (``run_api`` calls it first)."""
    recorder = Recorder(route)
    _current.set(recorder)
    return recorder


def current() -> Recorder:
    """This request's recorder; outside a request (unit tests of the rules) a throwaway one."""
    recorder = _current.get()
    if recorder is None:
        recorder = start("other")
    return recorder
