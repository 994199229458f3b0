"""DynamoDB adapter for transactions and idempotency records.

Uses the low-level client (thread-safe) with TypeSerializer/TypeDeserializer
so amounts stay ``Decimal`` end to end.
"""
from __future__ import annotations

import random
import time
from decimal import Decimal
from typing import Any

from boto3.dynamodb.types import TypeDeserializer, TypeSerializer
from botocore.exceptions import ClientError

from .fraud import HistoricalTransaction

_serializer = TypeSerializer()
_deserializer = TypeDeserializer()

_TRANSACT_ATTEMPTS = 4


def serialize(item: dict[str, Any]) -> dict[str, Any]:
    return {k: _serializer.serialize(v) for k, v in item.items()}


def deserialize(item: dict[str, Any]) -> dict[str, Any]:
    return {k: _deserializer.deserialize(v) for k, v in item.items()}


class IdempotencyConflict(Exception):
    """The idempotency record already exists (the write was not applied)."""


def query_recent_transactions(ddb: Any, table: str, index: str, customer_id: str,
                              since: int, limit: int) -> list[HistoricalTransaction]:
    """One bounded Query on the customer GSI (newest first; never a Scan)."""
    result = ddb.query(
        TableName=table,
        IndexName=index,
        KeyConditionExpression="#c = :c AND #ts >= :since",
        ExpressionAttributeNames={"#c": "customer_id", "#ts": "timestamp",
                                  "#a": "amount", "#cur": "currency"},
        ExpressionAttributeValues={":c": {"S": customer_id}, ":since": {"N": str(int(since))}},
        ProjectionExpression="#a, #cur, #ts",
        ScanIndexForward=False,
        Limit=limit,
    )
    history = []
    for raw in result.get("Items", []):
        item = deserialize(raw)
        amount = item.get("amount")
        if not isinstance(amount, Decimal):
            continue
        history.append(HistoricalTransaction(amount=amount, currency=str(item.get("currency", "")),
                                             timestamp=int(item.get("timestamp", 0))))
    return history


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
                      now: int) -> None:
    """Atomically store the idempotency record and the transaction.

    Raises :class:`IdempotencyConflict` when an unexpired record for the key
    exists. Retries (jittered) when DynamoDB reports a TransactionConflict with
    a concurrent writer. Any other failure propagates.
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
            "ExpressionAttributeNames": {"#t": "transaction_id"},
        }},
    ]
    for attempt in range(_TRANSACT_ATTEMPTS):
        try:
            ddb.transact_write_items(TransactItems=items)
            return
        except ClientError as error:
            if error.response.get("Error", {}).get("Code") != "TransactionCanceledException":
                raise
            codes = _cancellation_codes(error)
            if codes and codes[0] == "ConditionalCheckFailed":
                raise IdempotencyConflict() from None
            if "TransactionConflict" in codes and attempt + 1 < _TRANSACT_ATTEMPTS:
                time.sleep(random.uniform(0.02, 0.1) * (attempt + 1))
                continue
            if not codes:
                # No reasons reported: let the caller resolve via the stored record.
                raise IdempotencyConflict() from None
            raise
