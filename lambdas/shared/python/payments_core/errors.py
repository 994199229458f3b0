"""Exception types that map onto HTTP error responses.

Messages are fixed strings written by us: they never interpolate request
values, so an error body can never echo a card number (or anything else the
caller sent).
"""
from __future__ import annotations


class PaymentError(Exception):
    """A client-visible error with a machine-readable code."""

    status_code = 400

    def __init__(self, code: str, message: str, field: str | None = None,
                 status_code: int | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.field = field
        if status_code is not None:
            self.status_code = status_code


class ValidationError(PaymentError):
    """Request rejected before any side effect (HTTP 400)."""

    status_code = 400


class IdempotencyKeyReusedError(PaymentError):
    """Idempotency-Key already used for a different request (HTTP 422)."""

    status_code = 422

    def __init__(self) -> None:
        super().__init__(
            "IDEMPOTENCY_KEY_REUSED",
            "This Idempotency-Key was already used with a different request body.",
            field="Idempotency-Key",
        )


class ConfigurationError(RuntimeError):
    """The function's environment is misconfigured (surfaces as HTTP 500)."""
