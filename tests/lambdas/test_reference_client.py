"""The reference client (docs/api/client/) against the real handlers, in process, through HTTP: the
``gateway`` fixture (tests/lambdas/fake_gateway.py) plays API Gateway and the token endpoint and can
lose answers. The answers are also checked against the OpenAPI document."""

from __future__ import annotations

import json
import re
import runpy
import sys
from pathlib import Path

import pytest
from jsonschema import Draft202012Validator
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

from fake_gateway import API_KEY, SECRET, SHORT_TIMEOUT, TIMEOUT
from payments_testkit import MERCHANT_A, VISA, valid_payload

ROOT = Path(__file__).resolve().parents[2]
CLIENT_DIR = ROOT / "docs" / "api" / "client"
sys.path.insert(0, str(CLIENT_DIR))
from payments_client import PaymentsApiError, PaymentsClient  # noqa: E402

DOCUMENT = json.loads((ROOT / "docs" / "api" / "openapi.json").read_text())


class Clock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def sleeps() -> list[float]:
    return []


@pytest.fixture
def client(gateway, sleeps):
    return PaymentsClient(gateway.url, gateway.url + "/oauth2/token", MERCHANT_A, SECRET, API_KEY,
                          timeout=TIMEOUT, sleep=sleeps.append)


def _response_schema(path: str, status: int) -> Draft202012Validator:
    """The document's schema of ``path``'s ``status`` answer (its $refs resolved inside the document)."""
    pointer = f"/paths/{path.replace('/', '~1')}/post/responses/{status}/content/application~1json/schema"
    registry = Registry().with_resource("urn:openapi", Resource.from_contents(DOCUMENT, DRAFT202012))
    return Draft202012Validator({"$ref": f"urn:openapi#{pointer}"}, registry=registry)


def test_a_payment_goes_through(client, gateway, shared_aws):
    result = client.process(valid_payload(amount="99.50"), idempotency_key="order-1")
    assert result["status"] == "COMPLETED" and result["amount"] == "99.50"
    assert [t["transaction_id"] for t in shared_aws.helpers.transactions()] == [result["transaction_id"]]
    assert [(path, key) for path, key in gateway.seen] == [("/process", "order-1")]


@pytest.mark.parametrize("fault", ["timeout", "drop", "502"])
def test_a_retry_after_a_lost_answer_replays_the_same_transaction(gateway, shared_aws, sleeps, fault):
    client = PaymentsClient(gateway.url, gateway.url + "/oauth2/token", MERCHANT_A, SECRET, API_KEY,
                            timeout=SHORT_TIMEOUT if fault == "timeout" else TIMEOUT, sleep=sleeps.append)
    gateway.faults = [fault]
    result = client.process(valid_payload(), idempotency_key="order-2")
    stored = shared_aws.helpers.transactions()
    assert [t["transaction_id"] for t in stored] == [result["transaction_id"]]  # charged once
    keys = [key for _, key in gateway.seen]
    assert len(keys) >= 2 and set(keys) == {"order-2"}  # retried, with the same key
    # One answer made the payment; every other is its replay. (A loaded machine may need a third
    # attempt when the handler outlasts the short timeout; the rule holds all the same.)
    assert [a[2].get("Idempotent-Replay") for a in gateway.answers].count(None) == 1
    assert len(sleeps) == len(keys) - 1 and 0 <= sleeps[0] <= client.backoff


@pytest.mark.parametrize("fault", ["503", "429"])
def test_5xx_and_429_are_retried_with_growing_backoff(client, gateway, shared_aws, sleeps, fault):
    gateway.faults = [fault, fault]
    assert client.validate(valid_payload())["valid"] is True
    assert len(gateway.seen) == 3 and len(gateway.answers) == 1
    assert len(sleeps) == 2 and sleeps[0] <= client.backoff and sleeps[1] <= 2 * client.backoff


def test_attempts_are_bounded(client, gateway, shared_aws, sleeps):
    gateway.faults = ["503"] * 10
    with pytest.raises(PaymentsApiError) as raised:
        client.process(valid_payload(), idempotency_key="order-3")
    assert raised.value.status == 503 and len(gateway.seen) == client.max_attempts
    assert len(sleeps) == client.max_attempts - 1
    shared_aws.helpers.assert_nothing_written()


def test_a_4xx_is_not_retried_and_its_code_is_surfaced(client, gateway, shared_aws, sleeps):
    with pytest.raises(PaymentsApiError) as raised:
        client.process(valid_payload(card_number="4111111111111112"), idempotency_key="order-4")
    error = raised.value
    assert (error.status, error.code, error.field) == (400, "CARD_NUMBER_CHECKSUM_FAILED", "card_number")
    assert error.request_id == gateway.answers[0][3]["error"]["correlation_id"] and error.request_id
    assert len(gateway.seen) == 1 and sleeps == []


def test_a_reused_key_is_a_422_not_retried(client, gateway, shared_aws, sleeps):
    client.process(valid_payload(amount="10.00"), idempotency_key="order-5")
    with pytest.raises(PaymentsApiError) as raised:
        client.process(valid_payload(amount="11.00"), idempotency_key="order-5")
    assert (raised.value.status, raised.value.code) == (422, "IDEMPOTENCY_KEY_REUSED")
    assert len(gateway.seen) == 2 and sleeps == [] and len(shared_aws.helpers.transactions()) == 1


def test_a_gateway_answer_without_a_code_is_surfaced_with_its_message(gateway, shared_aws, sleeps):
    client = PaymentsClient(gateway.url, gateway.url + "/oauth2/token", MERCHANT_A, SECRET, "wrong-key",
                            timeout=TIMEOUT, sleep=sleeps.append)
    with pytest.raises(PaymentsApiError) as raised:
        client.validate(valid_payload())
    assert (raised.value.status, raised.value.code, raised.value.message) == (403, None, "Forbidden")
    assert len(gateway.seen) == 1 and sleeps == []


def test_the_token_is_cached_until_shortly_before_it_expires(gateway, shared_aws, sleeps):
    clock = Clock()
    client = PaymentsClient(gateway.url, gateway.url + "/oauth2/token", MERCHANT_A, SECRET, API_KEY,
                            timeout=TIMEOUT, sleep=sleeps.append, clock=clock)
    client.validate(valid_payload())
    client.fraud_check(valid_payload())
    client.process(valid_payload())
    assert gateway.token_requests == 1
    clock.now += 3600 - client.token_margin - 1
    client.validate(valid_payload())
    assert gateway.token_requests == 1
    clock.now += 2  # now within the margin
    client.validate(valid_payload())
    assert gateway.token_requests == 2


def test_a_wrong_secret_is_a_typed_error(gateway, shared_aws, sleeps):
    client = PaymentsClient(gateway.url, gateway.url + "/oauth2/token", MERCHANT_A, "wrong", API_KEY,
                            timeout=TIMEOUT, sleep=sleeps.append)
    with pytest.raises(PaymentsApiError) as raised:
        client.validate(valid_payload())
    assert (raised.value.status, raised.value.code) == (400, "invalid_client")
    assert gateway.seen == [] and sleeps == []


def test_answers_match_the_openapi_document(client, gateway, shared_aws):
    client.validate(valid_payload())
    client.fraud_check(valid_payload())
    client.process(valid_payload(), idempotency_key="order-6")
    client.process(valid_payload(), idempotency_key="order-6")  # the replay
    for bad in (valid_payload(currency="XXX"), valid_payload(amount="0")):
        with pytest.raises(PaymentsApiError):
            client.validate(bad)
    assert sorted({status for _, status, _, _ in gateway.answers}) == [200, 400]
    for path, status, headers, body in gateway.answers:
        _response_schema(path, status).validate(body)
        documented = set(DOCUMENT["paths"][path]["post"]["responses"][str(status)]["headers"])
        assert documented - {"Idempotent-Replay"} <= set(headers)


def test_the_example_runs_as_documented(gateway, shared_aws, monkeypatch, capsys):
    for name, value in {"API_URL": gateway.url, "TOKEN_URL": gateway.url + "/oauth2/token",
                        "CLIENT_ID": MERCHANT_A, "CLIENT_SECRET": SECRET, "API_KEY": API_KEY}.items():
        monkeypatch.setenv(name, value)
    runpy.run_path(str(CLIENT_DIR / "example.py"), run_name="__main__")
    printed = re.findall(r"^(\S+) (COMPLETED|DECLINED_REVIEW)$", capsys.readouterr().out, flags=re.M)
    [(transaction_id, status)] = printed  # the handlers' own log lines go to stdout too
    assert status == "COMPLETED"
    assert [t["transaction_id"] for t in shared_aws.helpers.transactions()] == [transaction_id]
    assert shared_aws.helpers.transactions()[0]["card_last4"] == VISA[-4:]


def test_the_page_shows_exactly_the_example_the_tests_run():
    page = (ROOT / "docs" / "api" / "client.md").read_text()
    blocks = re.findall(r"```python\n(.*?)```", page, flags=re.S)
    assert (CLIENT_DIR / "example.py").read_text() in blocks


DEAD_TOKEN_URL = "http://127.0.0.1:9/oauth2/token"  # the discard port: nothing answers


def test_when_a_regions_token_endpoint_does_not_answer_the_other_regions_pair_is_used(gateway, shared_aws, sleeps):
    # The credentials a merchant is given with a DR region (scripts/merchant_standby.py): a pair per region.
    credentials = {"api_url": gateway.url, "api_key": API_KEY, "token_endpoint": DEAD_TOKEN_URL,
                   "client_id": "primary-client", "client_secret": "primary-secret",
                   "regions": {"us-west-2": {"token_endpoint": gateway.url + "/oauth2/token",
                                             "client_id": MERCHANT_A, "client_secret": SECRET}}}
    client = PaymentsClient.from_secret(credentials, timeout=TIMEOUT, sleep=sleeps.append)
    assert client.validate(valid_payload())["valid"] is True
    assert client.token_url == gateway.url + "/oauth2/token" and gateway.token_requests == 1
    assert len(sleeps) == 1  # one retry: the failed token request, then the other region


def test_a_token_the_api_no_longer_accepts_moves_the_client_to_the_other_region(gateway, shared_aws, sleeps):
    # Both pairs valid here; after a failover the API's pool does not know the first region's tokens.
    token_url = gateway.url + "/oauth2/token"
    client = PaymentsClient(gateway.url, token_url, MERCHANT_A, SECRET, API_KEY, timeout=TIMEOUT,
                            sleep=sleeps.append, other_regions=[(token_url + "?region=us-west-2", MERCHANT_A, SECRET)])
    assert client.validate(valid_payload())["valid"] is True
    gateway.tokens.clear()  # the failover: every token of the first region is now refused (401)
    assert client.validate(valid_payload())["valid"] is True
    assert client.token_url.endswith("?region=us-west-2") and gateway.token_requests == 2 and not sleeps


def test_with_one_region_a_refused_token_is_still_an_error(client, gateway, shared_aws, sleeps):
    assert client.validate(valid_payload())["valid"] is True
    gateway.tokens.clear()
    with pytest.raises(PaymentsApiError) as refused:
        client.validate(valid_payload())
    assert refused.value.status == 401 and gateway.token_requests == 1
    client.access_token()  # the next call starts with a new token
    assert gateway.token_requests == 2
