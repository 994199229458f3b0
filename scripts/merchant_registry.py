"""The operator side of the merchant registry (table ``payment-merchant-registry-<env>``, see
modules/merchant_registry.py): what scripts/merchants.py records and changes there.

One item per app client id: ``merchant``, ``api_key_id``, ``usage_plan_id``, ``status``
(active / suspended / removed), the times of each change, and ``synthetic`` ("true") on the
platform's own canary merchant (``make canary-onboard``). The API functions read it
(lambdas/shared/python/payments_core/registry.py, cache 30 s) and refuse a suspended or removed
merchant and any API key other than the one recorded here.

Every change is a conditional write, so two operators cannot both flip a merchant, and an item is
never deleted: ``remove`` marks it ``removed`` (the client id of an old transaction still names a
merchant, and the item is the record of which key that merchant held).
"""

from __future__ import annotations

import datetime as dt
from typing import Any, Callable

ACTIVE, SUSPENDED, REMOVED = "active", "suspended", "removed"


class RegistryError(RuntimeError):
    """A registry change this command refuses; the message is the whole report."""


def utc_now() -> str:
    return dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")


def _item(row: dict[str, Any]) -> dict[str, Any]:
    return {k: {"S": str(v)} for k, v in row.items() if v is not None}


def _plain(item: dict[str, Any]) -> dict[str, str]:
    return {k: v.get("S", "") for k, v in item.items()}


def record(ddb: Any, table: str, *, client_id: str, merchant: str, api_key_id: str,
           usage_plan_id: str | None, synthetic: bool = False, merchant_key: str | None = None,
           now: Callable[[], str] = utc_now) -> dict[str, str]:
    """A new, active merchant; refused when the client id is recorded already. ``synthetic``: the
    platform's canary (the functions mark its payments and keep it out of the business metrics).
    ``merchant_key``: the merchant id this client's data is keyed by, for a merchant's second app
    client (the DR region's user pool); None: its own client id."""
    stamp = now()
    row = {"client_id": client_id, "merchant": merchant, "api_key_id": api_key_id,
           "usage_plan_id": usage_plan_id, "status": ACTIVE, "created_at": stamp, "updated_at": stamp,
           "synthetic": "true" if synthetic else None, "merchant_key": merchant_key}
    try:
        ddb.put_item(TableName=table, Item=_item(row), ConditionExpression="attribute_not_exists(client_id)")
    except ddb.exceptions.ConditionalCheckFailedException:
        raise RegistryError(f"client {client_id} is in the registry already") from None
    return {k: v for k, v in row.items() if v is not None}


def delete_new(ddb: Any, table: str, client_id: str) -> None:
    """Undo :func:`record` of a failed ``add`` (the merchant never received credentials)."""
    ddb.delete_item(TableName=table, Key={"client_id": {"S": client_id}})


def rows_of(ddb: Any, table: str, merchant: str) -> list[dict[str, str]]:
    """Every registry item of ``merchant`` (a scan: the registry holds one item per merchant ever
    onboarded, and only operators run this)."""
    rows = []
    for page in ddb.get_paginator("scan").paginate(
            TableName=table, ConsistentRead=True, FilterExpression="merchant = :m",
            ExpressionAttributeValues={":m": {"S": merchant}}):
        rows += [_plain(i) for i in page.get("Items", [])]
    return sorted(rows, key=lambda r: r.get("created_at", ""))


def current(ddb: Any, table: str, merchant: str, environment: str) -> dict[str, str]:
    """The merchant's one item that is not removed, of its own client (not a ``merchant_key`` item:
    the standby region's client, which scripts/merchant_standby.py changes with it)."""
    live = [r for r in rows_of(ddb, table, merchant) if r.get("status") != REMOVED and not r.get("merchant_key")]
    if not live:
        raise RegistryError(f"merchant {merchant} is not in the registry of {environment} (onboarded before "
                            f"the registry existed? `make merchant-register NAME={merchant}` records it)")
    if len(live) > 1:
        raise RegistryError(f"merchant {merchant} has {len(live)} live registry items "
                            f"({', '.join(r['client_id'] for r in live)}): resolve by hand")
    return live[0]


def set_status(ddb: Any, table: str, row: dict[str, str], to: str, expected: str,
               now: Callable[[], str] = utc_now) -> dict[str, str]:
    """``row`` from ``expected`` to ``to`` (conditional on ``expected``), stamping ``<to>_at``."""
    stamp = now()
    field = {SUSPENDED: "suspended_at", ACTIVE: "resumed_at", REMOVED: "removed_at"}[to]
    try:
        ddb.update_item(
            TableName=table, Key={"client_id": {"S": row["client_id"]}},
            UpdateExpression="SET #s = :to, #at = :now, updated_at = :now",
            ConditionExpression="#s = :expected",
            ExpressionAttributeNames={"#s": "status", "#at": field},
            ExpressionAttributeValues={":to": {"S": to}, ":now": {"S": stamp}, ":expected": {"S": expected}})
    except ddb.exceptions.ConditionalCheckFailedException:
        raise RegistryError(f"client {row['client_id']} changed while this ran (no longer {expected}); "
                            "nothing changed, look again") from None
    return {**row, "status": to, field: stamp, "updated_at": stamp}
