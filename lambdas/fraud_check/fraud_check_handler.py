"""POST /fraud-check: validate, then score against the merchant's customer history. Writes nothing."""
from __future__ import annotations

import time
from typing import Any

from payments_core import service
from payments_core.config import Config
from payments_core.apigw import ApiRequest, RouteResult, run_api
from payments_core.validation import parse_payment_body

FUNCTION_NAME = "fraud_check"


SCOPE = "payments/fraud-check"


def route(api: ApiRequest, config: Config) -> RouteResult:
    request = parse_payment_body(api.body, api.is_base64_encoded, config.max_amount)
    assessment = service.assess(request, api.merchant, config, int(time.time()))
    return RouteResult(200, {
        "risk_score": assessment.score,
        "risk_level": assessment.level,
        "requires_review": assessment.requires_review,
        "reasons": list(assessment.reasons),
        "recent_transaction_count": assessment.recent_transaction_count,
        "amount": request.amount_str,
        "currency": request.currency,
        "card_last4": request.card_last4,
    })


def handler(event: dict, context: Any) -> dict:
    return run_api(event, context, FUNCTION_NAME, route, required_scope=SCOPE)
