"""Thread-safe, cached boto3 clients (created once per process / warm container).

Used for ``s3`` (audit writer), ``kms`` (card fingerprints via GenerateMac in
/process) and ``sts`` (merchant sessions); one client per service and region.
Merchant data (DynamoDB) is reached only through :mod:`payments_core.tenancy`.

Every client, the merchants' included, comes from one boto3 session per process
(:func:`new_client`): a session reads the endpoint rules and each service's model
from disk the first time, so a session per client (or per merchant) would read
them again for every new merchant on a warm container (tens of milliseconds
each). Credentials are per client, so sharing the session shares no identity.
"""
from __future__ import annotations

import os
import threading
from typing import Any

import boto3
from botocore.config import Config as BotoConfig

from . import snapstart

_lock = threading.Lock()
_clients: dict[tuple[str, str | None], Any] = {}
_session: boto3.session.Session | None = None

# Bounded retries/timeouts so a slow dependency fails inside the Lambda timeout.
BOTO_CONFIG = BotoConfig(
    retries={"max_attempts": 3, "mode": "standard"},
    connect_timeout=3,
    read_timeout=5,
)


def client(service: str) -> Any:
    """A cached low-level client (low-level clients are thread-safe)."""
    region = os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION")
    key = (service, region)
    cached = _clients.get(key)
    if cached is not None:
        return cached
    cached = new_client(service, region)
    with _lock:
        return _clients.setdefault(key, cached)


def new_client(service: str, region: str | None, **credentials: str) -> Any:
    """A new client of the process's one session: the function's own credentials (from the
    environment), or the temporary ``credentials`` given (``aws_access_key_id``,
    ``aws_secret_access_key``, ``aws_session_token``)."""
    global _session
    with _lock:  # boto3 session/client creation is not thread-safe
        if _session is None:
            _session = boto3.session.Session()
        return _session.client(service, region_name=region, config=BOTO_CONFIG, **credentials)


@snapstart.after_restore
def _drop_clients() -> None:
    """The cached clients and the session (the function's credentials came from the environment
    the snapshot was taken in)."""
    global _session
    with _lock:
        _clients.clear()
        _session = None


def reset_clients() -> None:
    """Drop cached clients, merchant sessions, registry entries and region fences (tests call this
    between mocked AWS contexts)."""
    _drop_clients()
    from . import fence, registry, tenancy  # (they import this module)
    tenancy.reset_sessions()
    registry.reset_cache()
    fence.reset_cache()
