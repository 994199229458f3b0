"""The offline rehearsal's merchant phases (scripts/rehearse.py): after apply, check the applied
API's authorizer and scopes and onboard a merchant with ``scripts/merchants.py`` against the local
endpoint, proving that neither the command's output nor the Terraform state carries its client
secret or API key value and that the merchant registry holds it active with its API key id; after the
smoke test, offboard it (the registry item stays, marked removed).

``ctx`` is the rehearsal's ``SmokeContext`` (``boto(service)``, ``outputs``, ``environment``,
``region``); this module does not import scripts/rehearse.py, which imports it.
"""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping

from scripts import terraform

PROJECT_ROOT = Path(__file__).resolve().parent.parent
MERCHANT = "rehearsal-merchant"


class OnboardingError(RuntimeError):
    """A merchant phase failed; the message is what the rehearsal report shows."""


def check(condition: bool, message: str) -> None:
    if not condition:
        raise OnboardingError(f"merchant: {message}")


@dataclass(frozen=True)
class Merchant:
    """The merchant the rehearsal onboarded (identifiers only; its secret stays in Secrets Manager)."""

    name: str
    client_id: str
    scopes: tuple[str, ...]
    secret_name: str
    api_key_id: str = ""  # what API Gateway puts in requestContext.identity.apiKeyId for its key


def merchants_command(ctx: Any, endpoint_env: Mapping[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    """``scripts/merchants.py`` as an operator runs it (``make merchant-add``), against the endpoint."""
    env = dict(endpoint_env, ENVIRONMENT_SUFFIX=ctx.environment, PAYMENTS_AWS_REGION=ctx.region)
    return subprocess.run([sys.executable, "-m", "scripts.merchants", *args, "--endpoint-url", ctx.endpoint],
                          cwd=PROJECT_ROOT, env=env, capture_output=True, text=True, timeout=300)


def check_api_authorization(ctx: Any) -> str:
    """The applied API: a Cognito authorizer trusting the stack's user pool, and every method needing
    an access token with its own scope and an API key."""
    apigw, pool_id = ctx.boto("apigateway"), ctx.outputs["user-pool-id"]
    pool_arn = ctx.boto("cognito-idp").describe_user_pool(UserPoolId=pool_id)["UserPool"]["Arn"]
    api_id = ctx.outputs["api-id"]
    authorizers = apigw.get_authorizers(restApiId=api_id)["items"]
    check(len(authorizers) == 1, f"expected one authorizer on API {api_id}, found {len(authorizers)}")
    authorizer = authorizers[0]
    check(authorizer["type"] == "COGNITO_USER_POOLS" and authorizer.get("providerARNs") == [pool_arn],
          f"authorizer {authorizer} does not trust user pool {pool_arn}")
    routes = 0
    for resource in apigw.get_resources(restApiId=api_id)["items"]:
        if "POST" not in resource.get("resourceMethods", {}):
            continue
        method = apigw.get_method(restApiId=api_id, resourceId=resource["id"], httpMethod="POST")
        scope = f"payments/{resource['pathPart']}"
        check(method["authorizationType"] == "COGNITO_USER_POOLS" and method["authorizerId"] == authorizer["id"]
              and method.get("authorizationScopes") == [scope] and method["apiKeyRequired"],
              f"POST {resource['path']}: {method['authorizationType']} {method.get('authorizationScopes')}")
        routes += 1
    check(routes == 3, f"expected 3 POST routes, found {routes}")
    return f"authorizer {authorizer['id']} on {routes} routes, one scope each"


def onboard_merchant(ctx: Any, endpoint_env: Mapping[str, str], workdir: Path,
                     tf_env: Mapping[str, str]) -> Merchant:
    """``merchants add`` for MERCHANT; its output and the environment's Terraform state must carry
    neither the client secret nor the API key value (both are read back from the secret to check)."""
    proc = merchants_command(ctx, endpoint_env, "add", MERCHANT, "--json")
    if proc.returncode != 0:
        raise OnboardingError(f"merchants add exited {proc.returncode}: {proc.stderr.strip()}")
    result = json.loads(proc.stdout)
    secret = json.loads(ctx.boto("secretsmanager").get_secret_value(SecretId=result["secret_name"])["SecretString"])
    client = ctx.boto("cognito-idp").describe_user_pool_client(
        UserPoolId=ctx.outputs["user-pool-id"], ClientId=result["client_id"])["UserPoolClient"]
    check(secret["client_secret"] == client.get("ClientSecret") and client["AllowedOAuthFlows"] == ["client_credentials"],
          "the stored secret is not the app client's, or the client allows more than client credentials")
    plan = ctx.boto("apigateway").get_usage_plan(usagePlanId=result["usage_plan_id"])
    check(plan["apiStages"] == [{"apiId": ctx.outputs["api-id"], "stage": ctx.outputs["api-stage"]}],
          f"usage plan stages {plan['apiStages']}")
    registry = ctx.boto("dynamodb").get_item(TableName=ctx.outputs["merchant-registry"], ConsistentRead=True,
                                             Key={"client_id": {"S": result["client_id"]}}).get("Item", {})
    check(registry.get("status") == {"S": "active"} and registry.get("api_key_id") == {"S": result["api_key_id"]},
          f"registry item of client {result['client_id']}: {registry}")
    state = terraform.run(workdir, ["state", "pull"], env=dict(tf_env), check=False)
    check(state.returncode == 0 and '"resources"' in state.stdout, "terraform state pull failed")
    for label, value in (("client secret", secret["client_secret"]), ("API key value", secret["api_key"])):
        check(bool(value) and value not in proc.stdout + proc.stderr, f"the {label} appears in the command output")
        check(value not in state.stdout, f"the {label} appears in the Terraform state")
    return Merchant(MERCHANT, result["client_id"], tuple(result["scopes"]), result["secret_name"],
                    result["api_key_id"])


def onboard_canary(ctx: Any, endpoint_env: Mapping[str, str]) -> dict[str, Any]:
    """``make canary-onboard`` (``merchants canary``): the synthetic merchant, marked so in the
    registry; run a second time it changes nothing."""
    proc = merchants_command(ctx, endpoint_env, "canary", "--json")
    if proc.returncode != 0:
        raise OnboardingError(f"merchants canary exited {proc.returncode}: {proc.stderr.strip()}")
    result = json.loads(proc.stdout)
    check(result.get("onboarded") is True, f"merchants canary did not onboard: {result}")
    item = ctx.boto("dynamodb").get_item(TableName=ctx.outputs["merchant-registry"], ConsistentRead=True,
                                         Key={"client_id": {"S": result["client_id"]}}).get("Item", {})
    check(item.get("synthetic") == {"S": "true"} and item.get("status") == {"S": "active"},
          f"registry item of the synthetic merchant: {item}")
    again = merchants_command(ctx, endpoint_env, "canary")
    check(again.returncode == 0 and "already onboarded" in again.stdout, f"second canary-onboard: {again.stderr}")
    return result


def offboard_merchant(ctx: Any, endpoint_env: Mapping[str, str], merchant: Merchant) -> str:
    proc = merchants_command(ctx, endpoint_env, "remove", merchant.name)
    if proc.returncode != 0:
        raise OnboardingError(f"merchants remove exited {proc.returncode}: {proc.stderr.strip()}")
    clients = ctx.boto("cognito-idp").list_user_pool_clients(
        UserPoolId=ctx.outputs["user-pool-id"], MaxResults=60)["UserPoolClients"]
    check(merchant.client_id not in {c["ClientId"] for c in clients}, "app client still exists")
    registry = ctx.boto("dynamodb").get_item(TableName=ctx.outputs["merchant-registry"], ConsistentRead=True,
                                             Key={"client_id": {"S": merchant.client_id}}).get("Item", {})
    check(registry.get("status") == {"S": "removed"}, f"registry item after remove: {registry}")
    again = merchants_command(ctx, endpoint_env, "remove", merchant.name)
    check(again.returncode == 1 and "unknown merchant" in again.stderr, f"second remove: {again.stderr}")
    return f"{merchant.name} removed (client, key, plan, secret; registry item marked removed)"
