"""Audit trail: the ledger's stream records -> write-once S3 objects (SSE-KMS).

Who a record belongs to is read from the ledger's KEY, ``merchant_transaction =
"<merchant>#<transaction_id>"``, never from an attribute: IAM pins the key to the
writing merchant's session (``dynamodb:LeadingKeys``), while any attribute
(``merchant_id``...) is whatever the writer put there. A key that does not parse
is a failed record, never an object filed under a guessed owner.

Object keys are pure functions of the record, and every write is create-only
(``If-None-Match: *``), so a redelivered record writes nothing:

- INSERT (a payment): ``{prefix}merchant=<m>/<YYYY>/<MM>/<DD>/<transaction_id>.json``
  (UTC date of the item's ``timestamp``), the allow-listed fields and their digest.
- MODIFY / REMOVE (never happens in normal operation: tamper evidence):
  ``{prefix}merchant=<m>/changes/<YYYY>/<MM>/<DD>/<transaction_id>/<sequence>.json``
  (UTC date of the change), the old and new digests, the NAMES of the changed
  attributes, and (MODIFY) the new allow-listed fields.

A digest is SHA-256 over the canonical JSON of the allow-listed fields (no PAN is
ever among them): the audit documents, the replay (scripts/audit_replay.py) and
the reconciliation (scripts/reconcile.py) all compute it with ``fields_digest``.
"""
from __future__ import annotations

import datetime as _dt
import hashlib
import json
import re
import sys
import time
import uuid
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Callable, Mapping

from boto3.dynamodb.types import TypeDeserializer
from botocore.exceptions import ClientError

from .apigw import MERCHANT_ID_RE
from .currencies import MINOR_UNITS
from .log import get_logger
from .repository import LEDGER_KEY
from .validation import decimal_places, format_amount

_deserializer = TypeDeserializer()

INSERT, MODIFY, REMOVE = "INSERT", "MODIFY", "REMOVE"
CHANGES = "changes"
#: Allow-list of ledger attributes copied into audit documents and digests (never a PAN).
AUDIT_FIELDS = (
    "transaction_id", "timestamp", "created_at", "merchant_id", "customer_id", "amount", "currency",
    "card_last4", "card_fingerprint", "risk_score", "risk_level", "status",
    "idempotency_key",
    # Only on the canary's rows (payments_core.service): in the digest, so marking a merchant's
    # payment synthetic later is a ledger change like any other.
    "synthetic",
)
_SEQUENCE_RE = re.compile(r"[0-9]{1,64}")


class AuditRecordError(ValueError):
    """A stream record that cannot be turned into an audit object."""


@dataclass(frozen=True)
class LedgerKey:
    """A parsed ledger key: the merchant IAM let write the row, and the transaction id."""

    merchant_id: str
    transaction_id: str

    @classmethod
    def parse(cls, value: Any) -> "LedgerKey":
        if not isinstance(value, str):
            raise AuditRecordError("ledger key missing")
        merchant_id, sep, transaction_id = value.partition("#")
        if not sep or not MERCHANT_ID_RE.fullmatch(merchant_id):
            raise AuditRecordError("ledger key has no valid merchant prefix")
        try:
            canonical = str(uuid.UUID(transaction_id))
        except (ValueError, TypeError, AttributeError):
            raise AuditRecordError("ledger key's transaction id is not a UUID") from None
        if canonical != transaction_id:
            raise AuditRecordError("ledger key's transaction id is not a canonical UUID")
        return cls(merchant_id, transaction_id)

    @property
    def value(self) -> str:
        return f"{self.merchant_id}#{self.transaction_id}"


def merchant_prefix(prefix: str, merchant_id: str) -> str:
    """Everything of one merchant's trail sits under this prefix."""
    return f"{prefix}merchant={merchant_id}/"


def _plain(value: Any) -> Any:
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else f"{value:f}"
    return value


def deserialize(image: Mapping[str, Any]) -> dict[str, Any]:
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


def audited_fields(key: LedgerKey, item: Mapping[str, Any]) -> dict[str, Any]:
    """The allow-listed fields of a ledger item (deserialised), owner and id from its key."""
    fields = {name: _plain(item[name]) for name in AUDIT_FIELDS if name in item}
    if "amount" in item:
        fields["amount"] = audit_amount(item["amount"], item.get("currency"))
    fields["merchant_id"], fields["transaction_id"] = key.merchant_id, key.transaction_id
    return fields


def fields_digest(fields: Mapping[str, Any]) -> str:
    """``sha256:<hex>`` of the canonical JSON of audited fields."""
    canonical = json.dumps(fields, sort_keys=True, separators=(",", ":"), default=str)
    return "sha256:" + hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def _utc(seconds: Any, what: str) -> _dt.datetime:
    try:
        return _dt.datetime.fromtimestamp(int(seconds), tz=_dt.timezone.utc)
    except (TypeError, ValueError, OverflowError, OSError):
        raise AuditRecordError(f"{what} missing or invalid") from None


def insert_key(prefix: str, key: LedgerKey, item: Mapping[str, Any]) -> str:
    moment = _utc(item.get("timestamp"), "timestamp")
    return f"{merchant_prefix(prefix, key.merchant_id)}{moment:%Y/%m/%d}/{key.transaction_id}.json"


def change_key(prefix: str, key: LedgerKey, changed_at: Any, sequence_number: Any) -> str:
    moment = _utc(changed_at, "ApproximateCreationDateTime")
    if not isinstance(sequence_number, str) or not _SEQUENCE_RE.fullmatch(sequence_number):
        raise AuditRecordError("sequence number missing or invalid")
    return (f"{merchant_prefix(prefix, key.merchant_id)}{CHANGES}/{moment:%Y/%m/%d}/"
            f"{key.transaction_id}/{sequence_number}.json")


def insert_document(key: LedgerKey, item: Mapping[str, Any], source: Mapping[str, Any]) -> dict[str, Any]:
    fields = audited_fields(key, item)
    return {**fields, "event": INSERT, "digest": fields_digest(fields), "audit_source": dict(source)}


def changed_attribute_names(old: Mapping[str, Any], new: Mapping[str, Any]) -> list[str]:
    """Names only: a changed value (a planted PAN, say) never reaches the trail."""
    return sorted(n for n in set(old) | set(new) if old.get(n) != new.get(n))


def change_document(event: str, key: LedgerKey, old: Mapping[str, Any] | None,
                    new: Mapping[str, Any] | None, source: Mapping[str, Any]) -> dict[str, Any]:
    new_fields = audited_fields(key, new) if new is not None else None
    return {
        "event": event, "merchant_id": key.merchant_id, "transaction_id": key.transaction_id,
        "old_digest": fields_digest(audited_fields(key, old)) if old is not None else None,
        "new_digest": fields_digest(new_fields) if new_fields is not None else None,
        "changed_attributes": changed_attribute_names(old or {}, new or {}),
        "new": new_fields,
        "audit_source": dict(source),
    }


def stream_source(record: Mapping[str, Any]) -> dict[str, Any]:
    stream = record.get("dynamodb") or {}
    return {
        "event_id": record.get("eventID"),
        "event_source_arn": record.get("eventSourceARN"),
        "sequence_number": stream.get("SequenceNumber"),
        "approximate_creation_time": _plain(stream.get("ApproximateCreationDateTime")),
    }


def audit_object(prefix: str, record: Mapping[str, Any]) -> tuple[str, str, dict[str, Any]]:
    """(event name, object key, document) of one stream record of the ledger."""
    event = record.get("eventName")
    stream = record.get("dynamodb") or {}
    key_attr = (stream.get("Keys") or {}).get(LEDGER_KEY) or {}
    key = LedgerKey.parse(key_attr.get("S"))
    old = deserialize(stream["OldImage"]) if stream.get("OldImage") else None
    new = deserialize(stream["NewImage"]) if stream.get("NewImage") else None
    source = stream_source(record)
    if event == INSERT:
        if new is None:
            raise AuditRecordError("INSERT without a new image")
        return event, insert_key(prefix, key, new), insert_document(key, new, source)
    if event in (MODIFY, REMOVE):
        if old is None and new is None:
            raise AuditRecordError(f"{event} without images")
        path = change_key(prefix, key, stream.get("ApproximateCreationDateTime"),
                          stream.get("SequenceNumber"))
        return event, path, change_document(event, key, old, new if event == MODIFY else None, source)
    raise AuditRecordError("unknown event name")


def put_audit_object(s3: Any, bucket: str, key: str, kms_key_id: str,
                     document: Mapping[str, Any]) -> bool:
    """Write the object once. True if this call wrote it, False if it was already there.

    ``ChecksumAlgorithm="SHA256"``: a bucket with Object Lock default retention refuses a put
    without an integrity header (Content-MD5 or x-amz-checksum-*); the writer sends one itself
    rather than relying on the runtime's botocore adding it by default.

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
            ChecksumAlgorithm="SHA256",
            IfNoneMatch="*",
        )
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") == "PreconditionFailed":
            return False
        raise
    return True


# --------------------------------------------------------------------------- the stream consumer

#: CloudWatch namespace of the writer's own metrics (embedded metric format, no API call);
#: modules/observability.py alarms on them.
METRIC_NAMESPACE = "PaymentPlatform/Audit"
FAILED_RECORDS = "FailedRecords"
LEDGER_CHANGES = "LedgerChanges"          # MODIFY + REMOVE records of the ledger (tamper evidence)
OBJECTS_WRITTEN = "ObjectsWritten"


def metric_line(environment: str, counts: Mapping[str, int], now_ms: int) -> str:
    """One CloudWatch embedded-metric-format log line: CloudWatch Logs turns it into metrics
    (dimension ``Environment``) without an extra API call or permission."""
    return json.dumps({
        "_aws": {"Timestamp": int(now_ms), "CloudWatchMetrics": [{
            "Namespace": METRIC_NAMESPACE, "Dimensions": [["Environment"]],
            "Metrics": [{"Name": name, "Unit": "Count"} for name in counts]}]},
        "Environment": environment, **{name: int(value) for name, value in counts.items()},
    }, separators=(",", ":"))


def process_stream_batch(event: Mapping[str, Any], s3: Any, bucket: str, prefix: str,
                         kms_key_id: str, environment: str = "unknown",
                         emit: Callable[[str], None] | None = None) -> dict[str, Any]:
    """Handle one stream batch; returns the partial-batch-failure response.

    A failed record is never silent: it is retried through ``batchItemFailures`` (then the DLQ),
    logged, and counted in the ``FailedRecords`` metric, which pages (the function itself does not
    error, so its Errors alarm would not). A MODIFY or REMOVE is filed and counted in
    ``LedgerChanges``, which pages too: a payment is never changed in normal operation.
    """
    logger = get_logger()
    failures: list[dict[str, Any]] = []
    written = already_written = changes = 0
    for record in event.get("Records") or []:
        sequence_number = (record.get("dynamodb") or {}).get("SequenceNumber")
        try:
            name, key, document = audit_object(prefix, record)
            if name != INSERT:
                changes += 1
                logger.warning("ledger row changed", extra={
                    "event_name": name, "merchant_id": document["merchant_id"],
                    "transaction_id": document["transaction_id"],
                    "changed_attributes": document["changed_attributes"]})
            if put_audit_object(s3, bucket, key, kms_key_id, document):
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
        "written": written, "already_written": already_written, "changes": changes,
        "failed": len(failures)})
    line = metric_line(environment, {FAILED_RECORDS: len(failures), LEDGER_CHANGES: changes,
                                     OBJECTS_WRITTEN: written}, int(time.time() * 1000))
    (emit or _print_line)(line)
    return {"batchItemFailures": failures}


def _print_line(line: str) -> None:
    # Straight to stdout, not through the logger: EMF needs the line to be exactly this object.
    sys.stdout.write(line + "\n")
    sys.stdout.flush()
