"""Merchant onboarding (scripts/merchants.py, scripts/merchant_resources.py) against a real local
endpoint (moto server).

The environment the command works on is laid out with boto3 exactly as the stack leaves it: the
user pool with the `payments` resource server, a REST API stage, the platform key alias and the SSM
parameters (the offline rehearsal runs the same command against the Terraform-applied stack).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import boto3
import pytest

from scripts import merchant_resources as resources, merchants, rehearse
from tests.support import PROJECT_ROOT

ENVIRONMENT = "dev"
REGION = "us-east-1"
ALL_SCOPES = ["payments/validate", "payments/fraud-check", "payments/process"]
REGISTRY = "payment-merchant-registry-dev"


@pytest.fixture(scope="module")
def endpoint(tmp_path_factory: pytest.TempPathFactory) -> Any:
    with rehearse.MotoServer(tmp_path_factory.mktemp("moto") / "moto.log", aws_managed_policies=False) as server:
        yield server.url


@pytest.fixture(scope="module")
def aws(endpoint: str) -> resources.Aws:
    env = rehearse.endpoint_env(endpoint, REGION, {})
    with pytest.MonkeyPatch.context() as mp:
        for k in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
            mp.setenv(k, env[k])
        return resources.Aws(REGION, endpoint)


@pytest.fixture(scope="module")
def deployed(aws: resources.Aws, endpoint: str) -> dict[str, str]:
    """What `payments-dev` leaves behind that the command reads: pool, scopes, stage, key, parameters."""
    session = boto3.session.Session(aws_access_key_id="test", aws_secret_access_key="test", region_name=REGION)
    kms = session.client("kms", endpoint_url=endpoint)
    key_id = kms.create_key(Description="platform key")["KeyMetadata"]["KeyId"]
    kms.create_alias(AliasName=resources.key_alias(ENVIRONMENT), TargetKeyId=key_id)
    pool = aws.cognito.create_user_pool(PoolName="payment-merchants-dev")["UserPool"]["Id"]
    aws.cognito.create_resource_server(UserPoolId=pool, Identifier="payments", Name="Payments API", Scopes=[
        {"ScopeName": s.split("/")[1], "ScopeDescription": s} for s in ALL_SCOPES])
    api = aws.apigw.create_rest_api(name="payment-api-dev")["id"]
    root = aws.apigw.get_resources(restApiId=api)["items"][0]["id"]
    aws.apigw.put_method(restApiId=api, resourceId=root, httpMethod="POST", authorizationType="NONE",
                         apiKeyRequired=True)
    aws.apigw.put_integration(restApiId=api, resourceId=root, httpMethod="POST", type="MOCK")
    deployment = aws.apigw.create_deployment(restApiId=api)["id"]
    aws.apigw.create_stage(restApiId=api, stageName="prod", deploymentId=deployment)
    aws.dynamodb.create_table(TableName=REGISTRY, BillingMode="PAY_PER_REQUEST",
                              AttributeDefinitions=[{"AttributeName": "client_id", "AttributeType": "S"}],
                              KeySchema=[{"AttributeName": "client_id", "KeyType": "HASH"}])
    values = {"user-pool-id": pool, "api-id": api, "api-stage": "prod", "merchant-registry": REGISTRY,
              "token-endpoint": "https://payments-dev-0123456789.auth.us-east-1.amazoncognito.com/oauth2/token",
              "api-url": f"https://{api}.execute-api.us-east-1.amazonaws.com/prod"}
    for name, value in values.items():
        aws.ssm.put_parameter(Name=f"/payment/{name}-{ENVIRONMENT}", Value=value, Type="String")
    return {**values, "key_id": key_id}


def run(endpoint: str, *args: str) -> subprocess.CompletedProcess[str]:
    """The command as `make merchant-add` runs it (a fresh process, settings from the environment)."""
    env = rehearse.endpoint_env(endpoint, REGION)
    env["ENVIRONMENT_SUFFIX"] = ENVIRONMENT
    return subprocess.run([sys.executable, "-m", "scripts.merchants", *args, "--endpoint-url", endpoint],
                          cwd=PROJECT_ROOT, env=env, capture_output=True, text=True, timeout=120)


def stored_secret(aws: resources.Aws, merchant: str) -> dict[str, Any]:
    name = resources.secret_name(merchant, ENVIRONMENT)
    return json.loads(aws.secrets.get_secret_value(SecretId=name)["SecretString"])


@pytest.fixture(scope="module")
def acme(endpoint: str, deployed: dict[str, str]) -> tuple[subprocess.CompletedProcess[str], dict[str, Any]]:
    proc = run(endpoint, "add", "acme", "--json")
    assert proc.returncode == 0, proc.stderr
    return proc, json.loads(proc.stdout)


def test_parameter_names_are_the_ones_the_stack_writes() -> None:
    import modules  # noqa: F401
    from modules.parameters import parameter_name
    for name in resources.PARAMETERS:
        assert resources.PARAMETER.format(name=name, environment="dev") == parameter_name(name, "dev")


def test_add_creates_a_client_credentials_app_client_with_every_scope(aws, deployed, acme) -> None:
    _, result = acme
    client = aws.cognito.describe_user_pool_client(UserPoolId=deployed["user-pool-id"],
                                                   ClientId=result["client_id"])["UserPoolClient"]
    assert client["ClientName"] == "payment-merchant-acme-dev"
    assert client["AllowedOAuthFlows"] == ["client_credentials"] and client["AllowedOAuthFlowsUserPoolClient"]
    assert client["AllowedOAuthScopes"] == ALL_SCOPES == result["scopes"]
    assert (client["AccessTokenValidity"], client["TokenValidityUnits"]) == (60, {"AccessToken": "minutes"})
    assert client["ClientSecret"]  # generated by Cognito, kept only in the secret


def test_add_creates_a_tagged_api_key_and_usage_plan_linked_to_the_stage(aws, deployed, acme) -> None:
    _, result = acme
    key = aws.apigw.get_api_key(apiKey=result["api_key_id"])
    assert key["name"] == "payment-merchant-acme-dev" and key["enabled"] is True
    assert key["tags"]["Merchant"] == "acme"
    plan = aws.apigw.get_usage_plan(usagePlanId=result["usage_plan_id"])
    assert plan["apiStages"] == [{"apiId": deployed["api-id"], "stage": "prod"}]
    assert (plan["throttle"]["rateLimit"], plan["throttle"]["burstLimit"]) == (20, 40)  # dev settings
    assert (plan["quota"]["limit"], plan["quota"]["period"]) == (100000, "DAY")
    assert plan["tags"]["Merchant"] == "acme"
    linked = aws.apigw.get_usage_plan_keys(usagePlanId=plan["id"])["items"]
    assert [k["id"] for k in linked] == [key["id"]]


def test_add_stores_the_credentials_in_a_secret_under_the_platform_key(aws, deployed, acme) -> None:
    _, result = acme
    name = resources.secret_name("acme", ENVIRONMENT)
    described = aws.secrets.describe_secret(SecretId=name)
    assert described["KmsKeyId"] in (resources.key_alias(ENVIRONMENT), deployed["key_id"])
    assert {t["Key"]: t["Value"] for t in described["Tags"]}["Merchant"] == "acme"
    secret = stored_secret(aws, "acme")
    client = aws.cognito.describe_user_pool_client(UserPoolId=deployed["user-pool-id"],
                                                   ClientId=result["client_id"])["UserPoolClient"]
    key = aws.apigw.get_api_key(apiKey=result["api_key_id"], includeValue=True)
    assert secret["client_id"] == result["client_id"] and secret["client_secret"] == client["ClientSecret"]
    assert secret["api_key"] == key["value"] and secret["token_endpoint"] == deployed["token-endpoint"]


def test_add_output_names_where_the_secret_is_and_never_the_secret(aws, deployed, acme) -> None:
    proc, result = acme
    secret = stored_secret(aws, "acme")
    for value in (secret["client_secret"], secret["api_key"]):
        assert value not in proc.stdout and value not in proc.stderr
    assert result["token_endpoint"] == deployed["token-endpoint"]
    assert result["fetch_secret"] == ("aws secretsmanager get-secret-value --region us-east-1 --secret-id "
                                      "payment/merchants/dev/acme --query SecretString --output text")


def test_text_output_carries_client_id_endpoint_and_fetch_command_only(aws, endpoint, deployed) -> None:
    proc = run(endpoint, "add", "text-out", "--scopes", "payments/validate")
    assert proc.returncode == 0, proc.stderr
    secret = stored_secret(aws, "text-out")
    assert secret["client_id"] in proc.stdout and deployed["token-endpoint"] in proc.stdout
    assert "aws secretsmanager get-secret-value" in proc.stdout
    assert secret["client_secret"] not in proc.stdout + proc.stderr
    assert secret["api_key"] not in proc.stdout + proc.stderr
    assert secret["scopes"] == ["payments/validate"]


def test_adding_an_existing_merchant_fails_and_creates_nothing(aws, endpoint, deployed, acme) -> None:
    before = len(resources.app_clients(aws, resources.load_environment(aws, ENVIRONMENT, REGION)))
    proc = run(endpoint, "add", "acme")
    assert proc.returncode == 1
    assert proc.stderr.startswith("error: merchant acme exists already in dev (app client, API key, "
                                  "usage plan, secret)")
    assert len(resources.app_clients(aws, resources.load_environment(aws, ENVIRONMENT, REGION))) == before


def test_unknown_scope_is_refused(endpoint, deployed) -> None:
    proc = run(endpoint, "add", "scoped", "--scopes", "payments/refund")
    assert proc.returncode == 1 and "unknown scope payments/refund" in proc.stderr


def test_throttle_above_the_stage_limit_is_refused(endpoint, deployed) -> None:
    proc = run(endpoint, "add", "greedy", "--rate-limit", "1000")
    assert proc.returncode == 1 and "at most the stage's 100/200" in proc.stderr


def test_remove_deletes_client_key_plan_and_secret(aws, endpoint, deployed) -> None:
    added = run(endpoint, "add", "leaving", "--json")
    assert added.returncode == 0, added.stderr
    result = json.loads(added.stdout)
    proc = run(endpoint, "remove", "leaving")
    assert proc.returncode == 0, proc.stderr
    env = resources.load_environment(aws, ENVIRONMENT, REGION)
    assert resources.find(aws, env, "leaving").names() == []
    assert result["client_id"] not in {c["ClientId"] for c in resources.app_clients(aws, env)}
    with pytest.raises(aws.apigw.exceptions.NotFoundException):
        aws.apigw.get_api_key(apiKey=result["api_key_id"])
    with pytest.raises(aws.apigw.exceptions.NotFoundException):
        aws.apigw.get_usage_plan(usagePlanId=result["usage_plan_id"])
    with pytest.raises(aws.secrets.exceptions.ResourceNotFoundException):
        aws.secrets.describe_secret(SecretId=resources.secret_name("leaving", ENVIRONMENT))


def test_removing_an_unknown_merchant_fails_clearly(endpoint, deployed) -> None:
    proc = run(endpoint, "remove", "nobody")
    assert proc.returncode == 1
    assert proc.stderr.startswith("error: unknown merchant nobody in dev")


def test_remove_cleans_up_a_partial_merchant(aws, deployed) -> None:
    env = resources.load_environment(aws, ENVIRONMENT, REGION)
    key = aws.apigw.create_api_key(name=resources.resource_name("half", ENVIRONMENT), enabled=True)
    assert resources.remove(aws, env, "half") == [f"API key {key['id']} deleted"]
    assert resources.find(aws, env, "half").names() == []


def test_a_failed_add_undoes_what_it_created(aws, deployed, monkeypatch) -> None:
    env = resources.load_environment(aws, ENVIRONMENT, REGION)

    def refuse(**kwargs: Any) -> None:
        raise RuntimeError("secrets manager unavailable")

    monkeypatch.setattr(aws.secrets, "create_secret", refuse)
    limits = resources.PlanLimits(10, 20, 1000, 60)
    with pytest.raises(RuntimeError, match="secrets manager unavailable"):
        resources.add(aws, env, "flaky", None, limits)
    assert resources.find(aws, env, "flaky").names() == []


def test_environment_that_is_not_deployed_is_named(endpoint) -> None:
    env = rehearse.endpoint_env(endpoint, REGION)
    proc = subprocess.run([sys.executable, "-m", "scripts.merchants", "add", "acme", "--environment", "staging",
                           "--endpoint-url", endpoint], cwd=PROJECT_ROOT, env=env, capture_output=True,
                          text=True, timeout=120)
    assert proc.returncode == 1
    assert "environment staging is not deployed in us-east-1 (missing SSM parameter" in proc.stderr


def test_bad_name_is_refused_before_any_aws_call() -> None:
    with pytest.raises(resources.MerchantError, match="must match"):
        resources.check_name("Acme Corp")


def test_list_shows_merchants_without_secrets(aws, endpoint, deployed, acme) -> None:
    proc = run(endpoint, "list", "--json")
    assert proc.returncode == 0, proc.stderr
    rows = {r["merchant"]: r for r in json.loads(proc.stdout)}
    assert rows["acme"]["client_id"] == acme[1]["client_id"] and rows["acme"]["scopes"] == ALL_SCOPES
    assert stored_secret(aws, "acme")["client_secret"] not in proc.stdout


# --------------------------------------------------------------------------- the rehearsal's API check


def authorized_api(aws: resources.Aws, pool_arn: str, scopes: dict[str, str]) -> str:
    """A REST API shaped like the stack's: one Cognito authorizer, POST routes with their scopes."""
    api = aws.apigw.create_rest_api(name="payment-api-check")["id"]
    root = aws.apigw.get_resources(restApiId=api)["items"][0]["id"]
    authorizer = aws.apigw.create_authorizer(restApiId=api, name="merchant-access-tokens",
                                             type="COGNITO_USER_POOLS", providerARNs=[pool_arn],
                                             identitySource="method.request.header.Authorization")["id"]
    for path, scope in scopes.items():
        resource = aws.apigw.create_resource(restApiId=api, parentId=root, pathPart=path)["id"]
        aws.apigw.put_method(restApiId=api, resourceId=resource, httpMethod="POST",
                             authorizationType="COGNITO_USER_POOLS", authorizerId=authorizer,
                             authorizationScopes=[scope], apiKeyRequired=True)
    return api


def test_rehearsal_api_check_accepts_one_scope_per_route_and_refuses_others(aws, endpoint, deployed) -> None:
    from scripts import rehearse_identity
    pool_arn = aws.cognito.describe_user_pool(UserPoolId=deployed["user-pool-id"])["UserPool"]["Arn"]
    routes = {p: f"payments/{p}" for p in ("validate", "fraud-check", "process")}

    def check(api_id: str) -> str:
        ctx = rehearse.SmokeContext(ENVIRONMENT, REGION, endpoint,
                                    {"user-pool-id": deployed["user-pool-id"], "api-id": api_id}, {})
        return rehearse_identity.check_api_authorization(ctx)

    assert check(authorized_api(aws, pool_arn, routes)).endswith("on 3 routes, one scope each")
    with pytest.raises(rehearse_identity.OnboardingError, match="POST /process"):
        check(authorized_api(aws, pool_arn, {**routes, "process": "payments/validate"}))
    with pytest.raises(rehearse_identity.OnboardingError, match="expected one authorizer"):
        check(deployed["api-id"])


# --------------------------------------------------------------------------- the merchant registry


def registry_item(aws: resources.Aws, client_id: str) -> dict[str, str]:
    item = aws.dynamodb.get_item(TableName=REGISTRY, Key={"client_id": {"S": client_id}},
                                 ConsistentRead=True).get("Item") or {}
    return {k: v["S"] for k, v in item.items()}


def test_add_records_the_merchant_active_with_its_api_key_in_the_registry(aws, deployed, acme) -> None:
    _, result = acme
    item = registry_item(aws, result["client_id"])
    assert {k: item[k] for k in ("merchant", "api_key_id", "usage_plan_id", "status")} == {
        "merchant": "acme", "api_key_id": result["api_key_id"], "usage_plan_id": result["usage_plan_id"],
        "status": "active"}
    assert item["created_at"] == item["updated_at"] and item["created_at"].endswith("+00:00")
    secret = stored_secret(aws, "acme")
    assert secret["client_secret"] not in json.dumps(item) and secret["api_key"] not in json.dumps(item)


def added(aws: resources.Aws, merchant: str) -> resources.Onboarded:
    """``add`` in-process (the command itself is run as a process above): cheaper for setup."""
    env = resources.load_environment(aws, ENVIRONMENT, REGION)
    return resources.add(aws, env, merchant, None, resources.PlanLimits(10, 20, 1000, 60))


def test_suspend_and_resume_flip_the_status_and_delete_nothing(aws, endpoint, deployed) -> None:
    client_id = added(aws, "pausing").client_id
    env = resources.load_environment(aws, ENVIRONMENT, REGION)
    before = resources.find(aws, env, "pausing").names()

    proc = run(endpoint, "suspend", "pausing")
    assert proc.returncode == 0, proc.stderr
    assert "suspend merchant pausing in dev (registry payment-merchant-registry-dev)" in proc.stderr
    assert f"client {client_id} suspended at" in proc.stdout and "(calls refused within 30 s)" in proc.stdout
    item = registry_item(aws, client_id)
    assert item["status"] == "suspended" and item["suspended_at"] == item["updated_at"]
    assert resources.find(aws, env, "pausing").names() == before  # client, key, plan, secret all kept
    [again] = resources.change_status(aws, env, "pausing", "suspend")
    assert again.startswith(f"client {client_id} already suspended (since {item['suspended_at']})")

    [resumed] = resources.change_status(aws, env, "pausing", "resume")
    item = registry_item(aws, client_id)
    assert item["status"] == "active" and item["resumed_at"] >= item["suspended_at"]
    assert resumed == f"client {client_id} resumed at {item['resumed_at']} (calls served again within 30 s)"
    assert "already active (since " in resources.change_status(aws, env, "pausing", "resume")[0]
    listed = {r["merchant"]: r for r in resources.list_merchants(aws, env)}
    assert listed["pausing"]["status"] == "active"


def test_suspending_an_unregistered_merchant_names_the_register_command(endpoint, deployed) -> None:
    proc = run(endpoint, "suspend", "nobody")
    assert proc.returncode == 1
    assert proc.stderr.splitlines()[-1] == (
        "error: merchant nobody is not in the registry of dev (onboarded before the registry existed? "
        "`make merchant-register NAME=nobody` records it)")


def test_a_status_change_is_conditional_on_the_status_read(aws, deployed) -> None:
    from scripts import merchant_registry
    row = merchant_registry.record(aws.dynamodb, REGISTRY, client_id="raceclient", merchant="race",
                                   api_key_id="k1", usage_plan_id=None)
    merchant_registry.set_status(aws.dynamodb, REGISTRY, row, "suspended", "active")
    with pytest.raises(merchant_registry.RegistryError, match="changed while this ran"):
        merchant_registry.set_status(aws.dynamodb, REGISTRY, row, "suspended", "active")
    with pytest.raises(merchant_registry.RegistryError, match="in the registry already"):
        merchant_registry.record(aws.dynamodb, REGISTRY, client_id="raceclient", merchant="race",
                                 api_key_id="k2", usage_plan_id=None)


def test_remove_marks_the_registry_item_removed_first_and_keeps_it(aws, deployed) -> None:
    result = added(aws, "offboarded")
    env = resources.load_environment(aws, ENVIRONMENT, REGION)
    lines = resources.remove(aws, env, "offboarded")
    assert lines[0] == f"registry: client {result.client_id} marked removed"
    item = registry_item(aws, result.client_id)
    assert item["status"] == "removed" and item["api_key_id"] == result.api_key_id and item["removed_at"]
    from scripts.merchant_registry import RegistryError
    with pytest.raises(RegistryError, match="not in the registry"):  # removed is final
        resources.change_status(aws, env, "offboarded", "resume")


def test_register_records_a_merchant_onboarded_before_the_registry(aws, deployed) -> None:
    result = added(aws, "early")
    aws.dynamodb.delete_item(TableName=REGISTRY, Key={"client_id": {"S": result.client_id}})
    env = resources.load_environment(aws, ENVIRONMENT, REGION)
    assert {r["merchant"]: r["status"] for r in resources.list_merchants(aws, env)}["early"] == "unregistered"
    assert resources.register(aws, env, "early") == [
        f"client {result.client_id} recorded active with API key {result.api_key_id}"]
    item = registry_item(aws, result.client_id)
    assert (item["status"], item["api_key_id"], item["usage_plan_id"]) == (
        "active", result.api_key_id, result.usage_plan_id)
    from scripts.merchant_registry import RegistryError
    with pytest.raises(RegistryError, match="in the registry already"):  # once
        resources.register(aws, env, "early")


def test_a_failed_add_leaves_no_registry_item(aws, deployed, monkeypatch) -> None:
    env = resources.load_environment(aws, ENVIRONMENT, REGION)
    monkeypatch.setattr(aws.secrets, "create_secret", lambda **_: (_ for _ in ()).throw(RuntimeError("down")))
    with pytest.raises(RuntimeError):
        resources.add(aws, env, "flaky-reg", None, resources.PlanLimits(10, 20, 1000, 60))
    rows = aws.dynamodb.scan(TableName=REGISTRY, FilterExpression="merchant = :m",
                             ExpressionAttributeValues={":m": {"S": "flaky-reg"}})["Items"]
    assert rows == []


# --------------------------------------------------------------------------- the synthetic merchant


def test_canary_onboards_the_settings_synthetic_merchant_once(aws, endpoint, deployed) -> None:
    """`make canary-onboard`: the canary's merchant, marked synthetic, on a small plan; run again, nothing."""
    first = run(endpoint, "canary", "--json")
    assert first.returncode == 0, first.stderr
    result = json.loads(first.stdout)
    assert result["onboarded"] is True and result["merchant"] == "synthetic-canary"
    item = registry_item(aws, result["client_id"])
    assert (item["status"], item["synthetic"]) == ("active", "true")
    assert (result["rate_limit"], result["burst_limit"], result["quota_per_day"]) == (1, 5, 15000)
    assert result["scopes"] == ALL_SCOPES
    assert set(stored_secret(aws, "synthetic-canary")) >= {"client_id", "client_secret", "api_key"}
    again = run(endpoint, "canary")
    assert again.returncode == 0 and "already onboarded" in again.stdout, again.stderr
    assert [c for c in resources.app_clients(aws, resources.load_environment(aws, ENVIRONMENT, REGION))
            if c["ClientName"] == resources.resource_name("synthetic-canary", ENVIRONMENT)] != []
    listed = {r["merchant"]: r for r in resources.list_merchants(aws, resources.load_environment(aws, ENVIRONMENT, REGION))}
    assert listed["synthetic-canary"]["synthetic"] is True
    resources.remove(aws, resources.load_environment(aws, ENVIRONMENT, REGION), "synthetic-canary")


def test_canary_refuses_to_turn_a_real_merchant_synthetic(aws, endpoint, deployed) -> None:
    added(aws, "shop-canary")
    proc = run(endpoint, "canary", "shop-canary")
    assert proc.returncode == 1 and "a real merchant, not the synthetic one" in proc.stderr
    [row] = [r for r in resources.registry.rows_of(aws.dynamodb, REGISTRY, "shop-canary")]
    assert "synthetic" not in row
    resources.remove(aws, resources.load_environment(aws, ENVIRONMENT, REGION), "shop-canary")


def test_a_merchant_added_by_hand_is_not_synthetic(aws, deployed, acme) -> None:
    _, result = acme
    assert "synthetic" not in registry_item(aws, result["client_id"])
