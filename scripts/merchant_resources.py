"""The AWS side of merchant onboarding (the command is scripts/merchants.py): find, create and delete
one merchant's Cognito app client, API key, usage plan and Secrets Manager secret in one deployed
environment, which is found through the SSM parameters the stack writes.

Nothing here prints or returns a client secret or an API key value: ``add`` writes both into the
merchant's secret only and returns identifiers and the command that fetches them.
"""

from __future__ import annotations

import json
import re
import sys
from dataclasses import dataclass, field
from typing import Any, Callable, Iterator, Sequence

from scripts import merchant_registry as registry

NAME_PATTERN = re.compile(r"^[a-z][a-z0-9-]{1,30}[a-z0-9]$")
RESOURCE_SERVER = "payments"  # modules/identity.py RESOURCE_SERVER
# modules/parameters.py parameter_name(): the stack writes these (non-secret identifiers).
PARAMETER = "/payment/{name}-{environment}"
PARAMETERS = ("user-pool-id", "token-endpoint", "api-id", "api-stage", "api-url", "merchant-registry")
MANAGED_BY = "scripts/merchants.py"
# payments_core.registry.CACHE_SECONDS: how long a function trusts a registry item it read.
REGISTRY_CACHE_SECONDS = 30
PREFIX = "payment-merchant-"


class MerchantError(RuntimeError):
    """A request this command refuses; the message is the whole report."""


# --------------------------------------------------------------------------- names and environment


def resource_name(merchant: str, environment: str) -> str:
    """App client, API key and usage plan name (keys and plans share one namespace per region)."""
    return f"{PREFIX}{merchant}-{environment}"


def secret_name(merchant: str, environment: str) -> str:
    return f"payment/merchants/{environment}/{merchant}"


def key_alias(environment: str) -> str:
    """The platform key (modules/security.py) that encrypts every merchant secret."""
    return f"alias/payment-key-{environment}"


def tags(merchant: str, environment: str) -> dict[str, str]:
    return {"Merchant": merchant, "Environment": environment, "Project": "payments",
            "ManagedBy": MANAGED_BY}


def check_name(merchant: str) -> str:
    if not NAME_PATTERN.match(merchant or ""):
        raise MerchantError(f"merchant name {merchant!r} must match {NAME_PATTERN.pattern} "
                            "(lowercase letters, digits, inner hyphens, 3-32 characters)")
    return merchant


@dataclass(frozen=True)
class Environment:
    """One deployed environment, as its SSM parameters describe it."""

    name: str
    region: str
    user_pool_id: str
    token_endpoint: str
    api_id: str
    api_stage: str
    api_url: str
    registry_table: str


@dataclass(frozen=True)
class PlanLimits:
    rate_limit: float
    burst_limit: int
    quota_per_day: int
    token_minutes: int


class Aws:
    """The clients the command uses, on one session (an endpoint URL for a local endpoint)."""

    def __init__(self, region: str, endpoint_url: str | None = None):
        import boto3  # noqa: PLC0415  (only when talking to AWS; --help stays fast)

        session = boto3.session.Session(region_name=region)
        make = lambda service: session.client(service, endpoint_url=endpoint_url or None)  # noqa: E731
        self.ssm, self.cognito = make("ssm"), make("cognito-idp")
        self.apigw, self.secrets = make("apigateway"), make("secretsmanager")
        self.dynamodb = make("dynamodb")  # the merchant registry


def load_environment(aws: Aws, environment: str, region: str) -> Environment:
    names = {PARAMETER.format(name=n, environment=environment): n for n in PARAMETERS}
    found = aws.ssm.get_parameters(Names=sorted(names))
    values = {names[p["Name"]]: p["Value"] for p in found.get("Parameters", [])}
    missing = sorted(set(names) - {PARAMETER.format(name=n, environment=environment) for n in values})
    if missing:
        raise MerchantError(f"environment {environment} is not deployed in {region} "
                            f"(missing SSM parameter {', '.join(missing)})")
    return Environment(environment, region, values["user-pool-id"], values["token-endpoint"],
                       values["api-id"], values["api-stage"], values["api-url"], values["merchant-registry"])


def available_scopes(aws: Aws, env: Environment) -> list[str]:
    """The scopes of the `payments` resource server, read from the user pool (the authority)."""
    server = aws.cognito.describe_resource_server(UserPoolId=env.user_pool_id, Identifier=RESOURCE_SERVER)
    return [f"{RESOURCE_SERVER}/{s['ScopeName']}" for s in server["ResourceServer"].get("Scopes", [])]


# --------------------------------------------------------------------------- lookups


@dataclass
class Parts:
    """What exists of one merchant."""

    client_ids: list[str] = field(default_factory=list)
    api_key_ids: list[str] = field(default_factory=list)
    usage_plans: list[dict[str, Any]] = field(default_factory=list)
    secret_arn: str | None = None

    def names(self) -> list[str]:
        return [label for label, present in (
            ("app client", self.client_ids), ("API key", self.api_key_ids),
            ("usage plan", self.usage_plans), ("secret", self.secret_arn)) if present]


def _all(client: Any, operation: str, items: str, **kwargs: Any) -> Iterator[dict[str, Any]]:
    """Every item of a listing, through botocore's paginator for ``operation``."""
    for page in client.get_paginator(operation).paginate(**kwargs):
        yield from page.get(items, [])


def app_clients(aws: Aws, env: Environment) -> list[dict[str, Any]]:
    return list(_all(aws.cognito, "list_user_pool_clients", "UserPoolClients",
                     UserPoolId=env.user_pool_id, MaxResults=60))


def find(aws: Aws, env: Environment, merchant: str) -> Parts:
    name = resource_name(merchant, env.name)
    parts = Parts()
    parts.client_ids = [c["ClientId"] for c in app_clients(aws, env) if c.get("ClientName") == name]
    parts.api_key_ids = [k["id"] for k in _all(aws.apigw, "get_api_keys", "items", nameQuery=name,
                                               includeValues=False)
                         if k.get("name") == name]
    parts.usage_plans = [p for p in _all(aws.apigw, "get_usage_plans", "items") if p.get("name") == name]
    try:
        parts.secret_arn = aws.secrets.describe_secret(SecretId=secret_name(merchant, env.name))["ARN"]
    except aws.secrets.exceptions.ResourceNotFoundException:
        parts.secret_arn = None
    return parts


# --------------------------------------------------------------------------- add / remove / list


@dataclass(frozen=True)
class Onboarded:
    """What `add` reports: identifiers and where the secret is; no secret."""

    merchant: str
    environment: str
    client_id: str
    token_endpoint: str
    api_url: str
    scopes: list[str]
    api_key_id: str
    usage_plan_id: str
    rate_limit: float
    burst_limit: int
    quota_per_day: int
    token_minutes: int
    secret_name: str
    fetch_secret: str


def fetch_command(env: Environment, merchant: str) -> str:
    return (f"aws secretsmanager get-secret-value --region {env.region} "
            f"--secret-id {secret_name(merchant, env.name)} --query SecretString --output text")


def create_access(aws: Aws, env: Environment, merchant: str, scopes: Sequence[str], limits: PlanLimits,
                  undo: list[Callable[[], Any]], key_description: str,
                  key_value: str | None = None) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
    """The merchant's app client, API key (``key_value``: imported, else generated) and usage plan on
    the environment's stage; each creation's undo appended to ``undo``. (app client, key, plan)."""
    name, tag_map = resource_name(merchant, env.name), tags(merchant, env.name)
    client = aws.cognito.create_user_pool_client(
        UserPoolId=env.user_pool_id, ClientName=name, GenerateSecret=True,
        # Machine-to-machine only: no user sign-in flow, no hosted UI redirect.
        AllowedOAuthFlowsUserPoolClient=True, AllowedOAuthFlows=["client_credentials"],
        AllowedOAuthScopes=list(scopes), ExplicitAuthFlows=["ALLOW_REFRESH_TOKEN_AUTH"],
        AccessTokenValidity=limits.token_minutes, TokenValidityUnits={"AccessToken": "minutes"},
        PreventUserExistenceErrors="ENABLED", EnableTokenRevocation=True,
    )["UserPoolClient"]
    undo.append(lambda: aws.cognito.delete_user_pool_client(UserPoolId=env.user_pool_id, ClientId=client["ClientId"]))
    key = aws.apigw.create_api_key(name=name, enabled=True, tags=tag_map, description=key_description,
                                   **({"value": key_value} if key_value else {}))
    undo.append(lambda: aws.apigw.delete_api_key(apiKey=key["id"]))
    plan = aws.apigw.create_usage_plan(
        name=name, tags=tag_map, description=f"Merchant {merchant}",
        apiStages=[{"apiId": env.api_id, "stage": env.api_stage}],
        throttle={"rateLimit": limits.rate_limit, "burstLimit": limits.burst_limit},
        quota={"limit": limits.quota_per_day, "period": "DAY"},
    )
    undo.append(lambda: delete_usage_plan(aws, plan))
    aws.apigw.create_usage_plan_key(usagePlanId=plan["id"], keyId=key["id"], keyType="API_KEY")
    return client, key, plan


def add(aws: Aws, env: Environment, merchant: str, scopes: Sequence[str] | None, limits: PlanLimits,
        synthetic: bool = False) -> Onboarded:
    """Onboard ``merchant``; ``synthetic``: the platform's canary, so marked in the registry."""
    check_name(merchant)
    allowed = available_scopes(aws, env)
    scopes = list(scopes or allowed)
    unknown = sorted(set(scopes) - set(allowed))
    if unknown or not scopes:
        raise MerchantError(f"unknown scope {', '.join(unknown) or '(none given)'}; "
                            f"the user pool offers {', '.join(allowed)}")
    existing = find(aws, env, merchant).names()
    if existing:
        raise MerchantError(f"merchant {merchant} exists already in {env.name} ({', '.join(existing)}); "
                            f"`make merchant-remove NAME={merchant} ENVIRONMENT_SUFFIX={env.name}` first")
    tag_map = tags(merchant, env.name)
    undo: list[Callable[[], Any]] = []
    try:
        client, key, plan = create_access(
            aws, env, merchant, scopes, limits, undo,
            key_description=f"Merchant {merchant}: usage plan throttle and quota (value in {secret_name(merchant, env.name)})")
        client_id = client["ClientId"]
        # Before the secret: the functions serve this client only with this key, from the start.
        registry.record(aws.dynamodb, env.registry_table, client_id=client_id, merchant=merchant,
                        api_key_id=key["id"], usage_plan_id=plan["id"], synthetic=synthetic)
        undo.append(lambda: registry.delete_new(aws.dynamodb, env.registry_table, client_id))
        aws.secrets.create_secret(
            Name=secret_name(merchant, env.name), KmsKeyId=key_alias(env.name),
            Description=f"OAuth2 client secret and API key of merchant {merchant} ({env.name})",
            Tags=[{"Key": k, "Value": v} for k, v in tag_map.items()],
            SecretString=json.dumps({
                "client_id": client_id, "client_secret": client["ClientSecret"], "api_key": key["value"],
                "token_endpoint": env.token_endpoint, "scopes": scopes, "api_url": env.api_url,
            }),
        )
    except BaseException:
        for step in reversed(undo):
            try:
                step()
            except Exception as err:  # keep undoing; say what is left
                print(f"warning: could not undo a step of the failed add: {type(err).__name__}", file=sys.stderr)
        raise
    return Onboarded(
        merchant=merchant, environment=env.name, client_id=client_id, token_endpoint=env.token_endpoint,
        api_url=env.api_url, scopes=scopes, api_key_id=key["id"], usage_plan_id=plan["id"],
        rate_limit=limits.rate_limit, burst_limit=limits.burst_limit, quota_per_day=limits.quota_per_day,
        token_minutes=limits.token_minutes, secret_name=secret_name(merchant, env.name),
        fetch_secret=fetch_command(env, merchant))


def delete_usage_plan(aws: Aws, plan: dict[str, Any]) -> None:
    """API Gateway deletes a plan only once no API stage is attached to it."""
    stages = [f"{s['apiId']}:{s['stage']}" for s in plan.get("apiStages", [])]
    if stages:
        aws.apigw.update_usage_plan(usagePlanId=plan["id"], patchOperations=[
            {"op": "remove", "path": "/apiStages", "value": stage} for stage in stages])
    aws.apigw.delete_usage_plan(usagePlanId=plan["id"])


def cut_off(aws: Aws, env: Environment, parts: Parts, where: str = "") -> list[str]:
    """Delete a merchant's API key (first: without it every call is refused, whatever access token
    the caller holds), usage plan and app client; ``where``: appended to each line (the region)."""
    done = []
    for plan in parts.usage_plans:
        for key_id in parts.api_key_ids:
            try:
                aws.apigw.delete_usage_plan_key(usagePlanId=plan["id"], keyId=key_id)
            except aws.apigw.exceptions.NotFoundException:
                pass
    for key_id in parts.api_key_ids:
        aws.apigw.delete_api_key(apiKey=key_id)
        done.append(f"API key {key_id} deleted{where}")
    for plan in parts.usage_plans:
        delete_usage_plan(aws, plan)
        done.append(f"usage plan {plan['id']} deleted{where}")
    for client_id in parts.client_ids:
        aws.cognito.delete_user_pool_client(UserPoolId=env.user_pool_id, ClientId=client_id)
        done.append(f"app client {client_id} deleted{where} (no new tokens)")
    return done


def remove(aws: Aws, env: Environment, merchant: str) -> list[str]:
    """Delete every part of the merchant that exists; the lines say what went."""
    check_name(merchant)
    parts = find(aws, env, merchant)
    live = [r for r in registry.rows_of(aws.dynamodb, env.registry_table, merchant)
            if r.get("status") != registry.REMOVED]
    if not parts.names() and not live:
        raise MerchantError(f"unknown merchant {merchant} in {env.name} (nothing named "
                            f"{resource_name(merchant, env.name)} or {secret_name(merchant, env.name)})")
    done = []
    # First the registry: the functions refuse the merchant within their cache time, whatever key.
    # The item stays (marked removed): it records which client and key the merchant held.
    for row in live:
        registry.set_status(aws.dynamodb, env.registry_table, row, registry.REMOVED, row["status"])
        done.append(f"registry: client {row['client_id']} marked removed")
    done += cut_off(aws, env, parts)
    if parts.secret_arn:
        # The credentials it holds are dead now; no recovery window, so the name can be reused.
        aws.secrets.delete_secret(SecretId=parts.secret_arn, ForceDeleteWithoutRecovery=True)
        done.append(f"secret {secret_name(merchant, env.name)} deleted")
    return done


# The synthetic merchant's usage plan: a run makes four API calls and at most one retry each; at the
# fastest schedule the settings allow (every minute) that is 4 x 2 x 1,440 = 11,520 a day. The quota
# is above that and far below a merchant's, so only a runaway canary meets it.
CANARY_LIMITS = PlanLimits(rate_limit=1, burst_limit=5, quota_per_day=15_000, token_minutes=60)


def onboard_canary(aws: Aws, env: Environment, merchant: str) -> tuple[Onboarded | None, str]:
    """The environment's synthetic merchant (modules/canary.py): onboarded as ``synthetic`` with every
    scope and CANARY_LIMITS unless it is already. Idempotent, so a deploy job can run it every time;
    a merchant of that name that is not synthetic is refused (never converted)."""
    live = [r for r in registry.rows_of(aws.dynamodb, env.registry_table, check_name(merchant))
            if r.get("status") != registry.REMOVED]
    if live:
        row = live[0]
        if row.get("synthetic") != "true":
            raise MerchantError(f"merchant {merchant} in {env.name} is a real merchant, not the synthetic one: "
                                "set canary_merchant to another name")
        if row.get("status") != registry.ACTIVE:
            raise MerchantError(f"the synthetic merchant {merchant} is {row['status']} in {env.name}: "
                                f"`make merchant-resume NAME={merchant}` lets the canary pay again")
        return None, f"synthetic merchant {merchant} already onboarded in {env.name} (client {row['client_id']})"
    result = add(aws, env, merchant, None, CANARY_LIMITS, synthetic=True)
    return result, (f"synthetic merchant {merchant} onboarded in {env.name} (client {result.client_id}); "
                    f"the canary reads {result.secret_name} on its next run")


# Registry status changes: action -> (to, from, time stamped, verb, effect on calls).
TRANSITIONS = {
    "suspend": (registry.SUSPENDED, registry.ACTIVE, "suspended_at", "suspended", "calls refused"),
    "resume": (registry.ACTIVE, registry.SUSPENDED, "resumed_at", "resumed", "calls served again"),
}


def change_status(aws: Aws, env: Environment, merchant: str, action: str) -> list[str]:
    """``suspend`` (active -> suspended: every call refused with 403 MERCHANT_SUSPENDED) or ``resume``
    (back to active), effective within the functions' registry cache time. Nothing is deleted
    (credentials, key, plan and data stay); asking for the status the merchant has changes nothing."""
    to, expected, stamp, verb, effect = TRANSITIONS[action]
    row = registry.current(aws.dynamodb, env.registry_table, check_name(merchant), env.name)
    if row["status"] == to:
        return [f"client {row['client_id']} already {to} (since {row.get(stamp) or row.get('created_at')}); "
                "nothing changed"]
    row = registry.set_status(aws.dynamodb, env.registry_table, row, to, expected)
    return [f"client {row['client_id']} {verb} at {row[stamp]} ({effect} within {REGISTRY_CACHE_SECONDS} s)"]


def register(aws: Aws, env: Environment, merchant: str) -> list[str]:
    """Record a merchant onboarded before the registry existed: its one app client and API key."""
    parts = find(aws, env, check_name(merchant))
    if len(parts.client_ids) != 1 or len(parts.api_key_ids) != 1:
        raise MerchantError(f"merchant {merchant} in {env.name} has {len(parts.client_ids)} app client(s) and "
                            f"{len(parts.api_key_ids)} API key(s) named {resource_name(merchant, env.name)}; "
                            "register needs exactly one of each")
    row = registry.record(aws.dynamodb, env.registry_table, client_id=parts.client_ids[0], merchant=merchant,
                          api_key_id=parts.api_key_ids[0],
                          usage_plan_id=parts.usage_plans[0]["id"] if parts.usage_plans else None)
    return [f"client {row['client_id']} recorded active with API key {row['api_key_id']}"]


def list_merchants(aws: Aws, env: Environment) -> list[dict[str, Any]]:
    prefix, suffix = PREFIX, f"-{env.name}"
    plans = {p["name"]: p for p in _all(aws.apigw, "get_usage_plans", "items")}
    registered = {i["client_id"]["S"]: i for i in _all(
        aws.dynamodb, "scan", "Items", TableName=env.registry_table, ConsistentRead=True)}
    rows = []
    for client in app_clients(aws, env):
        name = client.get("ClientName") or ""
        if not (name.startswith(prefix) and name.endswith(suffix)):
            continue
        # DescribeUserPoolClient returns the secret too: only the scopes are taken from it.
        described = aws.cognito.describe_user_pool_client(UserPoolId=env.user_pool_id, ClientId=client["ClientId"])
        plan = plans.get(name, {})
        rows.append({"merchant": name[len(prefix):-len(suffix)], "client_id": client["ClientId"],
                     "scopes": described["UserPoolClient"].get("AllowedOAuthScopes", []),
                     "usage_plan_id": plan.get("id"), "throttle": plan.get("throttle"),
                     "quota": plan.get("quota"),
                     "status": registered.get(client["ClientId"], {}).get("status", {}).get("S", "unregistered"),
                     "synthetic": registered.get(client["ClientId"], {}).get("synthetic", {}).get("S") == "true"})
    return sorted(rows, key=lambda r: r["merchant"])
