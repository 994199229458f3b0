"""A merchant in the DR region's standby (scripts/merchant_standby.py), against moto in two regions:
both regions laid out as their stacks leave them (pool with the `payments` scopes, API stage, registry
replica, platform key alias, SSM parameters).

The rules: the standby client is keyed by the primary client's id (``merchant_key``) and sits behind
an API key of the same value; the merchant's one secret holds both regions' pairs and is replicated
into the DR region; giving a merchant its standby client again changes nothing; suspend, resume and
remove act on both clients; the canary in the DR region picks that region's pair from the replica."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import boto3
import pytest

from scripts import merchant_registry as registry, merchant_resources as resources, merchant_standby as standby_module

ENVIRONMENT, PRIMARY, DR = "prod", "us-east-1", "us-west-2"
REGISTRY = "payment-merchant-registry-prod"
SCOPES = ["payments/validate", "payments/fraud-check", "payments/process"]
LIMITS = resources.PlanLimits(rate_limit=20, burst_limit=40, quota_per_day=100_000, token_minutes=60)


def lay_out(region: str) -> None:
    """What payments-prod (us-east-1) or payments-prod-us-west-2 leaves that onboarding reads."""
    kms, cognito = boto3.client("kms", region_name=region), boto3.client("cognito-idp", region_name=region)
    key = kms.create_key(Description="platform key")["KeyMetadata"]["KeyId"]
    kms.create_alias(AliasName=resources.key_alias(ENVIRONMENT), TargetKeyId=key)
    pool = cognito.create_user_pool(PoolName=f"payment-merchants-{region}")["UserPool"]["Id"]
    cognito.create_resource_server(UserPoolId=pool, Identifier="payments", Name="Payments API", Scopes=[
        {"ScopeName": s.split("/")[1], "ScopeDescription": s} for s in SCOPES])
    apigw = boto3.client("apigateway", region_name=region)
    api = apigw.create_rest_api(name=f"payment-api-{region}")["id"]
    root = apigw.get_resources(restApiId=api)["items"][0]["id"]
    apigw.put_method(restApiId=api, resourceId=root, httpMethod="POST", authorizationType="NONE")
    apigw.put_integration(restApiId=api, resourceId=root, httpMethod="POST", type="MOCK")
    apigw.create_stage(restApiId=api, stageName="prod", deploymentId=apigw.create_deployment(restApiId=api)["id"])
    boto3.client("dynamodb", region_name=region).create_table(
        TableName=REGISTRY, BillingMode="PAY_PER_REQUEST",
        AttributeDefinitions=[{"AttributeName": "client_id", "AttributeType": "S"}],
        KeySchema=[{"AttributeName": "client_id", "KeyType": "HASH"}])
    values = {"user-pool-id": pool, "api-id": api, "api-stage": "prod", "merchant-registry": REGISTRY,
              "token-endpoint": f"https://payments-prod-0123.auth.{region}.amazoncognito.com/oauth2/token",
              "api-url": f"https://{api}.execute-api.{region}.amazonaws.com/prod"}
    for name, value in values.items():
        boto3.client("ssm", region_name=region).put_parameter(Name=f"/payment/{name}-{ENVIRONMENT}", Value=value,
                                                             Type="String")


@pytest.fixture
def regions(monkeypatch):
    from moto import mock_aws
    from modules.settings import build_settings
    from tests.support import environment_env
    for name, value in {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"}.items():
        monkeypatch.setenv(name, value)
    with mock_aws():
        lay_out(PRIMARY)
        settings = build_settings({}, environment_env("prod"))
        primary_aws = resources.Aws(PRIMARY)
        env = resources.load_environment(primary_aws, ENVIRONMENT, PRIMARY)
        assert standby_module.standby_of(settings, None) is None  # the standby not deployed yet
        lay_out(DR)
        standby = standby_module.standby_of(settings, None)
        yield primary_aws, env, standby


def secret(region: str) -> dict:
    return json.loads(boto3.client("secretsmanager", region_name=region).get_secret_value(
        SecretId=resources.secret_name("acme", ENVIRONMENT))["SecretString"])


def item(region: str, client_id: str) -> dict:
    return registry._plain(boto3.client("dynamodb", region_name=region).get_item(
        TableName=REGISTRY, Key={"client_id": {"S": client_id}})["Item"])


def onboard(primary_aws, env, standby):
    primary = resources.add(primary_aws, env, "acme", None, LIMITS)
    client, line = standby_module.add_to_standby(primary_aws, env, standby, "acme", LIMITS)
    return primary, client, line


def test_the_standby_client_is_keyed_by_the_merchants_id_behind_the_same_api_key(regions):
    primary_aws, env, standby = regions
    primary, client, line = onboard(*regions)
    assert client.client_id != primary.client_id and "keyed by " + primary.client_id in line
    recorded = item(DR, client.client_id)
    assert {k: recorded[k] for k in ("merchant", "merchant_key", "status", "api_key_id")} == {
        "merchant": "acme", "merchant_key": primary.client_id, "status": "active", "api_key_id": client.api_key_id}
    values = {region: boto3.client("apigateway", region_name=region).get_api_key(
        apiKey=key_id, includeValue=True)["value"] for region, key_id in ((PRIMARY, primary.api_key_id), (DR, client.api_key_id))}
    assert values[PRIMARY] == values[DR]
    dr_client = boto3.client("cognito-idp", region_name=DR).describe_user_pool_client(
        UserPoolId=standby.env.user_pool_id, ClientId=client.client_id)["UserPoolClient"]
    assert dr_client["AllowedOAuthFlows"] == ["client_credentials"] and sorted(dr_client["AllowedOAuthScopes"]) == sorted(SCOPES)


def test_the_merchants_one_secret_holds_both_regions_and_is_replicated_there(regions):
    primary, client, _ = onboard(*regions)
    stored = secret(PRIMARY)
    assert stored["client_id"] == primary.client_id
    assert stored["regions"][DR] == {"client_id": client.client_id, "client_secret": client.client_secret,
                                     "token_endpoint": regions[2].env.token_endpoint, "api_url": regions[2].env.api_url}
    assert secret(DR) == stored  # the replica: readable in us-west-2 while us-east-1 is down


def test_giving_it_again_changes_nothing(regions):
    primary_aws, env, standby = regions
    _, client, _ = onboard(*regions)
    again, line = standby_module.add_to_standby(primary_aws, env, standby, "acme", LIMITS)
    assert again is None and line == f"merchant acme has its client in {DR} already"
    assert secret(PRIMARY)["regions"][DR]["client_id"] == client.client_id


def test_suspend_resume_and_remove_act_on_both_clients(regions):
    primary_aws, env, standby = regions
    primary, client, _ = onboard(*regions)
    # The primary's registry item alone is "current": the standby's follows it.
    assert resources.change_status(primary_aws, env, "acme", "suspend")[0].startswith(f"client {primary.client_id} suspended")
    [line] = standby_module.change_status(standby, "acme", "suspend")
    assert line.startswith(f"client {client.client_id} ({DR}) suspended at")
    assert item(DR, client.client_id)["status"] == "suspended"
    assert standby_module.change_status(standby, "acme", "resume")[0].startswith(f"client {client.client_id} ({DR}) resumed")
    done = standby_module.unreplicate(primary_aws, ENVIRONMENT, "acme")
    done += standby_module.remove_from_standby(standby, "acme")
    done = resources.remove(primary_aws, env, "acme") + done
    assert f"secret replica in {DR} deleted" in done and f"app client {client.client_id} deleted in {DR} (no new tokens)" in done
    assert item(DR, client.client_id)["status"] == "removed" and item(PRIMARY, primary.client_id)["status"] == "removed"
    assert not resources.find(standby.aws, standby.env, "acme").names()
    assert not resources.find(primary_aws, env, "acme").names()


def test_an_unknown_merchant_gets_no_standby_client(regions):
    with pytest.raises(resources.MerchantError, match="not onboarded in prod"):
        standby_module.add_to_standby(*regions, "nobody", LIMITS)


def test_the_canary_in_the_dr_region_uses_that_regions_client(regions, monkeypatch):
    onboard(*regions)
    for path in (Path(__file__).resolve().parents[1] / "lambdas" / "canary",
                 Path(__file__).resolve().parents[1] / "docs" / "api" / "client"):
        if str(path) not in sys.path:
            sys.path.insert(0, str(path))
    import base64
    import canary_handler
    for name, value in {"CANARY_CREDENTIALS_NAME": resources.secret_name("acme", ENVIRONMENT), "AWS_REGION": DR,
                        "API_URL": "https://api.example.com/", "OAUTH_ENDPOINT": "https://auth.example.com/"}.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("API_CONNECT_TO", raising=False)
    stored = secret(DR)
    client = canary_handler.merchant_client(lambda name: json.dumps(stored))
    assert base64.b64decode(client._basic).decode() == (
        f"{stored['regions'][DR]['client_id']}:{stored['regions'][DR]['client_secret']}")
    monkeypatch.setenv("AWS_REGION", PRIMARY)
    client = canary_handler.merchant_client(lambda name: json.dumps(stored))
    assert base64.b64decode(client._basic).decode() == f"{stored['client_id']}:{stored['client_secret']}"
