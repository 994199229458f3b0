"""The merchant API's OpenAPI 3.1 document and the generated merchant pages, rendered from the code.

``python -m scripts.openapi`` writes every page in ``GENERATED`` (``make docs``); tests/test_openapi.py
fails when a committed page differs from its ``render`` function. Nothing here is a copy: the request
schema is the one API Gateway's models and the functions share (``payments_core.schema``), the routes,
model names and the required header come from modules/api.py, the scopes from modules/identity.py, the
header rules and limits from the functions' own modules, and the errors from scripts/api_errors.py
(whose completeness a test checks against the functions' source).

Servers and the token URL are templates: every environment (dev, staging, prod) is its own API and
user pool, whose addresses exist only once deployed. Their values are the stack outputs ``api-url``
and ``token-endpoint`` (also SSM parameters); the variables' defaults are the settings' defaults.
"""

from __future__ import annotations

import json
import sys
from dataclasses import fields
from pathlib import Path
from typing import Any, Callable

PROJECT_ROOT = Path(__file__).resolve().parent.parent
if str(PROJECT_ROOT) not in sys.path:
    sys.path.insert(0, str(PROJECT_ROOT))

from modules.api import IDEMPOTENCY_HEADER, ROUTES, payment_request_schema  # noqa: E402
from modules.identity import SCOPES, full_scope  # noqa: E402
from modules.payment_limits import layer_module  # noqa: E402
from modules.settings import Settings  # noqa: E402
from scripts import api_errors  # noqa: E402
from scripts.api_limits import render_limits  # noqa: E402

#: The contract's version: bump the minor for an addition, the major for anything a client must change.
API_VERSION = "1.0.0"
OPENAPI_PATH = "docs/api/openapi.json"
IDEMPOTENCY_HEADER_NAME = IDEMPOTENCY_HEADER.rsplit(".", 1)[1]
OPERATION_IDS = {"validate": "validatePayment", "fraud-check": "checkPaymentFraud", "process": "processPayment"}
SUMMARIES = {
    "validate": "Check a payment request; stores nothing.",
    "fraud-check": "Validate and score a payment against the customer's recent history; stores nothing.",
    "process": "Validate, score and store a payment, idempotently.",
}
REASONS = ("HIGH_VALUE", "HIGH_VELOCITY", "AMOUNT_SPIKE")
RISK_LEVELS = ("LOW", "MEDIUM", "HIGH")
REF = "#/components/schemas/"


def _default(name: str) -> Any:
    return next(f.default for f in fields(Settings) if f.name == name)


def _servers() -> list[dict]:
    return [
        {"url": "https://{restApiId}.execute-api.{region}.amazonaws.com/{stage}",
         "description": "The stack output `api-url` of an environment without a custom domain (each "
                        "environment, dev, staging and prod, is its own API).",
         "variables": {
             "restApiId": {"default": "abcde12345", "description": "The stack output `api-id`."},
             "region": {"default": _default("region"), "description": "The environment's region."},
             "stage": {"default": _default("api_stage_name"), "description": "The stack output `api-stage`."}}},
        {"url": "https://{apiDomainName}",
         "description": "The stack output `api-url` of an environment with a custom domain (setting "
                        "`api_domain_name`; its execute-api endpoint is then disabled).",
         "variables": {"apiDomainName": {"default": "payments.example.com",
                                         "description": "The environment's API domain name."}}},
    ]


def _security_schemes() -> dict:
    return {
        "merchantToken": {
            "type": "oauth2",
            "description": "OAuth 2.0 client credentials: your client id and secret in HTTP Basic auth at the "
                           "environment's token endpoint (stack output `token-endpoint`; replace "
                           "`{authDomainPrefix}` and `{region}`), then `Authorization: Bearer <access token>`. "
                           "Each route requires its own scope.",
            "flows": {"clientCredentials": {
                "tokenUrl": "https://{authDomainPrefix}.auth.{region}.amazoncognito.com/oauth2/token",
                "scopes": {full_scope(name): text for name, text in SCOPES.items()}}}},
        "apiKey": {"type": "apiKey", "in": "header", "name": "x-api-key",
                   "description": "Your API key: selects your usage plan (throttle and daily quota). It does "
                                  "not identify you on its own; the access token does."},
    }


def _amount() -> dict:
    return {"type": "string", "pattern": "^[0-9]+(\\.[0-9]+)?$",
            "description": "Decimal string with exactly the currency's minor units (`\"12.30\"`, JPY `\"100\"`)."}


def _assessment() -> dict:
    return {
        "risk_score": {"type": "integer", "minimum": 0},
        "risk_level": {"type": "string", "enum": list(RISK_LEVELS)},
        "requires_review": {"type": "boolean"},
        "reasons": {"type": "array", "items": {"type": "string", "enum": list(REASONS)}},
    }


def _object(properties: dict) -> dict:
    return {"type": "object", "additionalProperties": False, "required": sorted(properties),
            "properties": properties}


def _schemas() -> dict:
    service = layer_module("service")
    common = {"amount": {"$ref": REF + "Amount"}, "currency": {"type": "string", "pattern": "^[A-Z]{3}$"},
              "card_last4": {"type": "string", "pattern": "^[0-9]{4}$"}}
    schemas = {model: payment_request_schema() for _key, model in ROUTES.values()}
    schemas.update({
        "Amount": _amount(),
        "ValidateResponse": _object({**common, "valid": {"const": True}}),
        "FraudCheckResponse": _object({**common, **_assessment(),
                                       "recent_transaction_count": {"type": "integer", "minimum": 0}}),
        "ProcessResponse": _object({
            **common, **_assessment(),
            "transaction_id": {"type": "string", "format": "uuid"},
            "status": {"type": "string", "enum": [service.STATUS_COMPLETED, service.STATUS_DECLINED_REVIEW],
                       "description": "The outcome: a payment scored HIGH is stored as DECLINED_REVIEW, also "
                                      "with HTTP 200."},
            "created_at": {"type": "string", "format": "date-time"}}),
        "Error": _object({"error": _object({
            "code": {"type": "string", "description": "Machine-readable; see the response's list."},
            "message": {"type": "string", "description": "Fixed text for humans; never echoes your input."},
            "field": {"type": ["string", "null"], "description": "The request field at fault, if any."},
            "correlation_id": {"type": "string", "description": "Equals `X-Correlation-Id`; quote it to support."},
        })}),
        "GatewayError": _object({"message": {"type": "string"}}),
    })
    return schemas


def _headers(route: str) -> dict:
    headers = {"X-Correlation-Id": {"$ref": "#/components/headers/X-Correlation-Id"}}
    if route == "process":
        headers["Idempotent-Replay"] = {"$ref": "#/components/headers/Idempotent-Replay"}
    return headers


def _error_response(route: str, status: int) -> dict:
    own = api_errors.function_errors(route, status)
    gateway = api_errors.gateway_errors(route, status)
    lines = [f"- `{e.code}`: {e.meaning}" for e in own]
    lines += [f"- API Gateway `{{\"message\": \"{e.message}\"}}`: {e.meaning}" for e in gateway]
    shapes = []
    if own:
        shapes.append({"allOf": [{"$ref": REF + "Error"}, {"properties": {"error": {"properties": {
            "code": {"enum": [e.code for e in own]}}}}}]})
    if gateway:
        shapes.append({"allOf": [{"$ref": REF + "GatewayError"}, {"properties": {"message": {
            "examples": [e.message for e in gateway]}}}]})
    response: dict[str, Any] = {
        "description": "\n".join(lines),
        "content": {"application/json": {"schema": shapes[0] if len(shapes) == 1 else {"anyOf": shapes}}}}
    if own:
        response["headers"] = {"X-Correlation-Id": {"$ref": "#/components/headers/X-Correlation-Id"}}
    return response


def _operation(path: str, model: str) -> dict:
    scope = full_scope(path)
    success = {"validate": "ValidateResponse", "fraud-check": "FraudCheckResponse",
               "process": "ProcessResponse"}[path]
    operation: dict[str, Any] = {
        "operationId": OPERATION_IDS[path],
        "summary": SUMMARIES[path],
        "security": [{"merchantToken": [scope], "apiKey": []}],
        "requestBody": {"required": True, "content": {"application/json": {"schema": {"$ref": REF + model}}}},
        "responses": {
            "200": {"description": "Success.", "headers": _headers(path),
                    "content": {"application/json": {"schema": {"$ref": REF + success}}}},
            **{str(status): _error_response(path, status) for status in api_errors.statuses(path)}},
    }
    if path == "process":
        operation["parameters"] = [{"$ref": "#/components/parameters/Idempotency-Key"}]
    return operation


def _idempotency_parameter() -> dict:
    pattern = layer_module("validation").IDEMPOTENCY_KEY_RE.pattern
    return {"name": IDEMPOTENCY_HEADER_NAME, "in": "header", "required": True,
            "description": "A fresh random key (UUIDv4) per payment; resend the same key with the same body to "
                           "retry safely. Remembered 24 hours (IDEMPOTENCY_TTL_SECONDS), per merchant.",
            "schema": {"type": "string", "pattern": f"^{pattern}$"}}


def document() -> dict:
    """The OpenAPI 3.1 document as a dict."""
    return {
        "openapi": "3.1.0",
        "info": {"title": "Payments merchant API", "version": API_VERSION,
                 "description": "Validate, fraud-check and store card payments. Generated by scripts/openapi.py "
                                "from the code; guides in docs/api/."},
        "servers": _servers(),
        "paths": {f"/{path}": {"post": _operation(path, model)} for path, (_key, model) in ROUTES.items()},
        "components": {
            "schemas": _schemas(),
            "securitySchemes": _security_schemes(),
            "parameters": {IDEMPOTENCY_HEADER_NAME: _idempotency_parameter()},
            "headers": {
                "X-Correlation-Id": {"description": "The API Gateway request id; quote it to support.",
                                     "schema": {"type": "string"}},
                "Idempotent-Replay": {"description": "`true` when this is the stored response of an earlier "
                                                     "request with the same Idempotency-Key.",
                                      "schema": {"const": "true"}}},
        },
    }


def render() -> str:
    """The committed ``docs/api/openapi.json``: sorted keys, two-space indent, trailing newline."""
    return json.dumps(document(), indent=2, sort_keys=True, ensure_ascii=False) + "\n"


#: Committed path -> its renderer (``make docs`` writes them all; tests compare each).
GENERATED: dict[str, Callable[[], str]] = {
    OPENAPI_PATH: render,
    "docs/api/limits.md": render_limits,
    "docs/api/errors.md": api_errors.render_errors,
}


def main() -> None:
    for relative, render_page in GENERATED.items():
        target = PROJECT_ROOT / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(render_page(), encoding="utf-8")
        print(f"wrote {relative}")


if __name__ == "__main__":
    main()
