"""JSON Schema (draft-04) for the payment request body.

Used as the API Gateway request model (a coarse first gate). The Lambda
handlers remain the authority: they additionally enforce the ISO-4217
allow-list, minor units per currency, amount > 0 and <= the currency's maximum, the
digit count after removing separators, and the Luhn check. Nothing accepted
by the handlers is rejected by this schema.
"""
from __future__ import annotations

from .validation import AMOUNT_STRING_MAX, CARD_NUMBER_RAW_MAX, CUSTOMER_ID_MAX

PAYMENT_REQUEST_SCHEMA: dict = {
    "$schema": "http://json-schema.org/draft-04/schema#",
    "title": "PaymentRequest",
    "type": "object",
    "additionalProperties": False,
    "required": ["customer_id", "amount", "currency", "card_number"],
    "properties": {
        "customer_id": {
            "type": "string",
            "minLength": 1,
            "maxLength": CUSTOMER_ID_MAX,
            "pattern": "^[A-Za-z0-9_-]+$",
        },
        "amount": {
            "description": "Decimal amount in major units, as a JSON number or a decimal "
                           "string (preferred, e.g. \"12.34\").",
            "type": ["string", "number"],
            "pattern": "^-?[0-9]+(\\.[0-9]+)?$",
            "maxLength": AMOUNT_STRING_MAX,
        },
        "currency": {
            "type": "string",
            "minLength": 3,
            "maxLength": 3,
            "pattern": "^[A-Z]{3}$",
        },
        "card_number": {
            "type": "string",
            "minLength": 13,
            "maxLength": CARD_NUMBER_RAW_MAX,
            "pattern": "^[0-9 -]+$",
        },
    },
}
