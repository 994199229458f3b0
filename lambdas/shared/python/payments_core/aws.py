"""Thread-safe, cached boto3 clients (created once per process / warm container).

Used for ``s3`` (audit writer), ``kms`` (card fingerprints via GenerateMac in
/process) and ``sts`` (merchant sessions); one client per service and region.
Merchant data (DynamoDB) is reached only through :mod:`payments_core.tenancy`.
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
    with _lock:  # boto3 session/client creation is not thread-safe
        cached = _clients.get(key)
        if cached is None:
            cached = boto3.session.Session().client(service, region_name=region,
                                                    config=BOTO_CONFIG)
            _clients[key] = cached
        return cached


@snapstart.after_restore
def _drop_clients() -> None:
    """The cached clients (their credentials came from the environment the snapshot was taken in)."""
    with _lock:
        _clients.clear()


def reset_clients() -> None:
    """Drop cached clients, merchant sessions and registry entries (tests call this between mocked AWS contexts)."""
    with _lock:
        _clients.clear()
    from . import registry, tenancy  # (they import this module)
    tenancy.reset_sessions()
    registry.reset_cache()
