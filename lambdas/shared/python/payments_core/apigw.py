"""API Gateway (REST, proxy integration, v1 payload) helpers.

``run_api`` wraps a route function with: correlation id, logging context,
error mapping (PaymentError -> its status; anything else -> generic 500).
"""
from __future__ import annotations

import json
import os
import time
import uuid
from decimal import Decimal
from typing import Any, Callable, Mapping

from .config import Config, load_config
from .errors import PaymentError
from . import log as _log

JSON_CONTENT_TYPE = "application/json"
_MAX_CORRELATION_ID = 128


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


class RouteResult:
    """What a route returns: status, JSON-able body and optional extra headers."""

    __slots__ = ("status_code", "body", "headers")

    def __init__(self, status_code: int, body: Any, headers: Mapping[str, str] | None = None):
        self.status_code = status_code
        self.body = body
        self.headers = dict(headers or {})


Route = Callable[[dict, Config, str], RouteResult]


def run_api(event: Any, context: Any, function_name: str, route: Route) -> dict[str, Any]:
    correlation_id = correlation_id_from(event)
    logger = _log.configure(function_name, correlation_id, os.environ.get("LOG_LEVEL") or "INFO")
    started = time.monotonic()
    try:
        if not isinstance(event, dict):
            raise PaymentError("INVALID_REQUEST", "Malformed API Gateway event.")
        config = load_config()
        result = route(event, config, correlation_id)
        logger.info("request completed", extra={
            "status_code": result.status_code,
            "duration_ms": round((time.monotonic() - started) * 1000, 1)})
        return response(result.status_code, result.body, correlation_id, result.headers)
    except PaymentError as exc:
        logger.info("request rejected", extra={
            "status_code": exc.status_code, "error_code": exc.code, "field": exc.field})
        return response(exc.status_code,
                        error_body(exc.code, exc.message, exc.field, correlation_id),
                        correlation_id)
    except Exception:
        logger.exception("unhandled error")
        return response(500, error_body("INTERNAL_ERROR",
                                        "An internal error occurred. Quote the correlation id "
                                        "when contacting support.", None, correlation_id),
                        correlation_id)
