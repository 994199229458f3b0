"""Use cases: fraud assessment and idempotent payment processing.

These glue the pure rules (validation, fraud, cardsec) to the DynamoDB
adapter. The process flow never trusts the caller: it is given a request
that it validated itself and it re-scores it itself.
"""
from __future__ import annotations

import datetime as _dt
import hmac
import json
import time
import uuid
from dataclasses import dataclass, field
from typing import Any, Callable

from . import aws, cardsec, repository
from .config import Config
from .errors import IdempotencyKeyReusedError
from .fraud import FraudAssessment, score_transaction
from .log import get_logger
from .validation import PaymentRequest

STATUS_COMPLETED = "COMPLETED"
STATUS_DECLINED_REVIEW = "DECLINED_REVIEW"


def assess(request: PaymentRequest, config: Config, now: int,
           ddb: Any | None = None) -> FraudAssessment:
    """Score ``request`` using one bounded Query of the customer's recent history."""
    history = repository.query_recent_transactions(
        ddb or aws.client("dynamodb"),
        table=config.require("transaction_table"),
        index=config.customer_index,
        customer_id=request.customer_id,
        since=now - config.fraud_window_seconds,
        limit=config.fraud_query_limit,
    )
    return score_transaction(request.amount, request.currency, history, high_value=config.high_value)


@dataclass(frozen=True)
class ProcessOutcome:
    status_code: int
    body: dict
    replayed: bool = False
    transaction_id: str | None = None
    headers: dict = field(default_factory=dict)


def _utc_iso(epoch_seconds: int) -> str:
    return _dt.datetime.fromtimestamp(epoch_seconds, tz=_dt.timezone.utc).isoformat()


def _is_live(record: dict, now: int) -> bool:
    expires_at = record.get("expires_at")
    return expires_at is None or int(expires_at) >= now


def _replay(record: dict, request_hash: str) -> ProcessOutcome:
    stored_hash = str(record.get("request_hash", ""))
    if not hmac.compare_digest(stored_hash, request_hash):
        raise IdempotencyKeyReusedError()
    stored = json.loads(record["response"])
    return ProcessOutcome(status_code=int(stored["statusCode"]), body=stored["body"],
                          replayed=True, transaction_id=str(record.get("transaction_id")),
                          headers={"Idempotent-Replay": "true"})


def build_transaction(request: PaymentRequest, assessment: FraudAssessment,
                      idempotency_key: str, now: int, transaction_id: str,
                      fingerprint: str) -> dict[str, Any]:
    """The stored transaction item: last four digits + keyed fingerprint, never the PAN."""
    return {
        "transaction_id": transaction_id,
        "timestamp": int(now),
        "created_at": _utc_iso(now),
        "customer_id": request.customer_id,
        "amount": request.amount,  # Decimal
        "currency": request.currency,
        "card_last4": request.card_last4,
        "card_fingerprint": fingerprint,
        "risk_score": assessment.score,
        "risk_level": assessment.level,
        "status": STATUS_DECLINED_REVIEW if assessment.requires_review else STATUS_COMPLETED,
        "idempotency_key": idempotency_key,
    }


def response_body(item: dict[str, Any], assessment: FraudAssessment) -> dict[str, Any]:
    return {
        "transaction_id": item["transaction_id"],
        "status": item["status"],
        "amount": f"{item['amount']:f}",
        "currency": item["currency"],
        "card_last4": item["card_last4"],
        "risk_score": assessment.score,
        "risk_level": assessment.level,
        "requires_review": assessment.requires_review,
        "reasons": list(assessment.reasons),
        "created_at": item["created_at"],
    }


def process_payment(request: PaymentRequest, idempotency_key: str, config: Config,
                    clock: Callable[[], float] = time.time,
                    ddb: Any | None = None, kms: Any | None = None) -> ProcessOutcome:
    """Idempotently score and store a payment.

    One TransactWriteItems writes the idempotency record and the transaction
    together, so either both exist or neither does. The card fingerprint is one
    KMS GenerateMac call, made once and reused for the stored item and the
    request hash; CARD_FINGERPRINT_KEY_ID is required (no unkeyed fallback).
    """
    logger = get_logger()
    idempotency_table = config.require("idempotency_table")
    transaction_table = config.require("transaction_table")
    fingerprint_key_id = config.require("card_fingerprint_key_id")
    ddb = ddb or aws.client("dynamodb")
    fingerprint = cardsec.card_fingerprint(request.card_number, fingerprint_key_id,
                                           kms or aws.client("kms"))
    req_hash = cardsec.request_hash(request, fingerprint)
    now = int(clock())

    # Fast path for retries: no scoring query, no failed transaction.
    existing = repository.get_idempotency_record(ddb, idempotency_table, idempotency_key)
    if existing is not None and _is_live(existing, now):
        logger.info("idempotent replay", extra={"idempotency_key": idempotency_key})
        return _replay(existing, req_hash)

    assessment = assess(request, config, now, ddb=ddb)
    item = build_transaction(request, assessment, idempotency_key, now, str(uuid.uuid4()),
                             fingerprint)
    body = response_body(item, assessment)
    status_code = 200
    record = {
        "idempotency_key": idempotency_key,
        "request_hash": req_hash,
        "transaction_id": item["transaction_id"],
        "response": json.dumps({"statusCode": status_code, "body": body},
                               sort_keys=True, separators=(",", ":")),
        "created_at": item["created_at"],
        "expires_at": now + config.idempotency_ttl_seconds,
    }
    try:
        repository.write_transaction(ddb, idempotency_table, transaction_table,
                                     record, item, now)
    except repository.IdempotencyConflict:
        existing = repository.get_idempotency_record(ddb, idempotency_table, idempotency_key)
        if existing is None:
            raise RuntimeError("idempotency conflict but no record found") from None
        logger.info("idempotent replay after concurrent write",
                    extra={"idempotency_key": idempotency_key})
        return _replay(existing, req_hash)

    logger.info("transaction stored", extra={
        "transaction_id": item["transaction_id"], "status": item["status"],
        "risk_level": assessment.level, "risk_score": assessment.score})
    return ProcessOutcome(status_code=status_code, body=body,
                          transaction_id=item["transaction_id"])
