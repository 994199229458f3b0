"""Reference client for the payments merchant API (Python 3.9+, standard library only).

Copy this file into your project. It shows the contract in code (docs/api/README.md):

* an access token from the token endpoint (OAuth 2.0 client credentials), cached until shortly
  before it expires, never one per request;
* every call with ``Authorization: Bearer <token>`` and your ``x-api-key``;
* ``process`` with an ``Idempotency-Key``: one key per payment, the same key on every retry, so a retry
  after a lost answer replays the stored payment instead of charging twice;
* retries only where they are safe: timeouts, dropped connections, 5xx, 429 and
  ``409 CONCURRENT_PAYMENTS`` (nothing stored yet), with exponential backoff and full jitter and a
  bounded number of attempts; any other 4xx is raised at once as :class:`PaymentsApiError`;
* a second region (``PaymentsClient.from_secret`` with the credentials you were given: they hold a
  pair per region): when the token endpoint does not answer, or the API refuses a token (401) because
  it now answers from the other region, the client switches to the other region's pair.
"""
from __future__ import annotations

import base64
import json
import random
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
from http.client import HTTPException
from typing import Callable, Optional, Sequence, Tuple

ALL_SCOPES = ("payments/validate", "payments/fraud-check", "payments/process")
#: A 409 with this code stored nothing and asks for a retry with the same Idempotency-Key.
RETRYABLE_CODES = frozenset({"CONCURRENT_PAYMENTS"})


class PaymentsApiError(Exception):
    """An error answer (or no answer). ``code`` is the API's error code (``AMOUNT_TOO_LARGE``), or
    ``None`` when API Gateway answered with only a message; ``status`` is ``None`` when no answer
    came (``code`` is then ``NETWORK_ERROR``). Quote ``request_id`` when you contact support."""

    def __init__(self, status: Optional[int], code: Optional[str], message: str,
                 request_id: Optional[str] = None, field: Optional[str] = None) -> None:
        super().__init__(f"{status} {code}: {message} (request id {request_id})")
        self.status, self.code, self.message = status, code, message
        self.request_id, self.field = request_id, field

    @property
    def retryable(self) -> bool:
        return (self.status is None or self.status >= 500 or self.status == 429
                or self.code in RETRYABLE_CODES)


class PaymentsClient:
    def __init__(self, base_url: str, token_url: str, client_id: str, client_secret: str, api_key: str,
                 scopes: tuple = ALL_SCOPES, timeout: float = 10.0, max_attempts: int = 4,
                 backoff: float = 0.25, max_backoff: float = 8.0, token_margin: float = 60.0,
                 sleep: Callable[[float], None] = time.sleep, clock: Callable[[], float] = time.monotonic,
                 other_regions: Sequence[Tuple[str, str, str]] = ()):
        """``other_regions``: (token_url, client_id, client_secret) of each other region's user pool."""
        self.base_url = base_url.rstrip("/")
        self.api_key, self.scopes = api_key, " ".join(scopes)
        # One (token endpoint, Basic credentials) pair per region; the first is where to start.
        self._pairs = [(url, base64.b64encode(f"{cid}:{secret}".encode()).decode())
                       for url, cid, secret in ((token_url, client_id, client_secret), *other_regions)]
        self._pair = 0
        self.timeout, self.max_attempts = timeout, max_attempts
        self.backoff, self.max_backoff, self.token_margin = backoff, max_backoff, token_margin
        self._sleep, self._clock = sleep, clock
        self._lock = threading.Lock()
        self._token: Optional[str] = None
        self._token_expires = 0.0

    @classmethod
    def from_secret(cls, credentials: dict, **options) -> "PaymentsClient":
        """From the credentials you were given (the JSON of your secret): your API URL, API key and
        client pair, and the pair of each other region under ``regions``."""
        others = [(r["token_endpoint"], r["client_id"], r["client_secret"])
                  for r in credentials.get("regions", {}).values()]
        return cls(credentials["api_url"], credentials["token_endpoint"], credentials["client_id"],
                   credentials["client_secret"], credentials["api_key"], other_regions=others, **options)

    @property
    def token_url(self) -> str:
        return self._pairs[self._pair][0]

    @property
    def _basic(self) -> str:
        return self._pairs[self._pair][1]

    def _next_region(self) -> None:
        """Use the next region's pair from the next token request on (a failover moved the API)."""
        with self._lock:
            self._pair = (self._pair + 1) % len(self._pairs)
            self._token = None

    # ------------------------------------------------------------------ routes
    def validate(self, payment: dict) -> dict:
        return self._call("/validate", payment)

    def fraud_check(self, payment: dict) -> dict:
        return self._call("/fraud-check", payment)

    def process(self, payment: dict, idempotency_key: Optional[str] = None) -> dict:
        """Store a payment. Keep ``idempotency_key`` with your order: resending it later (same
        payment) returns the stored result instead of paying twice."""
        key = idempotency_key or str(uuid.uuid4())
        return self._call("/process", payment, {"Idempotency-Key": key})

    # ------------------------------------------------------------------- token
    def access_token(self) -> str:
        """The cached token, or a new one when it expires within ``token_margin`` seconds."""
        with self._lock:
            if self._token is None or self._clock() >= self._token_expires - self.token_margin:
                form = urllib.parse.urlencode({"grant_type": "client_credentials", "scope": self.scopes})
                # Not retried here: a call retries the token request with the call itself (after
                # switching region when this one's endpoint does not answer).
                try:
                    answer = self._send(self.token_url, form.encode(), {
                        "Authorization": f"Basic {self._basic}",
                        "Content-Type": "application/x-www-form-urlencoded"})
                except PaymentsApiError as error:
                    if error.retryable and len(self._pairs) > 1:
                        self._pair = (self._pair + 1) % len(self._pairs)
                    raise
                self._token = answer["access_token"]
                self._token_expires = self._clock() + float(answer["expires_in"])
            return self._token

    # ---------------------------------------------------------------- plumbing
    def _call(self, path: str, payment: dict, headers: Optional[dict] = None) -> dict:
        body = json.dumps(payment).encode()

        def attempt() -> dict:
            for region in range(len(self._pairs)):
                try:
                    return self._send(self.base_url + path, body, {
                        "Authorization": f"Bearer {self.access_token()}", "x-api-key": self.api_key,
                        "Content-Type": "application/json", **(headers or {})})
                except PaymentsApiError as error:
                    if error.status != 401:
                        raise
                    if region == len(self._pairs) - 1:  # revoked or expired early: the next call
                        with self._lock:                 # fetches a new one
                            self._token = None
                        raise
                    # The API answers from another region now: its pool does not know this token.
                    self._next_region()
            raise AssertionError("unreachable")
        return self._with_retries(attempt)

    def _with_retries(self, attempt: Callable[[], dict]) -> dict:
        for number in range(1, self.max_attempts + 1):
            try:
                return attempt()
            except PaymentsApiError as error:
                if not error.retryable or number == self.max_attempts:
                    raise
                # Full jitter: a random pause up to the exponential bound, so clients do not retry in step.
                self._sleep(random.uniform(0, min(self.max_backoff, self.backoff * 2 ** (number - 1))))
        raise AssertionError("unreachable")

    def _send(self, url: str, data: bytes, headers: dict) -> dict:
        request = urllib.request.Request(url, data=data, headers=headers, method="POST")
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as answer:
                return json.loads(answer.read())
        except urllib.error.HTTPError as answer:
            raise _error(answer.code, answer.read(), answer.headers) from None
        except (urllib.error.URLError, TimeoutError, ConnectionError, HTTPException) as failure:
            raise PaymentsApiError(None, "NETWORK_ERROR", str(failure)) from failure


def _error(status: int, raw: bytes, headers) -> PaymentsApiError:
    try:
        body = json.loads(raw)
    except ValueError:
        body = {}
    request_id = headers.get("X-Correlation-Id") or headers.get("x-amzn-RequestId")
    error = body.get("error") if isinstance(body, dict) else None
    if isinstance(error, dict):  # from the payment functions
        return PaymentsApiError(status, error.get("code"), error.get("message", ""),
                                error.get("correlation_id") or request_id, error.get("field"))
    if isinstance(body, dict) and "error" in body:  # the token endpoint: {"error": "invalid_client"}
        return PaymentsApiError(status, str(body["error"]), str(body.get("error_description", "")), request_id)
    message = body.get("message", "") if isinstance(body, dict) else ""
    return PaymentsApiError(status, None, message or raw.decode("utf-8", "replace")[:200], request_id)
