"""Card-data helpers: keyed fingerprinting and request hashing.

The full PAN is only ever held in memory during a request. What is stored is
``card_last4`` and ``card_fingerprint``. The fingerprint is an HMAC-SHA256
computed *inside AWS KMS* (``GenerateMac``) with an HMAC_256 key whose
material never leaves KMS, over a domain-separated PAN (PCI DSS v4.0 req.
3.5.1.1: a keyed cryptographic hash). There is deliberately no unkeyed
fallback: an unkeyed hash of a PAN can be brute-forced (the PAN space is
small), so a missing key is a configuration error, not a reason to degrade.

The fingerprint is computed once per request and reused for both the stored
``card_fingerprint`` attribute and the idempotency ``request_hash``.

The client's ``Idempotency-Key`` is never stored or logged either (a client may
put a card number in it): :func:`idempotency_key_digest` is an HMAC-SHA256 of
``merchant id || 0x00 || key`` under a secret derived once per container from
the same KMS HMAC key. Why not the alternatives: an HMAC keyed with the
merchant id alone is an unkeyed hash in disguise (the id is not secret, and a
PAN with a known BIN and Luhn digit leaves ~10^9 candidates: minutes to brute
force); a KMS GenerateMac per request would double /process's KMS calls and
share the account's HMAC request quota with the fingerprints. The derived
secret is ``GenerateMac(key, "payments-core/idempotency-key/v1")``: as secret as
the KMS key (only a principal allowed kms:GenerateMac on it can compute it),
deterministic across containers (replays keep working), and costs one KMS call
per cold start. It never matches a card fingerprint (different message prefix).
"""
from __future__ import annotations

import hashlib
import hmac
import json
import threading
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from . import snapstart
from .validation import PaymentRequest

MAC_ALGORITHM = "HMAC_SHA_256"
_DOMAIN = b"payments-core/card-fingerprint/v2:"
_IDEMPOTENCY_DERIVATION = b"payments-core/idempotency-key/v1"

_derived_lock = threading.Lock()
_derived_secrets: dict[str, bytes] = {}


class CardFingerprintError(RuntimeError):
    """KMS could not compute the fingerprint (surfaces as a generic HTTP 500).

    The message is fixed text plus the AWS error code; it never contains the
    PAN, the MAC input or the KMS error message.
    """


def fingerprint_message(pan_digits: str) -> bytes:
    """The MAC input: a domain-separation prefix followed by the normalised PAN."""
    return _DOMAIN + pan_digits.encode("ascii")


def _generate_mac(key_id: str, message: bytes, kms: Any) -> bytes:
    if not key_id:
        raise CardFingerprintError("card fingerprint key is not configured")
    try:
        result = kms.generate_mac(KeyId=key_id, MacAlgorithm=MAC_ALGORITHM, Message=message)
    except ClientError as error:
        code = str(error.response.get("Error", {}).get("Code") or "Unknown")
        raise CardFingerprintError(f"KMS GenerateMac failed ({code})") from None
    except BotoCoreError as error:
        raise CardFingerprintError(f"KMS GenerateMac failed ({type(error).__name__})") from None
    mac = result.get("Mac") if isinstance(result, dict) else None
    if not isinstance(mac, (bytes, bytearray)) or len(mac) != 32:
        raise CardFingerprintError("KMS GenerateMac returned an unexpected MAC")
    return bytes(mac)


def card_fingerprint(pan_digits: str, key_id: str, kms: Any) -> str:
    """Hex HMAC-SHA256 of the domain-separated PAN, computed by KMS ``GenerateMac``.

    ``key_id`` is the HMAC_256 (GENERATE_VERIFY_MAC) key; ``kms`` a KMS client.
    """
    return _generate_mac(key_id, fingerprint_message(pan_digits), kms).hex()


def _idempotency_secret(key_id: str, kms: Any) -> bytes:
    with _derived_lock:
        secret = _derived_secrets.get(key_id)
    if secret is None:
        secret = _generate_mac(key_id, _IDEMPOTENCY_DERIVATION, kms)
        with _derived_lock:
            _derived_secrets[key_id] = secret
    return secret


@snapstart.after_restore
def reset_derived_secrets() -> None:
    """Forget the derived secrets (after a SnapStart restore; payments_core.snapstart)."""
    with _derived_lock:
        _derived_secrets.clear()


def idempotency_key_digest(merchant_id: str, idempotency_key: str, key_id: str, kms: Any) -> str:
    """Hex keyed digest of a merchant's Idempotency-Key (what is stored and logged)."""
    message = merchant_id.encode("ascii") + b"\x00" + idempotency_key.encode("ascii")
    return hmac.new(_idempotency_secret(key_id, kms), message, hashlib.sha256).hexdigest()


def canonical_request(request: PaymentRequest, fingerprint: str) -> str:
    """Canonical JSON of a validated request (the PAN replaced by its fingerprint)."""
    return json.dumps({
        "amount": request.amount_str,
        "card_fingerprint": fingerprint,
        "currency": request.currency,
        "customer_id": request.customer_id,
    }, sort_keys=True, separators=(",", ":"))


def request_hash(request: PaymentRequest, fingerprint: str) -> str:
    """SHA-256 of the canonical validated request (used for idempotency).

    ``fingerprint`` is the request's :func:`card_fingerprint` (already keyed).
    """
    return hashlib.sha256(canonical_request(request, fingerprint).encode("utf-8")).hexdigest()
