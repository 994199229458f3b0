"""Merchant-scoped AWS clients: every read and write of merchant data uses them.

The function's own role may not touch merchant data. It may only call
``sts:AssumeRole`` on its merchant-data role with the session tag
``merchant_id=<merchant>``; that role's policy allows DynamoDB item access only
where ``dynamodb:LeadingKeys`` matches ``${aws:PrincipalTag/merchant_id}#*``.
So a bug that builds another merchant's key ("<other>#...") is refused by IAM,
not just by our code.

The session is cached per (role, merchant, service) in the warm container and
renewed ``REFRESH_MARGIN_SECONDS`` before it expires; the cache is bounded
(least recently used merchant evicted first).
"""
from __future__ import annotations

import collections
import os
import threading
import time
from dataclasses import dataclass
from typing import Any, Callable

from . import aws, snapstart

MERCHANT_TAG = "merchant_id"
SESSION_SECONDS = 3600          # the role's default maximum session
REFRESH_MARGIN_SECONDS = 300
MAX_CACHED_SESSIONS = 128


@dataclass(frozen=True)
class _Session:
    client: Any
    expires_at: float


_lock = threading.Lock()
_sessions: "collections.OrderedDict[tuple[str, str, str], _Session]" = collections.OrderedDict()


def session_name(merchant_id: str) -> str:
    """RoleSessionName (<= 64 chars, CloudTrail shows it): names the merchant."""
    return f"merchant-{merchant_id}"[:64]


def merchant_client(service: str, merchant_id: str, role_arn: str, *, sts: Any | None = None,
                    clock: Callable[[], float] = time.time) -> Any:
    """A ``service`` client whose credentials carry the session tag ``merchant_id``."""
    key = (role_arn, merchant_id, service)
    with _lock:
        cached = _sessions.get(key)
        if cached is not None and cached.expires_at - clock() > REFRESH_MARGIN_SECONDS:
            _sessions.move_to_end(key)
            return cached.client
    credentials = (sts or aws.client("sts")).assume_role(
        RoleArn=role_arn, RoleSessionName=session_name(merchant_id),
        DurationSeconds=SESSION_SECONDS,
        Tags=[{"Key": MERCHANT_TAG, "Value": merchant_id}],
    )["Credentials"]
    region = os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION")
    client = aws.new_client(service, region, aws_access_key_id=credentials["AccessKeyId"],
                            aws_secret_access_key=credentials["SecretAccessKey"],
                            aws_session_token=credentials["SessionToken"])
    with _lock:
        _sessions[key] = _Session(client, credentials["Expiration"].timestamp())
        _sessions.move_to_end(key)
        while len(_sessions) > MAX_CACHED_SESSIONS:
            _sessions.popitem(last=False)
    return client


@snapstart.after_restore
def reset_sessions() -> None:
    """Drop cached sessions (tests call this between mocked AWS contexts)."""
    with _lock:
        _sessions.clear()
