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


@pytest.fixture(scope="module")
def endpoint(tmp_path_factory: pytest.TempPathFactory) -> Any:
    with rehearse.MotoServer(tmp_path_factory.mktemp("moto") / "moto.log") as server:
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
    values = {"user-pool-id": pool, "api-id": api, "api-stage": "prod",
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
