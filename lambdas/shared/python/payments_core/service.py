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

from . import aws, cardsec, metrics, repository, tenancy
from .apigw import Merchant
from .config import Config
from .errors import IdempotencyKeyReusedError, PaymentError
from .fraud import FraudAssessment, HistoricalTransaction, score_transaction
from .log import get_logger
from .validation import PaymentRequest

STATUS_COMPLETED = "COMPLETED"
STATUS_DECLINED_REVIEW = "DECLINED_REVIEW"
#: Scoring rounds when parallel payments of the same customer keep changing its history.
SCORE_ATTEMPTS = 8


def merchant_dynamodb(merchant: Merchant, config: Config) -> Any:
    """DynamoDB client for ``merchant``'s data (IAM-scoped to its key prefix; see tenancy)."""
    return tenancy.merchant_client("dynamodb", merchant.id, config.require("merchant_data_role_arn"))


def _score(request: PaymentRequest, activity: repository.CustomerActivity, config: Config,
           now: int) -> FraudAssessment:
    with metrics.current().phase("fraud_scoring"):
        history = activity.recent(since=now - config.fraud_window_seconds, limit=config.fraud_query_limit)
        return score_transaction(request.amount, request.currency, history, high_value=config.high_value)


def assess(request: PaymentRequest, merchant: Merchant, config: Config, now: int,
           ddb: Any | None = None) -> FraudAssessment:
    """Score ``request`` against this merchant's customer history (one consistent GetItem).

    The history is keyed ``"<merchant>#<customer_id>"``: another merchant's
    customer with the same id is a different item.
    """
    table = config.require("activity_table")
    activity = repository.get_activity(ddb or merchant_dynamodb(merchant, config), table,
                                       repository.merchant_key(merchant.id, request.customer_id))
    assessment = _score(request, activity, config, now)
    metrics.current().flagged(assessment.reasons)
    return assessment


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


def build_transaction(request: PaymentRequest, merchant: Merchant, assessment: FraudAssessment,
                      idempotency_key_digest: str, now: int, transaction_id: str,
                      fingerprint: str) -> dict[str, Any]:
    """The stored transaction item: last four digits + keyed fingerprint, never the PAN.

    ``idempotency_key`` holds the keyed digest of the client's key, never the key.
    """
    status = STATUS_DECLINED_REVIEW if assessment.requires_review else STATUS_COMPLETED
    return {
        # The ledger's key: IAM (dynamodb:LeadingKeys) lets a session write its own merchant's only.
        repository.LEDGER_KEY: repository.merchant_key(merchant.id, transaction_id),
        "transaction_id": transaction_id,
        "timestamp": int(now),
        "created_at": _utc_iso(now),
        "merchant_id": merchant.id,
        # customer-index and status-index partition keys: a merchant's own, never another's.
        "merchant_customer": repository.merchant_key(merchant.id, request.customer_id),
        "merchant_status": repository.merchant_key(merchant.id, status),
        "customer_id": request.customer_id,
        "amount": request.amount,  # Decimal
        "currency": request.currency,
        "card_last4": request.card_last4,
        "card_fingerprint": fingerprint,
        "risk_score": assessment.score,
        "risk_level": assessment.level,
        "status": status,
        "idempotency_key": idempotency_key_digest,
        # The canary's payments (a synthetic merchant in the registry): reconciliation reports them
        # apart. Only on those rows, so a merchant's row is unchanged.
        **({"synthetic": True} if merchant.synthetic else {}),
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


def process_payment(request: PaymentRequest, idempotency_key: str, merchant: Merchant,
                    config: Config, clock: Callable[[], float] = time.time,
                    ddb: Any | None = None, kms: Any | None = None) -> ProcessOutcome:
    """Idempotently score and store a payment for ``merchant``.

    One TransactWriteItems writes the idempotency record, the transaction and
    the customer's activity together, so either all exist or none does. The
    activity write is conditioned on the version the score was computed from:
    when a parallel payment of the same customer commits first, this one is
    cancelled, re-read and re-scored (up to SCORE_ATTEMPTS rounds, then 409).

    The card fingerprint is one KMS GenerateMac call, made once and reused for
    the stored item and the request hash; CARD_FINGERPRINT_KEY_ID is required
    (no unkeyed fallback). The Idempotency-Key is only ever handled as its keyed
    digest, scoped to the merchant (``"<merchant>#<digest>"``).
    """
    logger = get_logger()
    idempotency_table = config.require("idempotency_table")
    transaction_table = config.require("transaction_table")
    activity_table = config.require("activity_table")
    fingerprint_key_id = config.require("card_fingerprint_key_id")
    config.require("merchant_data_role_arn")
    kms = kms or aws.client("kms")
    recorder = metrics.current()
    with recorder.phase("kms"):
        fingerprint = cardsec.card_fingerprint(request.card_number, fingerprint_key_id, kms)
        key_digest = cardsec.idempotency_key_digest(merchant.id, idempotency_key, fingerprint_key_id, kms)
    record_key = repository.merchant_key(merchant.id, key_digest)
    req_hash = cardsec.request_hash(request, fingerprint)
    ddb = ddb or merchant_dynamodb(merchant, config)
    now = int(clock())
    log_context = {"merchant_id": merchant.id, "idempotency_key_digest": key_digest}

    # Fast path for retries: no scoring, no failed transaction.
    existing = repository.get_idempotency_record(ddb, idempotency_table, record_key)
    if existing is not None and _is_live(existing, now):
        logger.info("idempotent replay", extra=log_context)
        recorder.replayed()
        return _replay(existing, req_hash)

    transaction_id = str(uuid.uuid4())
    activity_key = repository.merchant_key(merchant.id, request.customer_id)
    for attempt in range(1, SCORE_ATTEMPTS + 1):
        activity = repository.get_activity(ddb, activity_table, activity_key)
        assessment = _score(request, activity, config, now)
        item = build_transaction(request, merchant, assessment, key_digest, now, transaction_id,
                                 fingerprint)
        body = response_body(item, assessment)
        status_code = 200
        record = {
            "idempotency_key": record_key,
            "request_hash": req_hash,
            "transaction_id": item["transaction_id"],
            "response": json.dumps({"statusCode": status_code, "body": body},
                                   sort_keys=True, separators=(",", ":")),
            "created_at": item["created_at"],
            "expires_at": now + config.idempotency_ttl_seconds,
        }
        activity_update = repository.activity_put(
            activity_table, activity,
            HistoricalTransaction(amount=request.amount, currency=request.currency, timestamp=now),
            since=now - config.fraud_window_seconds, limit=config.fraud_query_limit,
            expires_at=now + config.fraud_window_seconds)
        try:
            with recorder.phase("dynamodb_write"):
                repository.write_transaction(ddb, idempotency_table, transaction_table,
                                             record, item, now, activity_update)
        except repository.WriteConflict as conflict:
            existing = repository.get_idempotency_record(ddb, idempotency_table, record_key)
            if existing is not None and _is_live(existing, now):
                logger.info("idempotent replay after concurrent write", extra=log_context)
                recorder.replayed()
                return _replay(existing, req_hash)
            if isinstance(conflict, repository.IdempotencyConflict):
                raise RuntimeError("idempotency conflict but no live record found") from None
            logger.info("customer activity changed while scoring; re-scoring",
                        extra={**log_context, "attempt": attempt})
            continue
        logger.info("transaction stored", extra={
            **log_context, "transaction_id": item["transaction_id"], "status": item["status"],
            "risk_level": assessment.level, "risk_score": assessment.score, "attempt": attempt})
        recorder.flagged(assessment.reasons)
        if assessment.requires_review:
            recorder.declined("FRAUD_REVIEW")
        else:
            recorder.accepted(request.currency, request.amount)
        return ProcessOutcome(status_code=status_code, body=body,
                              transaction_id=item["transaction_id"])
    raise PaymentError("CONCURRENT_PAYMENTS",
                       "Too many concurrent payments for this customer; retry with the same "
                       "Idempotency-Key.", status_code=409)
