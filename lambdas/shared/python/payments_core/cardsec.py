"""Card-data helpers: fingerprinting and request hashing.

The full PAN is only ever held in memory during a request. What is stored is
``card_last4`` and ``card_fingerprint``. The fingerprint is SHA-256 over a
domain-separated PAN, or HMAC-SHA256 when a secret key is supplied. NOTE: an
unkeyed hash of a PAN can be brute-forced (the PAN space is small); PCI DSS
v4.0 req. 3.5.1.1 expects a keyed hash, so production should pass a key held
in KMS/Secrets Manager (``key=``); the deployed functions currently have no
such secret configured.
"""
from __future__ import annotations

import hashlib
import hmac
import json

from .validation import PaymentRequest

_DOMAIN = b"payments-core/card-fingerprint/v1:"


def card_fingerprint(pan_digits: str, key: bytes | None = None) -> str:
    data = _DOMAIN + pan_digits.encode("ascii")
    if key:
        return hmac.new(key, data, hashlib.sha256).hexdigest()
    return hashlib.sha256(data).hexdigest()


def canonical_request(request: PaymentRequest, key: bytes | None = None) -> str:
    """Canonical JSON of a validated request (the PAN replaced by its fingerprint)."""
    return json.dumps({
        "amount": request.amount_str,
        "card_fingerprint": card_fingerprint(request.card_number, key),
        "currency": request.currency,
        "customer_id": request.customer_id,
    }, sort_keys=True, separators=(",", ":"))


def request_hash(request: PaymentRequest, key: bytes | None = None) -> str:
    """SHA-256 of the canonical validated request (used for idempotency)."""
    return hashlib.sha256(canonical_request(request, key).encode("utf-8")).hexdigest()
