"""The synthetic merchant: every few minutes, a payment through the public API as a real merchant.

API Gateway's 5xx count stays green when no merchant can get in: an expired certificate, a broken
authorizer or user pool domain, a lost usage plan, a registry that refuses everyone all answer
before any function runs, or not at all. This function is a merchant from the outside. With the
credentials ``make canary-onboard`` stored in the canary merchant's secret, it uses the reference
client merchants are given (docs/api/client/payments_client.py, shipped beside this file):

1. ``token``        an access token from the user pool's token endpoint (client credentials);
2. ``validate``     a test card payment is valid;
3. ``fraud-check``  it is scored;
4. ``process``      it is stored (a fresh Idempotency-Key and customer per run: no velocity flags);
5. ``replay``       the same request and key again answer the same transaction (nothing stored twice).

Each run writes, in CloudWatch embedded metric format on stdout (no API call): ``CanarySuccess`` 1 or
0, ``CanaryServing`` 1 or 0 and ``CanaryDuration`` (ms) with ``Route=all``; on a failure also
``CanaryFailures`` with the failed step as ``Route``. The ``payment-canary`` alarm reads
``CanarySuccess``; a run that does not happen (the function broken, the schedule gone) is missing
data, which that alarm treats as failing.

A fenced region (payments_core.fence: a failover under way, or the standby region before one)
answers ``/process`` with 503 ``REGION_FENCED``. That is the region doing what it was told, not a
failure: the run succeeds when every other step did, and ``CanaryServing`` is 0. ``CanaryServing``
is 1 only when a payment was stored and replayed; the ``canary-serving`` alarm on it is what Route
53's failover health check for the region reads (modules/failover_routing.py), so the merchant-facing
name answers from the region that takes payments.

The canary merchant is ``synthetic`` in the merchant registry: its payments carry ``synthetic`` in
the ledger and stay out of the business metrics (payments_core.metrics). Nothing secret or card
data is logged: the report names steps, status codes and error codes only.
"""
from __future__ import annotations

import functools
import http.client
import json
import os
import socket
import sys
import time
import urllib.parse
import urllib.request
import uuid
from typing import Any, Callable, TextIO

from payments_client import PaymentsApiError, PaymentsClient
from payments_core import metrics  # the layer: the same EMF document and namespace as the business metrics

STEPS = ("token", "validate", "fraud-check", "process", "replay")
TEST_CARD = "4111111111111111"  # the card networks' Visa test number: no real account behind it
AMOUNT, CURRENCY = "1.00", "USD"
# One attempt and a retry: a canary that retries as long as a merchant would hides a flapping API.
MAX_ATTEMPTS = 2
TIMEOUT_SECONDS = 5.0
SECRET_FIELDS = ("client_id", "client_secret", "api_key")

# The client (and its cached access token) outlives a run in a warm container: one token request
# per token lifetime, as the reference client intends. Dropped after any failed run.
_client: PaymentsClient | None = None


class CanaryFailure(Exception):
    """A step did not answer as a healthy platform does; ``detail`` holds no secret and no card."""

    def __init__(self, step: str, detail: str):
        super().__init__(f"{step}: {detail}")
        self.step, self.detail = step, detail


class _PinnedHTTPSConnection(http.client.HTTPSConnection):
    """HTTPS to ``pinned_host`` through ``connect_to``: TLS (SNI, certificate, ``Host``) still for
    ``pinned_host``. Any other host connects as usual."""

    def __init__(self, host: str, *args: Any, pinned_host: str, connect_to: str, **kwargs: Any) -> None:
        super().__init__(host, *args, **kwargs)
        self._connect_to = connect_to if self.host == pinned_host else None

    def connect(self) -> None:
        if self._connect_to is None:
            return super().connect()
        sock = socket.create_connection((self._connect_to, self.port), self.timeout, self.source_address)
        self.sock = self._context.wrap_socket(sock, server_hostname=self.host)
        return None


class _PinnedHTTPSHandler(urllib.request.HTTPSHandler):
    def __init__(self, pinned_host: str, connect_to: str) -> None:
        super().__init__()
        self._factory = functools.partial(_PinnedHTTPSConnection, pinned_host=pinned_host, connect_to=connect_to)

    def https_open(self, req: urllib.request.Request) -> Any:
        return self.do_open(self._factory, req, context=self._context)


def pin_api_host(api_url: str, connect_to: str) -> None:
    """During a migration the API's custom domain is the merchant-facing name, whose weighted records
    send most requests to the legacy API: the canary must judge the new one. It connects to the new
    API's regional endpoint (``API_CONNECT_TO``, what the ``aws`` record points at) and still speaks
    TLS for the custom domain, so the certificate and the whole authenticated path are tested; the
    token endpoint is reached as usual."""
    host = urllib.parse.urlsplit(api_url).hostname or ""
    urllib.request.install_opener(urllib.request.build_opener(_PinnedHTTPSHandler(host, connect_to)))


def _secrets_client() -> Any:
    from payments_core import aws  # the layer: one boto3 session per process
    return aws.client("secretsmanager")


def merchant_client(read_secret: Callable[[str], str] | None = None) -> PaymentsClient:
    """The reference client as the canary merchant, from its secret and the stack's URLs."""
    secret_id = os.environ["CANARY_CREDENTIALS_NAME"]
    read = read_secret or (lambda name: _secrets_client().get_secret_value(SecretId=name)["SecretString"])
    try:
        secret = json.loads(read(secret_id))
        # In the DR region's standby, this region's app client (the secret's replica holds both:
        # scripts/merchant_standby.py); the API key is the same value in both regions.
        own = secret.get("regions", {}).get(os.environ.get("AWS_REGION", ""), {})
        credentials = {name: own.get(name, secret[name]) for name in SECRET_FIELDS}
    except (KeyError, TypeError, ValueError):
        raise CanaryFailure("token", f"secret {secret_id} lacks {', '.join(SECRET_FIELDS)}") from None
    except Exception as error:  # the secret is missing: the canary merchant is not onboarded
        code = getattr(error, "response", {}).get("Error", {}).get("Code", type(error).__name__)
        raise CanaryFailure("token", f"cannot read {secret_id} ({code}): is the canary merchant "
                                     "onboarded (make canary-onboard)?") from None
    if os.environ.get("API_CONNECT_TO"):
        pin_api_host(os.environ["API_URL"], os.environ["API_CONNECT_TO"])
    return PaymentsClient(os.environ["API_URL"], os.environ["OAUTH_ENDPOINT"], **credentials,
                          timeout=TIMEOUT_SECONDS, max_attempts=MAX_ATTEMPTS)


class RegionFenced(Exception):
    """``/process`` answered 503 ``REGION_FENCED``: the region stores nothing by order, the steps
    before it passed (``timings``)."""

    timings: dict[str, float] = {}


def _step(name: str, call: Callable[[], Any]) -> Any:
    try:
        return call()
    except PaymentsApiError as error:
        if name == "process" and error.status == 503 and error.code == "REGION_FENCED":
            raise RegionFenced() from None
        raise CanaryFailure(name, f"HTTP {error.status} {error.code}") from None


def run_checks(client: PaymentsClient, run_id: str) -> dict[str, float]:
    """The five steps against the API; raises :class:`CanaryFailure` at the first that fails, and
    :class:`RegionFenced` when the region is fenced. Returns each step's duration in milliseconds."""
    payment = {"amount": AMOUNT, "currency": CURRENCY, "card_number": TEST_CARD,
               "customer_id": f"synthetic-canary-{run_id}"}
    key = f"canary-{run_id}"
    timings: dict[str, float] = {}

    def timed(name: str, call: Callable[[], Any]) -> Any:
        started = time.perf_counter()
        try:
            answer = _step(name, call)
        except RegionFenced as fenced:
            fenced.timings = dict(timings)
            raise
        timings[name] = round((time.perf_counter() - started) * 1000, 1)
        return answer

    timed("token", client.access_token)
    valid = timed("validate", lambda: client.validate(payment))
    if valid.get("valid") is not True or valid.get("card_last4") != TEST_CARD[-4:]:
        raise CanaryFailure("validate", f"unexpected answer fields {sorted(valid)}")
    scored = timed("fraud-check", lambda: client.fraud_check(payment))
    if scored.get("requires_review") is not False:
        raise CanaryFailure("fraud-check", f"a first payment of {AMOUNT} {CURRENCY} was flagged {scored.get('reasons')}")
    stored = timed("process", lambda: client.process(payment, idempotency_key=key))
    if stored.get("status") != "COMPLETED" or not stored.get("transaction_id"):
        raise CanaryFailure("process", f"status {stored.get('status')}")
    replayed = timed("replay", lambda: client.process(payment, idempotency_key=key))
    if replayed.get("transaction_id") != stored["transaction_id"]:
        raise CanaryFailure("replay", "the same Idempotency-Key answered another transaction")
    return timings


def emf(name: str, value: float, unit: str, route: str, timestamp_ms: int) -> dict[str, Any]:
    return metrics.emf_document(timestamp_ms, name, value, unit, {"Route": route})


def report(ok: bool, duration_ms: float, failure: CanaryFailure | None, timings: dict[str, float],
           out: TextIO, now_ms: int | None = None, fenced: bool = False) -> dict[str, Any]:
    """The run's metrics (EMF lines) and one log line; returns the summary the function answers.
    ``fenced``: the region refused the payment by order (ok, not serving)."""
    stamp = int(time.time() * 1000) if now_ms is None else now_ms
    serving = ok and not fenced
    lines = [emf("CanarySuccess", 1 if ok else 0, "Count", "all", stamp),
             emf("CanaryServing", 1 if serving else 0, "Count", "all", stamp),
             emf("CanaryDuration", round(duration_ms, 1), "Milliseconds", "all", stamp)]
    if failure is not None:
        lines.append(emf("CanaryFailures", 1, "Count", failure.step, stamp))
    summary = {"message": "canary run", "ok": ok, "serving": serving, "duration_ms": round(duration_ms, 1),
               "steps_ms": timings, **({"fenced": True} if fenced else {}),
               **({"failed_step": failure.step, "detail": failure.detail} if failure else {})}
    out.write("".join(json.dumps(line, sort_keys=True, separators=(",", ":")) + "\n"
                      for line in [*lines, summary]))
    out.flush()
    return summary


def handler(event: Any, context: Any, out: TextIO | None = None) -> dict[str, Any]:
    """One canary run (EventBridge schedule). Never raises: the metric is the verdict."""
    global _client
    started = time.perf_counter()
    run_id = uuid.uuid4().hex[:16]
    timings: dict[str, float] = {}
    failure: CanaryFailure | None = None
    fenced = False
    try:
        if _client is None:
            _client = merchant_client()
        timings = run_checks(_client, run_id)
    except RegionFenced as refused:
        fenced, timings = True, refused.timings
    except CanaryFailure as error:
        failure = error
    except Exception as error:  # noqa: BLE001  (a bug here is a failed run, not a silent one)
        failure = CanaryFailure("canary", type(error).__name__)
    if failure is not None:
        _client = None  # rotated credentials, a revoked token: the next run starts from the secret
    return report(failure is None, (time.perf_counter() - started) * 1000, failure, timings, out or sys.stdout,
                  fenced=fenced)
