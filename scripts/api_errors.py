"""The merchant API's error catalogue: every error a merchant can receive, from the functions and from
API Gateway in front of them, with its status, the routes that can return it and what to do.

It is documentation, so it is written by hand; it is never trusted to be complete. The OpenAPI
document (scripts/openapi.py) and the errors page are rendered from it, and tests/test_openapi.py
reads the functions' source for every error code they can raise and fails when one is missing here
or listed under another status.
"""

from __future__ import annotations

from dataclasses import dataclass

ALL_ROUTES = ("validate", "fraud-check", "process")
PROCESS = ("process",)


@dataclass(frozen=True)
class FunctionError:
    """An error body ``{"error": {"code", "message", "field", "correlation_id"}}`` from a function."""

    code: str
    status: int
    field: str | None
    meaning: str
    routes: tuple[str, ...] = ALL_ROUTES


@dataclass(frozen=True)
class GatewayError:
    """A ``{"message": ...}`` body API Gateway answers with before (or instead of) any function."""

    status: int
    message: str
    meaning: str
    action: str
    routes: tuple[str, ...] = ALL_ROUTES


FUNCTION_ERRORS: tuple[FunctionError, ...] = (
    FunctionError("MISSING_BODY", 400, None, "no body, or an empty one"),
    FunctionError("BODY_TOO_LARGE", 400, None, "body larger than 8 KiB (8192 bytes, after base64 decoding)"),
    FunctionError("INVALID_ENCODING", 400, None, "body is not UTF-8, or is flagged base64 but is not valid base64"),
    FunctionError("INVALID_JSON", 400, None, "not JSON, non-standard JSON (`NaN`), nesting too deep, or duplicate keys"),
    FunctionError("INVALID_BODY_TYPE", 400, None, "the JSON value is not an object (`[]`, `\"x\"`, `1`, `null`)"),
    FunctionError("UNKNOWN_FIELD", 400, None, "a field other than the four documented ones is present"),
    FunctionError("MISSING_FIELD", 400, "the field", "a required field is absent"),
    FunctionError("INVALID_CUSTOMER_ID", 400, "customer_id", "not a string of 1-64 `[A-Za-z0-9_-]`"),
    FunctionError("INVALID_CURRENCY", 400, "currency", "not a 3-letter uppercase code"),
    FunctionError("UNSUPPORTED_CURRENCY", 400, "currency", "well-formed but not on the supported ISO 4217 list"),
    FunctionError("INVALID_AMOUNT", 400, "amount",
                  "not a decimal number or plain decimal string (`NaN`, `true`, `null`, `\"1e3\"`, `\"ten\"`)"),
    FunctionError("AMOUNT_NOT_POSITIVE", 400, "amount", "zero or negative"),
    FunctionError("AMOUNT_TOO_LARGE", 400, "amount", "above the currency's maximum per transaction"),
    FunctionError("AMOUNT_TOO_PRECISE", 400, "amount", "more decimal places than the currency's minor units"),
    FunctionError("INVALID_CARD_NUMBER", 400, "card_number",
                  "not a string, or characters other than ASCII digits, spaces and dashes"),
    FunctionError("INVALID_CARD_NUMBER_LENGTH", 400, "card_number", "not 13-19 digits"),
    FunctionError("CARD_NUMBER_CHECKSUM_FAILED", 400, "card_number", "the Luhn check failed"),
    FunctionError("MISSING_IDEMPOTENCY_KEY", 400, "Idempotency-Key",
                  "`/process` with an empty `Idempotency-Key` (a missing header is API Gateway's 400)", PROCESS),
    FunctionError("INVALID_IDEMPOTENCY_KEY", 400, "Idempotency-Key", "the header is not 1-128 `[A-Za-z0-9_-]`",
                  PROCESS),
    FunctionError("INVALID_REQUEST", 400, "null or `isBase64Encoded`",
                  "malformed integration event; cannot happen through API Gateway"),
    FunctionError("MERCHANT_UNAUTHENTICATED", 403, None,
                  "the function received no verified merchant (a wiring fault on our side: contact support)"),
    FunctionError("INSUFFICIENT_SCOPE", 403, None, "the access token lacks the route's scope"),
    FunctionError("MERCHANT_NOT_REGISTERED", 403, None,
                  "the token's client is not a registered merchant of this environment: contact support"),
    FunctionError("MERCHANT_SUSPENDED", 403, None,
                  "your merchant account is suspended; nothing was read or stored: contact support"),
    FunctionError("MERCHANT_REMOVED", 403, None, "your merchant account was offboarded"),
    FunctionError("API_KEY_NOT_BOUND", 403, "x-api-key",
                  "the API key is not the one issued with this client's credentials: send your own key"),
    FunctionError("CONCURRENT_PAYMENTS", 409, None,
                  "parallel payments of the same customer kept changing its history; nothing was stored: "
                  "retry with the **same** Idempotency-Key", PROCESS),
    FunctionError("IDEMPOTENCY_KEY_REUSED", 422, "Idempotency-Key",
                  "the key was already used with a different request; nothing was stored", PROCESS),
    FunctionError("REGISTRY_UNAVAILABLE", 503, None,
                  "the merchant registry could not be read, so nothing was done (fails closed): retry with "
                  "backoff; `/process`: with the **same** Idempotency-Key"),
    FunctionError("REGION_FENCED", 503, None,
                  "this region is not taking payments while a failover to the other region is under way; "
                  "nothing was stored: retry with backoff and the **same** Idempotency-Key (the retry reaches "
                  "the serving region)", PROCESS),
    FunctionError("INTERNAL_ERROR", 500, None,
                  "unexpected failure; quote the correlation id. `/process`: retry with the **same** "
                  "Idempotency-Key"),
)

GATEWAY_ERRORS: tuple[GatewayError, ...] = (
    GatewayError(400, "Invalid request body", "the body fails the route's JSON schema (request model)",
                 "fix the request; the schema is in openapi.json"),
    GatewayError(400, "Missing required request parameters: [Idempotency-Key]",
                 "`/process` without the `Idempotency-Key` header", "send a fresh key per payment", PROCESS),
    GatewayError(401, "Unauthorized",
                 "no `Authorization` header, or a token this API did not issue, an expired (`The incoming "
                 "token has expired`) or malformed one, an ID token, a `Basic` header",
                 "get a new access token and send it as `Bearer`"),
    GatewayError(403, "Forbidden",
                 "missing, unknown or removed API key (`x-api-key`); a request the web application firewall "
                 "blocked; a valid token without the route's scope may also be answered 401 or 403",
                 "send the key you were given; ask for the scope if it was not granted"),
    GatewayError(429, "Too Many Requests",
                 "your usage plan's rate or burst limit, or the stage's throttle (`Limit Exceeded`: the daily "
                 "quota, retry the next UTC day)", "back off (exponential, with jitter) and retry"),
    GatewayError(502, "Internal server error", "the function failed or answered malformed",
                 "`/process`: retry with the same Idempotency-Key"),
    GatewayError(504, "Endpoint request timed out", "the function did not answer within 29 s",
                 "`/process`: retry with the same Idempotency-Key (a stored payment is replayed)"),
)


def function_errors(route: str, status: int) -> tuple[FunctionError, ...]:
    return tuple(e for e in FUNCTION_ERRORS if route in e.routes and e.status == status)


def gateway_errors(route: str, status: int) -> tuple[GatewayError, ...]:
    return tuple(e for e in GATEWAY_ERRORS if route in e.routes and e.status == status)


def statuses(route: str) -> list[int]:
    """Every error status ``route`` can answer, ascending."""
    return sorted({e.status for e in FUNCTION_ERRORS + GATEWAY_ERRORS if route in e.routes})


ERRORS_PAGE_HEAD = """\
# Errors

<!-- Generated by `python -m scripts.openapi` (make docs) from scripts/api_errors.py. Do not edit:
     tests/test_openapi.py fails when this page differs from the generator, or when a function can
     return a code this catalogue lacks. -->

Two shapes reach you. **Errors from the payment functions** carry a machine-readable code (messages are
fixed texts and never echo your input):

```json
{"error": {"code": "AMOUNT_TOO_PRECISE", "message": "amount has more decimal places than the currency allows.",
           "field": "amount", "correlation_id": "c6af9ac6-7b61-11e6-9a41-93e8deadbeef"}}
```

**API Gateway** answers some requests before any function runs, with `{"message": "..."}` only. Handle
both: branch on the HTTP status first, then on `error.code` when there is one. Every response carries
`X-Correlation-Id` when it comes from a function; quote it when you contact support.

## Retry or fix

| status | retry? |
| --- | --- |
| 400, 401, 403, 422 | **never unchanged**: fix the request or the credentials |
| 409 `CONCURRENT_PAYMENTS` | yes, after a short pause, with the **same** Idempotency-Key |
| 429 | yes, with exponential backoff and jitter (the daily quota: the next UTC day) |
| 500, 502, 504 (any 5xx), timeouts, dropped connections | yes, with backoff; `/process` with the **same** Idempotency-Key |

The [reference client](client.md) implements exactly this table.

## Error codes from the functions

Checks run in this order and the first failure is reported: merchant identity and scope, the
Idempotency-Key header (`/process`), body size and encoding, JSON, object, unknown fields, missing
fields, `customer_id`, `currency`, `amount`, `card_number`.

| HTTP | `code` | `field` | routes | meaning |
| --- | --- | --- | --- | --- |
"""

GATEWAY_HEAD = """
## Answers from API Gateway

The route's JSON schema (the request model in [openapi.json](openapi.json)) is checked by API Gateway
first, so a body it rejects gets `400 {"message": "Invalid request body"}` rather than the function's
more precise code (an unknown field, a missing one, a malformed `customer_id`). The functions check
everything again and more (supported currencies, limits, Luhn): both kinds of 400 are normal.

| HTTP | `message` | routes | meaning | what to do |
| --- | --- | --- | --- | --- |
"""


def _routes(routes: tuple[str, ...]) -> str:
    return "all" if routes == ALL_ROUTES else ", ".join(f"`/{r}`" for r in routes)


def render_errors() -> str:
    """docs/api/errors.md."""
    own = [f"| {e.status} | `{e.code}` | {f'`{e.field}`' if e.field and ' ' not in e.field else e.field or 'null'} "
           f"| {_routes(e.routes)} | {e.meaning} |" for e in FUNCTION_ERRORS]
    gateway = [f"| {e.status} | `{e.message}` | {_routes(e.routes)} | {e.meaning} | {e.action} |"
               for e in GATEWAY_ERRORS]
    return ERRORS_PAGE_HEAD + "\n".join(own) + "\n" + GATEWAY_HEAD + "\n".join(gateway) + "\n"
