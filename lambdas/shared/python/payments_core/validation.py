"""Pure request validation: body decoding, field rules, Luhn, amounts.

Nothing here performs I/O. Every rejection raises :class:`ValidationError`
with a fixed message (never the offending value).
"""
from __future__ import annotations

import base64
import binascii
import json
import re
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation, localcontext
from typing import Any, Mapping

from . import metrics
from .currencies import MINOR_UNITS
from .errors import ValidationError

MAX_BODY_BYTES = 8 * 1024
# Base64 of MAX_BODY_BYTES plus some slack for line breaks/padding.
_MAX_B64_CHARS = ((MAX_BODY_BYTES + 2) // 3) * 4 + 16

REQUIRED_FIELDS = ("customer_id", "amount", "currency", "card_number")
ALLOWED_FIELDS = frozenset(REQUIRED_FIELDS)

CUSTOMER_ID_MAX = 64
CARD_NUMBER_RAW_MAX = 40          # 19 digits plus separators
CARD_DIGITS_MIN, CARD_DIGITS_MAX = 13, 19
AMOUNT_STRING_MAX = 40

_CUSTOMER_ID_RE = re.compile(r"[A-Za-z0-9_-]{1,64}")
_CURRENCY_RE = re.compile(r"[A-Z]{3}")
_AMOUNT_STR_RE = re.compile(r"-?[0-9]+(?:\.[0-9]+)?")
_ASCII_DIGITS = frozenset("0123456789")
IDEMPOTENCY_KEY_RE = re.compile(r"[A-Za-z0-9_-]{1,128}")


class _JsonConstant:
    """Stand-in for the non-standard JSON constants NaN/Infinity/-Infinity."""

    __slots__ = ("name",)

    def __init__(self, name: str) -> None:
        self.name = name


class _DuplicateKey(ValueError):
    pass


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for key, value in pairs:
        if key in result:
            raise _DuplicateKey()
        result[key] = value
    return result


@dataclass(frozen=True)
class PaymentRequest:
    """A validated payment request. ``card_number`` is digits only."""

    customer_id: str
    amount: Decimal
    currency: str
    card_number: str

    @property
    def card_last4(self) -> str:
        return self.card_number[-4:]

    @property
    def amount_str(self) -> str:
        return format_amount(self.amount, self.currency)

    def __repr__(self) -> str:  # never leak the PAN through repr()/tracebacks
        return (f"PaymentRequest(customer_id={self.customer_id!r}, amount={self.amount_str}, "
                f"currency={self.currency!r}, card_last4={self.card_last4!r})")

    __str__ = __repr__


# --------------------------------------------------------------------------- body

def decode_body(body: Any, is_base64: bool = False) -> str:
    """Return the request body text, enforcing the size bound and encoding."""
    if body is None or body == "":
        raise ValidationError("MISSING_BODY", "A JSON request body is required.")
    if not isinstance(body, str):
        raise ValidationError("INVALID_JSON", "The request body must be a JSON document.")
    if is_base64:
        if len(body) > _MAX_B64_CHARS:
            raise ValidationError("BODY_TOO_LARGE",
                                  f"The request body must not exceed {MAX_BODY_BYTES} bytes.")
        try:
            raw = base64.b64decode(body, validate=True)
        except (binascii.Error, ValueError):
            raise ValidationError("INVALID_ENCODING",
                                  "The request body is not valid base64.") from None
    else:
        try:
            raw = body.encode("utf-8")
        except UnicodeEncodeError:  # lone surrogates
            raise ValidationError("INVALID_ENCODING",
                                  "The request body must be UTF-8 text.") from None
    if len(raw) > MAX_BODY_BYTES:
        raise ValidationError("BODY_TOO_LARGE",
                              f"The request body must not exceed {MAX_BODY_BYTES} bytes.")
    if not raw:
        raise ValidationError("MISSING_BODY", "A JSON request body is required.")
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        raise ValidationError("INVALID_ENCODING", "The request body must be UTF-8 text.") from None


def parse_json_object(text: str) -> dict[str, Any]:
    """Strict JSON parse: Decimal numbers, no duplicate keys, object at top."""
    try:
        value = json.loads(
            text,
            parse_float=Decimal,
            parse_int=Decimal,  # also avoids int() digit-limit errors on huge ints
            parse_constant=_JsonConstant,
            object_pairs_hook=_no_duplicates,
        )
    except _DuplicateKey:
        raise ValidationError("INVALID_JSON", "The request body contains duplicate keys.") from None
    except (ValueError, RecursionError, InvalidOperation):
        raise ValidationError("INVALID_JSON", "The request body is not valid JSON.") from None
    if not isinstance(value, dict):
        raise ValidationError("INVALID_BODY_TYPE", "The request body must be a JSON object.")
    return value


# ------------------------------------------------------------------------- fields

def validate_customer_id(value: Any) -> str:
    if not isinstance(value, str) or not _CUSTOMER_ID_RE.fullmatch(value):
        raise ValidationError(
            "INVALID_CUSTOMER_ID",
            "customer_id must be a string of 1-64 characters from [A-Za-z0-9_-].",
            field="customer_id")
    return value


def validate_currency(value: Any) -> str:
    if not isinstance(value, str) or not _CURRENCY_RE.fullmatch(value):
        raise ValidationError("INVALID_CURRENCY",
                              "currency must be a 3-letter uppercase ISO 4217 code.",
                              field="currency")
    if value not in MINOR_UNITS:
        raise ValidationError("UNSUPPORTED_CURRENCY", "currency is not supported.",
                              field="currency")
    return value


def decimal_places(value: Decimal) -> int:
    """Significant decimal places of a finite Decimal (trailing zeros ignored).

    Computed from the digit tuple, so no context rounding can hide precision.
    """
    _sign, digits, exponent = value.as_tuple()
    if not isinstance(exponent, int) or exponent >= 0:
        return 0
    digits = list(digits)
    while exponent < 0 and len(digits) > 1 and digits[-1] == 0:
        digits.pop()
        exponent += 1
    if digits == [0]:
        return 0
    return -exponent


def format_amount(amount: Decimal, currency: str) -> str:
    """Canonical string for an amount: fixed-point with the currency's minor units."""
    places = MINOR_UNITS[currency]
    with localcontext() as ctx:
        ctx.prec = 64
        quantized = amount.quantize(Decimal(1).scaleb(-places))
    return f"{quantized:f}"


def max_amount_for(currency: str, max_amount: Mapping[str, Decimal] | Decimal) -> Decimal:
    """The per-transaction maximum for ``currency``.

    ``max_amount`` is the per-currency table (``Config.max_amount``); a bare Decimal is
    one cap for every currency and is meant for tests and callers with a single currency.
    """
    if isinstance(max_amount, Decimal):
        return max_amount
    return max_amount[currency]


def parse_amount(value: Any, currency: str,
                 max_amount: Mapping[str, Decimal] | Decimal) -> Decimal:
    """Parse ``amount`` (JSON number already a Decimal, or a decimal string).

    ``currency`` must already be validated. Returns the amount quantized to the
    currency's minor units; above the currency's maximum is ``AMOUNT_TOO_LARGE``.
    """
    if isinstance(value, bool) or isinstance(value, float):
        # Booleans are never amounts, and binary floats are never trusted with
        # money (the JSON parser yields Decimal, so floats only come from callers).
        raise ValidationError("INVALID_AMOUNT",
                              "amount must be a decimal number or a decimal string.",
                              field="amount")
    if isinstance(value, int):
        value = Decimal(value)
    if isinstance(value, str):
        if len(value) > AMOUNT_STRING_MAX or not _AMOUNT_STR_RE.fullmatch(value):
            raise ValidationError("INVALID_AMOUNT",
                                  "amount must be a plain decimal string such as \"12.34\".",
                                  field="amount")
        value = Decimal(value)
    if not isinstance(value, Decimal) or not value.is_finite():
        raise ValidationError("INVALID_AMOUNT",
                              "amount must be a finite decimal number or a decimal string.",
                              field="amount")
    if value <= 0:
        raise ValidationError("AMOUNT_NOT_POSITIVE", "amount must be greater than zero.",
                              field="amount")
    if value > max_amount_for(currency, max_amount):
        raise ValidationError("AMOUNT_TOO_LARGE",
                              "amount exceeds the maximum allowed per transaction.",
                              field="amount")
    if decimal_places(value) > MINOR_UNITS[currency]:
        raise ValidationError("AMOUNT_TOO_PRECISE",
                              "amount has more decimal places than the currency allows.",
                              field="amount")
    with localcontext() as ctx:
        ctx.prec = 64
        return value.quantize(Decimal(1).scaleb(-MINOR_UNITS[currency]))


def luhn_valid(digits: str) -> bool:
    """Luhn checksum over an ASCII digit string."""
    if not digits or any(c not in _ASCII_DIGITS for c in digits):
        return False
    total = 0
    for index, char in enumerate(reversed(digits)):
        digit = ord(char) - 48
        if index % 2 == 1:
            digit *= 2
            if digit > 9:
                digit -= 9
        total += digit
    return total % 10 == 0


def luhn_check_digit(partial: str) -> str:
    """The digit that makes ``partial + digit`` Luhn-valid."""
    for candidate in "0123456789":
        if luhn_valid(partial + candidate):
            return candidate
    raise ValueError("unreachable")  # pragma: no cover


def normalize_card_number(value: Any) -> str:
    """Validate a card number and return its ASCII digits."""
    if not isinstance(value, str):
        raise ValidationError("INVALID_CARD_NUMBER", "card_number must be a string.",
                              field="card_number")
    if len(value) > CARD_NUMBER_RAW_MAX:
        raise ValidationError("INVALID_CARD_NUMBER_LENGTH",
                              "card_number must have 13-19 digits.", field="card_number")
    digits = value.replace(" ", "").replace("-", "")
    # str.isdigit() accepts Unicode digits ('١', fullwidth '１'); we do not.
    if not digits or any(c not in _ASCII_DIGITS for c in digits):
        raise ValidationError("INVALID_CARD_NUMBER",
                              "card_number may contain only ASCII digits, spaces and dashes.",
                              field="card_number")
    if not CARD_DIGITS_MIN <= len(digits) <= CARD_DIGITS_MAX:
        raise ValidationError("INVALID_CARD_NUMBER_LENGTH",
                              "card_number must have 13-19 digits.", field="card_number")
    if not luhn_valid(digits):
        raise ValidationError("CARD_NUMBER_CHECKSUM_FAILED",
                              "card_number failed the Luhn check.", field="card_number")
    return digits


# ------------------------------------------------------------------------ request

def validate_payment(data: dict[str, Any],
                     max_amount: Mapping[str, Decimal] | Decimal) -> PaymentRequest:
    """Validate a parsed body. Unknown fields are rejected (UNKNOWN_FIELD)."""
    if not isinstance(data, dict):
        raise ValidationError("INVALID_BODY_TYPE", "The request body must be a JSON object.")
    if any(key not in ALLOWED_FIELDS for key in data):
        # The unknown name itself is not echoed: it is caller input.
        raise ValidationError(
            "UNKNOWN_FIELD",
            "The request body contains an unknown field; allowed fields are "
            "customer_id, amount, currency, card_number.")
    for name in REQUIRED_FIELDS:
        if name not in data:
            raise ValidationError("MISSING_FIELD", f"{name} is required.", field=name)
    customer_id = validate_customer_id(data["customer_id"])
    currency = validate_currency(data["currency"])
    amount = parse_amount(data["amount"], currency, max_amount)
    card_number = normalize_card_number(data["card_number"])
    return PaymentRequest(customer_id=customer_id, amount=amount, currency=currency,
                          card_number=card_number)


def parse_payment_body(body: Any, is_base64: bool,
                       max_amount: Mapping[str, Decimal] | Decimal) -> PaymentRequest:
    """decode -> parse -> validate (timed as the ``validation`` phase of the request's metrics)."""
    with metrics.current().phase("validation"):
        return validate_payment(parse_json_object(decode_body(body, is_base64)), max_amount)


def validate_idempotency_key(value: Any) -> str:
    if value is None or value == "":
        raise ValidationError("MISSING_IDEMPOTENCY_KEY",
                              "The Idempotency-Key header is required.", field="Idempotency-Key")
    if not isinstance(value, str) or not IDEMPOTENCY_KEY_RE.fullmatch(value):
        raise ValidationError("INVALID_IDEMPOTENCY_KEY",
                              "Idempotency-Key must be 1-128 characters from [A-Za-z0-9_-].",
                              field="Idempotency-Key")
    return value
