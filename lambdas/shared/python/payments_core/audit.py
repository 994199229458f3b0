"""Audit trail: DynamoDB Stream INSERT records -> one S3 object each (SSE-KMS).

The object key is a pure function of the item
(``{prefix}merchant={merchant_id}/{YYYY}/{MM}/{DD}/{transaction_id}.json``, UTC
date of the item's timestamp), so a retried record overwrites the same object:
exactly one audit object per transaction, whatever the number of deliveries.
Each merchant's trail sits under its own prefix (an export or a prefix-scoped
grant for one merchant never includes another's). An item written before
merchants existed (no ``merchant_id``; e.g. by the previous function version
during a canary) goes under ``{prefix}unattributed/``, a prefix no merchant id
can produce; a malformed ``merchant_id`` is a failed record.
"""
from __future__ import annotations

import datetime as _dt
import json
import uuid
from decimal import Decimal
from typing import Any

from boto3.dynamodb.types import TypeDeserializer

from .apigw import MERCHANT_ID_RE
from .log import get_logger

_deserializer = TypeDeserializer()

#: Allow-list of transaction attributes copied into the audit document.
AUDIT_FIELDS = (
    "transaction_id", "timestamp", "created_at", "merchant_id", "customer_id", "amount", "currency",
    "card_last4", "card_fingerprint", "risk_score", "risk_level", "status",
    "idempotency_key",
)


UNATTRIBUTED = "unattributed"


class AuditRecordError(ValueError):
    """A stream record that cannot be turned into an audit object."""


def _plain(value: Any) -> Any:
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else f"{value:f}"
    return value


def new_image(record: dict[str, Any]) -> dict[str, Any] | None:
    """The deserialised NEW_IMAGE of an INSERT record, else None."""
    if record.get("eventName") != "INSERT":
        return None
    image = (record.get("dynamodb") or {}).get("NewImage")
    if not image:
        return None
    return {k: _deserializer.deserialize(v) for k, v in image.items()}


def audit_document(item: dict[str, Any], record: dict[str, Any]) -> dict[str, Any]:
    doc = {name: _plain(item[name]) for name in AUDIT_FIELDS if name in item}
    if "amount" in item:
        doc["amount"] = f"{Decimal(item['amount']):f}"  # keep exact decimal text
    stream = record.get("dynamodb") or {}
    doc["audit_source"] = {
        "event_id": record.get("eventID"),
        "event_source_arn": record.get("eventSourceARN"),
        "sequence_number": stream.get("SequenceNumber"),
    }
    return doc


def audit_key(prefix: str, item: dict[str, Any]) -> str:
    transaction_id = item.get("transaction_id")
    try:
        canonical = str(uuid.UUID(str(transaction_id)))
    except (ValueError, TypeError, AttributeError):
        raise AuditRecordError("transaction_id is not a UUID") from None
    if canonical != transaction_id:
        raise AuditRecordError("transaction_id is not a canonical UUID")
    try:
        moment = _dt.datetime.fromtimestamp(int(item["timestamp"]), tz=_dt.timezone.utc)
    except (KeyError, TypeError, ValueError, OverflowError, OSError):
        raise AuditRecordError("timestamp missing or invalid") from None
    merchant_id = item.get("merchant_id")
    if merchant_id is None:
        owner = UNATTRIBUTED
    elif isinstance(merchant_id, str) and MERCHANT_ID_RE.fullmatch(merchant_id):
        owner = f"merchant={merchant_id}"
    else:
        raise AuditRecordError("merchant_id is malformed")
    return f"{prefix}{owner}/{moment:%Y}/{moment:%m}/{moment:%d}/{canonical}.json"


def put_audit_object(s3: Any, bucket: str, key: str, kms_key_id: str,
                     document: dict[str, Any]) -> None:
    s3.put_object(
        Bucket=bucket,
        Key=key,
        Body=json.dumps(document, sort_keys=True, separators=(",", ":")).encode("utf-8"),
        ContentType="application/json",
        ServerSideEncryption="aws:kms",
        SSEKMSKeyId=kms_key_id,
    )


def process_stream_batch(event: dict[str, Any], s3: Any, bucket: str, prefix: str,
                         kms_key_id: str) -> dict[str, Any]:
    """Handle one stream batch; returns the partial-batch-failure response."""
    logger = get_logger()
    failures: list[dict[str, Any]] = []
    written = skipped = 0
    for record in event.get("Records") or []:
        sequence_number = (record.get("dynamodb") or {}).get("SequenceNumber")
        try:
            item = new_image(record)
            if item is None:
                skipped += 1
                continue
            key = audit_key(prefix, item)
            put_audit_object(s3, bucket, key, kms_key_id, audit_document(item, record))
            written += 1
        except Exception as exc:
            logger.error("audit record failed", exc_info=not isinstance(exc, AuditRecordError),
                         extra={"sequence_number": sequence_number,
                                "error_type": type(exc).__name__,
                                "error": str(exc) if isinstance(exc, AuditRecordError) else None})
            failures.append({"itemIdentifier": sequence_number})
    logger.info("audit batch processed", extra={
        "written": written, "skipped": skipped, "failed": len(failures)})
    return {"batchItemFailures": failures}
