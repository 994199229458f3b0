"""DynamoDB adapter for the ledger (transactions), idempotency records and customer activity.

Uses the low-level client (thread-safe) with TypeSerializer/TypeDeserializer
so amounts stay ``Decimal`` end to end. Every key of merchant data starts with
the merchant id (``"<merchant>#..."``), which is what the merchant-data role's
``dynamodb:LeadingKeys`` condition checks.

Customer activity (the fraud rules' history) is one item per merchant-customer
holding the recent payments and a ``version``. It is read with ConsistentRead
and rewritten in the SAME TransactWriteItems as the payment, conditioned on the
version read: two parallel payments cannot both score against the same
history, the loser is cancelled and re-scored (a GSI query could not give
this: global secondary indexes are eventually consistent only).
"""
from __future__ import annotations

import random
import time
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from boto3.dynamodb.types import TypeDeserializer, TypeSerializer
from botocore.exceptions import ClientError

from .fraud import HistoricalTransaction

_serializer = TypeSerializer()
_deserializer = TypeDeserializer()

#: The ledger's partition key: ``"<merchant>#<transaction_id>"`` (modules/data.py).
LEDGER_KEY = "merchant_transaction"

_TRANSACT_ATTEMPTS = 4
#: Item order inside the payment's TransactWriteItems (cancellation reasons follow it).
_IDEMPOTENCY, _TRANSACTION, _ACTIVITY = 0, 1, 2


def serialize(item: dict[str, Any]) -> dict[str, Any]:
    return {k: _serializer.serialize(v) for k, v in item.items()}


def deserialize(item: dict[str, Any]) -> dict[str, Any]:
    return {k: _deserializer.deserialize(v) for k, v in item.items()}


def merchant_key(merchant_id: str, value: str) -> str:
    """A merchant-owned key: ``"<merchant>#<value>"`` (merchant ids never contain "#")."""
    return f"{merchant_id}#{value}"


class WriteConflict(Exception):
    """The payment transaction was cancelled by a condition (nothing was written)."""


class IdempotencyConflict(WriteConflict):
    """The idempotency record already exists."""


class ActivityConflict(WriteConflict):
    """The customer's activity changed since it was read: re-read and re-score."""


@dataclass(frozen=True)
class CustomerActivity:
    """A merchant-customer's recent payments (newest first) and the version they were read at."""

    key: str
    version: int = 0                                   # 0: no item yet
    history: tuple[HistoricalTransaction, ...] = ()

    def recent(self, since: int, limit: int) -> list[HistoricalTransaction]:
        return [h for h in self.history if h.timestamp >= since][:limit]


def get_activity(ddb: Any, table: str, key: str) -> CustomerActivity:
    """Strongly consistent read of one merchant-customer's activity item."""
    item = ddb.get_item(TableName=table, Key={"merchant_customer": {"S": key}},
                        ConsistentRead=True).get("Item")
    if not item:
        return CustomerActivity(key=key)
    data = deserialize(item)
    history = []
    for entry in data.get("recent") or []:
        amount = entry.get("amount") if isinstance(entry, dict) else None
        if isinstance(amount, Decimal):
            history.append(HistoricalTransaction(amount=amount, currency=str(entry.get("currency", "")),
                                                 timestamp=int(entry.get("timestamp", 0))))
    return CustomerActivity(key=key, version=int(data.get("version", 0)), history=tuple(history))


def activity_put(table: str, activity: CustomerActivity, payment: HistoricalTransaction,
                 since: int, limit: int, expires_at: int) -> dict[str, Any]:
    """The TransactWriteItems ``Put`` that records ``payment`` in ``activity``.

    Keeps only the window (``timestamp >= since``), newest first, at most
    ``limit`` entries; succeeds only if nobody wrote the item since it was read.
    """
    recent = [payment, *activity.recent(since, limit)][:limit]
    item = {
        "merchant_customer": activity.key,
        "version": activity.version + 1,
        "recent": [{"amount": h.amount, "currency": h.currency, "timestamp": int(h.timestamp)}
                   for h in recent],
        "expires_at": int(expires_at),
    }
    put: dict[str, Any] = {"TableName": table, "Item": serialize(item)}
    if activity.version == 0:
        put["ConditionExpression"] = "attribute_not_exists(#k)"
        put["ExpressionAttributeNames"] = {"#k": "merchant_customer"}
    else:
        put["ConditionExpression"] = "#v = :v"
        put["ExpressionAttributeNames"] = {"#v": "version"}
        put["ExpressionAttributeValues"] = {":v": {"N": str(activity.version)}}
    return {"Put": put}


def get_idempotency_record(ddb: Any, table: str, key: str) -> dict[str, Any] | None:
    result = ddb.get_item(TableName=table, Key={"idempotency_key": {"S": key}},
                          ConsistentRead=True)
    item = result.get("Item")
    return deserialize(item) if item else None


def _cancellation_codes(error: ClientError) -> list[str | None]:
    reasons = error.response.get("CancellationReasons") or []
    return [r.get("Code") if isinstance(r, dict) else None for r in reasons]


def write_transaction(ddb: Any, idempotency_table: str, transaction_table: str,
                      idempotency_record: dict[str, Any], transaction_item: dict[str, Any],
                      now: int, activity_update: dict[str, Any]) -> None:
    """Atomically store the idempotency record, the transaction and the customer activity.

    Raises :class:`IdempotencyConflict` when an unexpired record for the key
    exists, :class:`ActivityConflict` when the activity item changed since it
    was read, :class:`WriteConflict` when DynamoDB gave no reason. Retries
    (jittered) when DynamoDB reports a TransactionConflict with a concurrent
    writer. Any other failure propagates.
    """
    items = [
        {"Put": {
            "TableName": idempotency_table,
            "Item": serialize(idempotency_record),
            # TTL deletion is lazy: an expired-but-undeleted record must not block reuse.
            "ConditionExpression": "attribute_not_exists(#k) OR #exp < :now",
            "ExpressionAttributeNames": {"#k": "idempotency_key", "#exp": "expires_at"},
            "ExpressionAttributeValues": {":now": {"N": str(int(now))}},
        }},
        {"Put": {
            "TableName": transaction_table,
            "Item": serialize(transaction_item),
            "ConditionExpression": "attribute_not_exists(#t)",
            "ExpressionAttributeNames": {"#t": LEDGER_KEY},
        }},
        activity_update,
    ]
    for attempt in range(_TRANSACT_ATTEMPTS):
        try:
            ddb.transact_write_items(TransactItems=items)
            return
        except ClientError as error:
            if error.response.get("Error", {}).get("Code") != "TransactionCanceledException":
                raise
            codes = _cancellation_codes(error)
            if len(codes) > _IDEMPOTENCY and codes[_IDEMPOTENCY] == "ConditionalCheckFailed":
                raise IdempotencyConflict() from None
            if len(codes) > _ACTIVITY and codes[_ACTIVITY] == "ConditionalCheckFailed":
                raise ActivityConflict() from None
            if "TransactionConflict" in codes and attempt + 1 < _TRANSACT_ATTEMPTS:
                time.sleep(random.uniform(0.02, 0.1) * (attempt + 1))
                continue
            if not codes:
                # No reasons reported: let the caller resolve via the stored record.
                raise WriteConflict() from None
            raise
