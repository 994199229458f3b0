"""The merchant registry check: is this caller an active merchant using its own API key?

API Gateway verifies the access token (whose ``client_id`` is the merchant) and, separately, that
the ``x-api-key`` belongs to some usage plan of the stage. Nothing in API Gateway ties the two
together, so merchant A's token with merchant B's key would spend B's quota, and an offboarded
merchant whose key is gone could call with any other valid key until its token expires. The
registry (``payment-merchant-registry-<env>``, written only by scripts/merchants.py) records, per
app client id, the one API key id issued with it and the merchant's status. Every route calls
:func:`require_registered` before it reads or writes any payment data.

Refusals (HTTP 403, the codes merchants see):
  ``MERCHANT_NOT_REGISTERED``  the token's client id has no registry entry
  ``MERCHANT_REMOVED``         the merchant was offboarded
  ``MERCHANT_SUSPENDED``       an operator suspended the merchant (``make merchant-suspend``)
  ``API_KEY_NOT_BOUND``        the request's API key id is missing or not the merchant's own
A failed registry read fails closed: HTTP 503 ``REGISTRY_UNAVAILABLE``, nothing read or written.

A merchant registered as ``synthetic`` (the platform's own canary, ``make canary-onboard``) is
served like any other; its entry says so, and the route marks what it records (the ledger row's
``synthetic`` attribute) and what it measures (payments_core.metrics), so reconciliation and the
business metrics can tell its payments from merchants' money.

A merchant's data is keyed by its merchant id. That is its app client id, unless its registry item
names another in ``merchant_key``: the same merchant holding a second app client (in the disaster-
recovery region's user pool, which does not share client ids with the primary's) keeps one
merchant id, so its ledger, idempotency records and activity, and its merchant-data session's
``merchant_id`` tag, are the same whichever client it calls with (docs/operators/disaster-recovery.md).
The merchant id it names must itself be an active registry entry of the same merchant (name) that
names no other: suspending or offboarding the merchant stops every client of it, and a mistyped
``merchant_key`` cannot reach another merchant's data. Anything else fails closed.

Entries (found or not found) are cached in the warm container for ``CACHE_SECONDS``, so a
suspension or resumption takes effect within that time plus one request; a failed read is never
cached. The cache is bounded (``MAX_CACHED`` client ids, least recently used evicted first).
"""
from __future__ import annotations

import collections
import threading
import time
from dataclasses import dataclass
from typing import Any, Callable, Mapping

from botocore.exceptions import BotoCoreError, ClientError

from . import aws
from .errors import PaymentError

#: How long a registry entry is trusted in a warm container: the upper bound (plus one request) on
#: how long a suspension takes to stop a merchant. Documented in docs/operators/merchants.md.
CACHE_SECONDS = 30.0
MAX_CACHED = 1024
STATUS_ACTIVE, STATUS_SUSPENDED, STATUS_REMOVED = "active", "suspended", "removed"
#: The cache's clock (seconds, monotonic); tests replace it to make entries expire.
clock: Callable[[], float] = time.monotonic


@dataclass(frozen=True)
class RegistryEntry:
    """One merchant's registry row as the functions need it; ``status`` None: no row."""

    client_id: str
    status: str | None
    api_key_id: str | None = None
    synthetic: bool = False      # the platform's canary merchant (scripts/merchants.py add --synthetic)
    merchant_key: str | None = None  # the merchant id its data is keyed by, when not this client id
    merchant: str | None = None      # the merchant's name (scripts/merchants.py): one per merchant


class MerchantRefused(PaymentError):
    """The registry refuses this merchant or this API key (HTTP 403). ``reason`` is logged only."""

    status_code = 403

    def __init__(self, code: str, message: str, reason: str) -> None:
        super().__init__(code, message)
        self.reason = reason


class RegistryUnavailable(PaymentError):
    """The registry could not be read: fail closed (HTTP 503), the caller may retry."""

    status_code = 503

    def __init__(self, reason: str) -> None:
        super().__init__("REGISTRY_UNAVAILABLE", "The merchant registry is temporarily unavailable; "
                                                 "nothing was done. Retry later.")
        self.reason = reason


_lock = threading.Lock()
_cache: "collections.OrderedDict[tuple[str, str], tuple[RegistryEntry, float]]" = collections.OrderedDict()


def reset_cache() -> None:
    """Forget every cached entry (tests; aws.reset_clients calls it)."""
    with _lock:
        _cache.clear()


def _read(ddb: Any, table: str, client_id: str) -> RegistryEntry:
    try:
        item = ddb.get_item(TableName=table, Key={"client_id": {"S": client_id}},
                            ConsistentRead=True,
                            ProjectionExpression="client_id, #s, api_key_id, synthetic, merchant_key, merchant",
                            ExpressionAttributeNames={"#s": "status"}).get("Item")
    except ClientError as error:
        raise RegistryUnavailable(str(error.response.get("Error", {}).get("Code"))) from None
    except BotoCoreError as error:
        raise RegistryUnavailable(type(error).__name__) from None
    if not item:
        return RegistryEntry(client_id, None)
    return RegistryEntry(client_id, item.get("status", {}).get("S"), item.get("api_key_id", {}).get("S"),
                         synthetic=item.get("synthetic", {}).get("S") == "true",
                         merchant_key=item.get("merchant_key", {}).get("S"),
                         merchant=item.get("merchant", {}).get("S"))


def lookup(table: str, client_id: str, *, ddb: Any | None = None) -> RegistryEntry:
    """The registry entry of ``client_id``, from the container cache while it is fresh."""
    key, now = (table, client_id), clock()
    with _lock:
        cached = _cache.get(key)
        if cached is not None and now - cached[1] < CACHE_SECONDS:
            _cache.move_to_end(key)
            return cached[0]
    entry = _read(ddb or aws.client("dynamodb"), table, client_id)
    with _lock:
        _cache[key] = (entry, now)
        _cache.move_to_end(key)
        while len(_cache) > MAX_CACHED:
            _cache.popitem(last=False)
    return entry


def api_key_id_from(event: Mapping[str, Any]) -> str | None:
    """``requestContext.identity.apiKeyId``: the id (never the value) of the key API Gateway checked."""
    context = event.get("requestContext")
    identity = context.get("identity") if isinstance(context, Mapping) else None
    value = identity.get("apiKeyId") if isinstance(identity, Mapping) else None
    return value if isinstance(value, str) and value else None


def require_registered(client_id: str, api_key_id: str | None, table: str, *,
                       ddb: Any | None = None) -> RegistryEntry:
    """Raise :class:`MerchantRefused` unless ``client_id`` is an active merchant calling with its
    own API key id; :class:`RegistryUnavailable` when the registry cannot be read."""
    entry = lookup(table, client_id, ddb=ddb)
    if entry.status is None:
        raise MerchantRefused("MERCHANT_NOT_REGISTERED",
                              "This client is not a registered merchant.", "no registry entry")
    if entry.status == STATUS_REMOVED:
        raise MerchantRefused("MERCHANT_REMOVED", "This merchant has been offboarded.", "status removed")
    if entry.status != STATUS_ACTIVE:
        raise MerchantRefused("MERCHANT_SUSPENDED", "This merchant is suspended; contact support.",
                              f"status {entry.status}")
    if not entry.api_key_id or api_key_id != entry.api_key_id:
        raise MerchantRefused("API_KEY_NOT_BOUND",
                              "The API key is not the one issued with this client's credentials.",
                              "api key id missing" if api_key_id is None else "api key id of another client")
    return entry


def merchant_id_of(entry: RegistryEntry, table: str, id_pattern: Any, *, ddb: Any | None = None) -> str:
    """The merchant id ``entry``'s data is keyed by: its client id, or its ``merchant_key`` once that
    is shown to be an active entry of the same merchant naming no other (the refusal codes of the
    merchant's own state; :class:`RegistryUnavailable` for an entry that is not consistent)."""
    key = entry.merchant_key
    if key is None or key == entry.client_id:
        return entry.client_id
    if not id_pattern.fullmatch(key):
        raise RegistryUnavailable("malformed merchant_key")
    target = lookup(table, key, ddb=ddb)
    if target.merchant_key not in (None, target.client_id) or target.merchant != entry.merchant:
        raise RegistryUnavailable("merchant_key names another merchant or another key")
    if target.status == STATUS_REMOVED:
        raise MerchantRefused("MERCHANT_REMOVED", "This merchant has been offboarded.", "merchant key removed")
    if target.status != STATUS_ACTIVE:
        raise MerchantRefused("MERCHANT_SUSPENDED", "This merchant is suspended; contact support.",
                              f"merchant key {target.status or 'not registered'}")
    return key
