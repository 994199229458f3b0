"""POST /process: re-validate, re-score and idempotently store a payment.

Requires CARD_FINGERPRINT_KEY_ID (KMS HMAC_256 key; kms:GenerateMac) for the
keyed card fingerprint and the Idempotency-Key digest; without it every
payment is a generic 500.
"""
from __future__ import annotations

import os
from typing import Any

from payments_core import fence, service
from payments_core.config import Config
from payments_core.apigw import ApiRequest, RouteResult, run_api
from payments_core.validation import parse_payment_body, validate_idempotency_key

FUNCTION_NAME = "process"


SCOPE = "payments/process"


def route(api: ApiRequest, config: Config) -> RouteResult:
    # A fenced region stores no payment: a failover to the other region is under way (payments_core.fence).
    fence.require_unfenced(config.require("merchant_registry_table"), os.environ.get("AWS_REGION", ""))
    idempotency_key = validate_idempotency_key(api.header("Idempotency-Key"))
    request = parse_payment_body(api.body, api.is_base64_encoded, config.max_amount)
    outcome = service.process_payment(request, idempotency_key, api.merchant, config)
    return RouteResult(outcome.status_code, outcome.body, outcome.headers)


def handler(event: dict, context: Any) -> dict:
    return run_api(event, context, FUNCTION_NAME, route, required_scope=SCOPE)
