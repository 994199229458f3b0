"""API Gateway (REST, proxy integration, v1 payload) helpers.

``run_api`` wraps a route function with: correlation id, logging context, the
merchant identity, event-shape checks and error mapping (PaymentError -> its
status; anything else -> generic 500).

Merchant identity: the only source is the access-token claims API Gateway's
COGNITO_USER_POOLS authorizer verified and placed in
``requestContext.authorizer.claims``. The merchant is the token's
``client_id`` (one Cognito app client per merchant). Nothing the client sends
in the body or a header can name a merchant. A request that reaches a function
without usable claims (a misconfigured route, a direct invoke) is a logged 403
that touches no data, never a 500. Then the merchant registry
(:mod:`payments_core.registry`) must know the merchant as active and the
request's API key id as its own, before the route runs.
"""
from __future__ import annotations

import dataclasses
import json
import os
import re
import time
import uuid
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Callable, Mapping

from .config import Config, load_config
from .errors import PaymentError
from . import log as _log
from . import metrics, registry

JSON_CONTENT_TYPE = "application/json"
_MAX_CORRELATION_ID = 128
#: A Cognito app client id (26 lowercase alphanumerics today); the merchant id. The shape also
#: keeps it safe as a key prefix ("<merchant>#...") and an S3 path segment.
MERCHANT_ID_RE = re.compile(r"[A-Za-z0-9]{1,128}")


def _json_default(value: Any) -> Any:
    if isinstance(value, Decimal):
        return str(value)
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


def dumps(value: Any) -> str:
    return json.dumps(value, default=_json_default, separators=(",", ":"), sort_keys=True)


def correlation_id_from(event: Any) -> str:
    """``requestContext.requestId`` when usable, else a fresh uuid4."""
    request_id = None
    if isinstance(event, Mapping):
        context = event.get("requestContext")
        if isinstance(context, Mapping):
            request_id = context.get("requestId")
    if isinstance(request_id, str) and 0 < len(request_id) <= _MAX_CORRELATION_ID \
            and request_id.isascii() and request_id.isprintable():
        return request_id
    return str(uuid.uuid4())


def get_header(event: Mapping[str, Any], name: str) -> str | None:
    """Case-insensitive header lookup (``headers`` may be null)."""
    wanted = name.lower()
    headers = event.get("headers") if isinstance(event, Mapping) else None
    if isinstance(headers, Mapping):
        for key, value in headers.items():
            if isinstance(key, str) and key.lower() == wanted:
                return value if isinstance(value, str) else None
    multi = event.get("multiValueHeaders") if isinstance(event, Mapping) else None
    if isinstance(multi, Mapping):
        for key, values in multi.items():
            if isinstance(key, str) and key.lower() == wanted and isinstance(values, list) and values:
                return values[0] if isinstance(values[0], str) else None
    return None


def response(status_code: int, body: Any, correlation_id: str,
             extra_headers: Mapping[str, str] | None = None) -> dict[str, Any]:
    headers = {"Content-Type": JSON_CONTENT_TYPE, "X-Correlation-Id": correlation_id}
    if extra_headers:
        headers.update(extra_headers)
    return {"statusCode": status_code, "headers": headers, "body": dumps(body)}


def error_body(code: str, message: str, field: str | None, correlation_id: str) -> dict:
    return {"error": {"code": code, "message": message, "field": field,
                      "correlation_id": correlation_id}}


@dataclass(frozen=True)
class Merchant:
    """The caller, as the authorizer verified it."""

    id: str                      # the app client id
    scopes: frozenset[str]
    # The platform's canary merchant, as the registry says (never a claim of the caller's token).
    synthetic: bool = False


class MerchantUnauthenticated(PaymentError):
    """No verified merchant on the request (HTTP 403). ``reason`` is logged, never returned."""

    status_code = 403

    def __init__(self, reason: str, code: str = "MERCHANT_UNAUTHENTICATED",
                 message: str = "The request carries no verified merchant identity.") -> None:
        super().__init__(code, message)
        self.reason = reason


def merchant_from(event: Mapping[str, Any], required_scope: str | None = None) -> Merchant:
    """The merchant from ``requestContext.authorizer.claims`` (API Gateway's verified claims).

    Requires an access token (``token_use`` "access") with a well-formed
    ``client_id``; with ``required_scope``, the token must also carry that scope
    (API Gateway already checks it; this is the second lock, for a route wired
    without ``authorization_scopes``).
    """
    context = event.get("requestContext")
    authorizer = context.get("authorizer") if isinstance(context, Mapping) else None
    claims = authorizer.get("claims") if isinstance(authorizer, Mapping) else None
    if not isinstance(claims, Mapping):
        raise MerchantUnauthenticated("no authorizer claims")
    if claims.get("token_use") != "access":
        raise MerchantUnauthenticated("token_use is not access")
    client_id = claims.get("client_id")
    if not isinstance(client_id, str) or not MERCHANT_ID_RE.fullmatch(client_id):
        raise MerchantUnauthenticated("client_id missing or malformed")
    raw_scope = claims.get("scope")
    scopes = frozenset(raw_scope.split()) if isinstance(raw_scope, str) else frozenset()
    if required_scope is not None and required_scope not in scopes:
        raise MerchantUnauthenticated("required scope missing", code="INSUFFICIENT_SCOPE",
                                      message="The access token lacks the scope this route needs.")
    return Merchant(id=client_id, scopes=scopes)


def is_base64_encoded(event: Mapping[str, Any]) -> bool:
    """``isBase64Encoded`` as the boolean API Gateway sends; absent means False.

    Anything else (the string "true", 1, null) is a malformed event, not truthy.
    """
    if "isBase64Encoded" not in event:
        return False
    value = event["isBase64Encoded"]
    if isinstance(value, bool):
        return value
    raise PaymentError("INVALID_REQUEST", "Malformed API Gateway event: isBase64Encoded must be "
                       "a boolean.", field="isBase64Encoded")


@dataclass(frozen=True)
class ApiRequest:
    """What a route receives: the raw event plus what the pipeline already verified."""

    event: Mapping[str, Any]
    merchant: Merchant
    correlation_id: str
    is_base64_encoded: bool

    @property
    def body(self) -> Any:
        return self.event.get("body")

    def header(self, name: str) -> str | None:
        return get_header(self.event, name)


class RouteResult:
    """What a route returns: status, JSON-able body and optional extra headers."""

    __slots__ = ("status_code", "body", "headers")

    def __init__(self, status_code: int, body: Any, headers: Mapping[str, str] | None = None):
        self.status_code = status_code
        self.body = body
        self.headers = dict(headers or {})


Route = Callable[[ApiRequest, Config], RouteResult]


def run_api(event: Any, context: Any, function_name: str, route: Route,
            required_scope: str | None = None) -> dict[str, Any]:
    """Run ``route`` for one API Gateway event; ``required_scope`` e.g. "payments/process"."""
    correlation_id = correlation_id_from(event)
    logger = _log.configure(function_name, correlation_id, os.environ.get("LOG_LEVEL") or "INFO")
    started = time.monotonic()
    merchant_id = None
    recorder = metrics.start(function_name.replace("_", "-"))
    try:
        if not isinstance(event, dict):
            raise PaymentError("INVALID_REQUEST", "Malformed API Gateway event.")
        merchant = merchant_from(event, required_scope)
        merchant_id = recorder.merchant = merchant.id
        config = load_config()
        entry = registry.require_registered(merchant.id, registry.api_key_id_from(event),
                                            config.require("merchant_registry_table"))
        if entry.synthetic:  # the canary: its payments are marked, its requests kept out of the business metrics
            merchant = dataclasses.replace(merchant, synthetic=True)
            recorder.synthetic = True
        # A merchant's second app client (the DR region's pool) keys its data by the one merchant id.
        merchant_id = registry.merchant_id_of(entry, config.require("merchant_registry_table"), MERCHANT_ID_RE)
        if merchant_id != merchant.id:
            merchant = dataclasses.replace(merchant, id=merchant_id)
            recorder.merchant = merchant_id
        request = ApiRequest(event=event, merchant=merchant, correlation_id=correlation_id,
                             is_base64_encoded=is_base64_encoded(event))
        result = route(request, config)
        logger.info("request completed", extra={
            "status_code": result.status_code, "merchant_id": merchant_id,
            "duration_ms": round((time.monotonic() - started) * 1000, 1)})
        return response(result.status_code, result.body, correlation_id, result.headers)
    except MerchantUnauthenticated as exc:
        recorder.declined(exc.code)
        # A route reached without a verified merchant is a wiring fault worth an operator's look.
        logger.warning("request without a verified merchant", extra={
            "status_code": exc.status_code, "error_code": exc.code, "reason": exc.reason})
        return response(exc.status_code, error_body(exc.code, exc.message, None, correlation_id),
                        correlation_id)
    except registry.MerchantRefused as exc:
        # Another merchant's key or a suspended merchant: worth an operator's look. The key id is
        # an identifier (the key value is never read).
        logger.warning("merchant refused by the registry", extra={
            "status_code": exc.status_code, "error_code": exc.code, "reason": exc.reason,
            "merchant_id": merchant_id, "api_key_id": registry.api_key_id_from(event)})
        return response(exc.status_code, error_body(exc.code, exc.message, None, correlation_id),
                        correlation_id)
    except registry.RegistryUnavailable as exc:
        logger.error("merchant registry unavailable: request refused", extra={
            "status_code": exc.status_code, "error_code": exc.code, "reason": exc.reason,
            "merchant_id": merchant_id})
        return response(exc.status_code, error_body(exc.code, exc.message, None, correlation_id),
                        correlation_id)
    except PaymentError as exc:
        recorder.declined(exc.code)
        logger.info("request rejected", extra={
            "status_code": exc.status_code, "error_code": exc.code, "field": exc.field,
            "merchant_id": merchant_id})
        return response(exc.status_code,
                        error_body(exc.code, exc.message, exc.field, correlation_id),
                        correlation_id)
    except Exception:
        logger.exception("unhandled error", extra={"merchant_id": merchant_id})
        return response(500, error_body("INTERNAL_ERROR",
                                        "An internal error occurred. Quote the correlation id "
                                        "when contacting support.", None, correlation_id),
                        correlation_id)
    finally:
        # The request's business metrics: EMF lines on stderr, no API call (payments_core.metrics).
        recorder.emit()
