"""The region fence (issue 21): a region that is fenced stores no payment.

Replication between the regions is eventual (docs/operators/disaster-recovery.md). Before the
disaster-recovery region takes payments, the primary must stop taking them, or a payment stored in
the primary after the failover started, or the retry of one still on its way to the other region,
is lost or made twice. The fence is an item of the merchant registry, a global table every API
function already reads with its own role: ``client_id = "region-fence#<region>"`` (a merchant id
never contains ``#``). ``make fence`` writes it (scripts/fence.py) in whichever region still
answers; it replicates to the other.

``/process`` in a fenced region answers 503 ``REGION_FENCED`` and stores nothing; a merchant's retry
with the same Idempotency-Key, once the merchant-facing name points at the other region, is
answered there (by the replicated record when the payment was stored before the fence). validate
and fraud-check store nothing and keep answering.

A standby region (the disaster-recovery region's stack, modules/stacks/standby_stack.py) is fenced
*by default*: its functions carry ``REGION_FENCED_BY_DEFAULT=true``, so without an item it stores
nothing, and it takes payments only after an explicit unfence (``fenced = false``), which ``make
failover`` writes once the primary is fenced and the replication lag is out. A standby that was just
created, or whose item was lost, can never take writes beside a primary that still does.

The item's ``fenced`` attribute (BOOL) says which; an item without it is a fence.

The fence item is read consistently and trusted for ``CACHE_SECONDS``, so a fence takes effect
within that time plus one request; a failed read refuses the payment like a failed registry read
(503 ``REGISTRY_UNAVAILABLE``, nothing stored).
"""
from __future__ import annotations

import os
import threading
import time
from typing import Any, Callable

from botocore.exceptions import BotoCoreError, ClientError

from . import aws
from .errors import PaymentError
from .registry import RegistryUnavailable

PREFIX = "region-fence#"
#: Set to "true" on the functions of a standby region: no item there means fenced.
DEFAULT_ENV = "REGION_FENCED_BY_DEFAULT"
#: How long a warm container trusts what it read: the bound (plus one request) on how long a new
#: fence takes to stop payments. Short, because it is on the failover's critical path.
CACHE_SECONDS = 5.0
#: The cache's clock (seconds, monotonic); tests replace it.
clock: Callable[[], float] = time.monotonic

_lock = threading.Lock()
_cache: dict[tuple[str, str], tuple[bool, float]] = {}


class RegionFenced(PaymentError):
    """This region is fenced: nothing stored; the retry reaches the serving region (HTTP 503)."""

    status_code = 503

    def __init__(self) -> None:
        super().__init__("REGION_FENCED", "This region is not taking payments (a failover is in progress); "
                                          "nothing was stored. Retry with the same Idempotency-Key.")


def fence_key(region: str) -> str:
    return f"{PREFIX}{region}"


def fenced_by_default() -> bool:
    """Whether this region is fenced when it has no fence item (the standby region's functions)."""
    return os.environ.get(DEFAULT_ENV, "").lower() == "true"


def fenced_by(item: dict[str, Any] | None, default: bool) -> bool:
    """What a fence item (a DynamoDB item, or None) says: its ``fenced`` flag; an item without the
    flag is a fence; no item is the region's default."""
    if not item:
        return default
    return bool(item.get("fenced", {}).get("BOOL", True))


def reset_cache() -> None:
    with _lock:
        _cache.clear()


def is_fenced(table: str, region: str, *, ddb: Any | None = None) -> bool:
    """Whether ``region`` is fenced, from the container cache while it is fresh."""
    key, now = (table, region), clock()
    with _lock:
        cached = _cache.get(key)
        if cached is not None and now - cached[1] < CACHE_SECONDS:
            return cached[0]
    try:
        item = (ddb or aws.client("dynamodb")).get_item(
            TableName=table, Key={"client_id": {"S": fence_key(region)}}, ConsistentRead=True,
            ProjectionExpression="client_id, fenced").get("Item")
    except ClientError as error:  # cannot tell: store nothing (the registry's own failure answer)
        raise RegistryUnavailable(str(error.response.get("Error", {}).get("Code"))) from None
    except BotoCoreError as error:
        raise RegistryUnavailable(type(error).__name__) from None
    fenced = fenced_by(item, fenced_by_default())
    with _lock:
        _cache[key] = (fenced, now)
    return fenced


def require_unfenced(table: str, region: str, *, ddb: Any | None = None) -> None:
    """Raise :class:`RegionFenced` when ``region`` is fenced (or its fence cannot be read)."""
    if is_fenced(table, region, ddb=ddb):
        raise RegionFenced()
