"""POST /validate: validate a payment request. Writes nothing."""
from __future__ import annotations

from typing import Any

from payments_core.config import Config
from payments_core.apigw import ApiRequest, RouteResult, run_api
from payments_core.validation import parse_payment_body

FUNCTION_NAME = "validate"


SCOPE = "payments/validate"


def route(api: ApiRequest, config: Config) -> RouteResult:
    request = parse_payment_body(api.body, api.is_base64_encoded, config.max_amount)
    return RouteResult(200, {
        "valid": True,
        "card_last4": request.card_last4,
        "amount": request.amount_str,
        "currency": request.currency,
    })


def handler(event: dict, context: Any) -> dict:
    return run_api(event, context, FUNCTION_NAME, route, required_scope=SCOPE)
