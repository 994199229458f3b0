"""Audit trail: DynamoDB Stream INSERT records -> one S3 object each (SSE-KMS).

The object key is a pure function of the item
(``{prefix}merchant={merchant_id}/{YYYY}/{MM}/{DD}/{transaction_id}.json``, UTC
date of the item's timestamp), and every write is create-only (``If-None-Match: *``):
a retried or redelivered record finds its object already there and writes nothing,
so the Object Lock bucket holds exactly one version per transaction, whatever the
number of deliveries. Each merchant's trail sits under its own prefix (an export or
a prefix-scoped grant for one merchant never includes another's). An item written
before merchants existed (no ``merchant_id``; e.g. by the previous function version
during a canary) goes under ``{prefix}unattributed/``, a prefix no merchant id can
produce; a malformed ``merchant_id`` is a failed record.
"""
from __future__ import annotations

import datetime as _dt
import json
import uuid
from decimal import Decimal
from typing import Any

from boto3.dynamodb.types import TypeDeserializer
from botocore.exceptions import ClientError

from .apigw import MERCHANT_ID_RE
from .currencies import MINOR_UNITS
from .log import get_logger
from .validation import decimal_places, format_amount

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


def audit_amount(amount: Any, currency: Any) -> str:
    """The amount as the API shows it: fixed point with the currency's minor units.

    DynamoDB stores numbers normalised (a stored ``99.90`` reads back as ``99.9``,
    ``100.00`` as ``100``), so the text is rebuilt from the currency, never taken
    from the number's own exponent. Nothing is ever rounded: an unknown currency,
    or more places than the currency has, keeps the exact decimal text.
    """
    value = Decimal(amount)
    places = MINOR_UNITS.get(currency) if isinstance(currency, str) else None
    if places is None or not value.is_finite() or decimal_places(value) > places:
        return f"{value:f}"
    return format_amount(value, currency)


def audit_document(item: dict[str, Any], record: dict[str, Any]) -> dict[str, Any]:
    doc = {name: _plain(item[name]) for name in AUDIT_FIELDS if name in item}
    if "amount" in item:
        doc["amount"] = audit_amount(item["amount"], item.get("currency"))
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
                     document: dict[str, Any]) -> bool:
    """Write the object once. True if this call wrote it, False if it was already there.

    412 PreconditionFailed is the object already existing: an earlier delivery of the same record
    wrote it, which is success. 409 ConditionalRequestConflict (a concurrent write of the same key
    still in flight, outcome unknown) is raised: S3 says to retry, so the record is reported as
    failed and its redelivery then sees either the object (412) or free room to write it.
    """
    try:
        s3.put_object(
            Bucket=bucket,
            Key=key,
            Body=json.dumps(document, sort_keys=True, separators=(",", ":")).encode("utf-8"),
            ContentType="application/json",
            ServerSideEncryption="aws:kms",
            SSEKMSKeyId=kms_key_id,
            IfNoneMatch="*",
        )
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") == "PreconditionFailed":
            return False
        raise
    return True


def process_stream_batch(event: dict[str, Any], s3: Any, bucket: str, prefix: str,
                         kms_key_id: str) -> dict[str, Any]:
    """Handle one stream batch; returns the partial-batch-failure response."""
    logger = get_logger()
    failures: list[dict[str, Any]] = []
    written = skipped = already_written = 0
    for record in event.get("Records") or []:
        sequence_number = (record.get("dynamodb") or {}).get("SequenceNumber")
        try:
            item = new_image(record)
            if item is None:
                skipped += 1
                continue
            key = audit_key(prefix, item)
            if put_audit_object(s3, bucket, key, kms_key_id, audit_document(item, record)):
                written += 1
            else:
                already_written += 1
        except Exception as exc:
            logger.error("audit record failed", exc_info=not isinstance(exc, AuditRecordError),
                         extra={"sequence_number": sequence_number,
                                "error_type": type(exc).__name__,
                                "error": str(exc) if isinstance(exc, AuditRecordError) else None})
            failures.append({"itemIdentifier": sequence_number})
    logger.info("audit batch processed", extra={
        "written": written, "already_written": already_written, "skipped": skipped,
        "failed": len(failures)})
    return {"batchItemFailures": failures}
