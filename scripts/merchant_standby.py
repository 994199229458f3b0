"""A merchant's credentials in the disaster-recovery region's standby (issue 21, identity).

Cognito user pools do not replicate, so the standby (``payments-<env>-<dr_region>``) has its own pool
and a merchant needs an app client there too. The decision (docs/operators/disaster-recovery.md
"Identity"): a second app client per merchant in the standby's pool, **keyed by the same merchant
id** (its registry item's ``merchant_key`` is the primary client's id: the ledger, the idempotency
records and the IAM leading keys are the same in both regions, so a retry through either region
finds the other's payment), behind an API key with **the same value** in the standby's API (API
Gateway imports a key value), and the merchant's one secret holding both regions' client ids and
secrets, **replicated** into the DR region (Secrets Manager replica: readable there while the
primary is down). The merchant keeps the credentials it was given: the reference client picks the
region's pair by the token endpoint that answers.

``make merchant-add`` and ``make canary-onboard`` do this when the standby is deployed;
``make merchant-standby NAME=...`` does it for a merchant onboarded before (idempotent); suspend,
resume and remove act on every client of the merchant, in both regions.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Sequence

from scripts import merchant_registry as registry
from scripts.merchant_resources import (
    Aws, Environment, MerchantError, PlanLimits, create_access, cut_off, find, key_alias, load_environment,
    secret_name,
)


@dataclass(frozen=True)
class Standby:
    """The standby's clients and environment (its SSM parameters, in the DR region)."""

    aws: Aws
    env: Environment


def standby_of(settings: Any, endpoint_url: str | None) -> Standby | None:
    """The environment's standby when it has a DR region and the standby stack is deployed; None
    otherwise (a standby applied later: ``make merchant-standby`` then adds each merchant)."""
    if not settings.dr_region:
        return None
    aws = Aws(settings.dr_region, endpoint_url)
    try:
        return Standby(aws, load_environment(aws, settings.environment, settings.dr_region))
    except MerchantError:
        return None


@dataclass(frozen=True)
class StandbyClient:
    """What the standby holds of a merchant: identifiers, and the client secret (for the merchant's
    secret only, never printed)."""

    client_id: str
    client_secret: str
    api_key_id: str
    usage_plan_id: str


def add_client(standby: Standby, merchant: str, primary_client_id: str, scopes: Sequence[str],
               limits: PlanLimits, api_key_value: str, synthetic: bool) -> StandbyClient:
    """The merchant's app client, API key (same value) and usage plan in the standby, and its
    registry item keyed by the primary client's id. All or nothing."""
    aws, env = standby.aws, standby.env
    existing = find(aws, env, merchant).names()
    if existing:
        raise MerchantError(f"merchant {merchant} has a standby part in {env.region} already ({', '.join(existing)})")
    undo: list[Any] = []
    try:
        client, key, plan = create_access(
            aws, env, merchant, scopes, limits, undo, key_value=api_key_value,
            key_description=f"Merchant {merchant} in {env.region} (the primary's key value)")
        registry.record(aws.dynamodb, env.registry_table, client_id=client["ClientId"], merchant=merchant,
                        api_key_id=key["id"], usage_plan_id=plan["id"], synthetic=synthetic,
                        merchant_key=primary_client_id)
    except BaseException:
        for step in reversed(undo):
            try:
                step()
            except Exception:  # keep undoing
                pass
        raise
    return StandbyClient(client["ClientId"], client["ClientSecret"], key["id"], plan["id"])


def credentials_with_standby(credentials: dict[str, Any], standby: Standby, client: StandbyClient) -> dict[str, Any]:
    """The merchant's secret with the standby's pair under ``regions.<dr_region>`` (the API key is
    the same value)."""
    return {**credentials, "regions": {**credentials.get("regions", {}), standby.env.region: {
        "client_id": client.client_id, "client_secret": client.client_secret,
        "token_endpoint": standby.env.token_endpoint, "api_url": standby.env.api_url}}}


def store(primary_aws: Aws, environment: str, merchant: str, credentials: dict[str, Any], standby: Standby) -> None:
    """Write the merchant's secret with both regions and make sure it has a replica in the DR
    region, under the replica of the platform key (modules/disaster_recovery.py aliases it)."""
    name = secret_name(merchant, environment)
    primary_aws.secrets.put_secret_value(SecretId=name, SecretString=json.dumps(credentials))
    described = primary_aws.secrets.describe_secret(SecretId=name)
    if standby.env.region not in {r.get("Region") for r in described.get("ReplicationStatus", [])}:
        primary_aws.secrets.replicate_secret_to_regions(
            SecretId=name, AddReplicaRegions=[{"Region": standby.env.region, "KmsKeyId": key_alias(environment)}])


def add_to_standby(primary_aws: Aws, primary_env: Environment, standby: Standby, merchant: str,
                   limits: PlanLimits) -> tuple[StandbyClient | None, str]:
    """Give an onboarded merchant its standby client (``make merchant-standby``); nothing when it has
    one already."""
    rows = [r for r in registry.rows_of(primary_aws.dynamodb, primary_env.registry_table, merchant)
            if r.get("status") != registry.REMOVED and not r.get("merchant_key")]
    if not rows:
        raise MerchantError(f"merchant {merchant} is not onboarded in {primary_env.name} (registry)")
    primary = rows[0]
    if find(standby.aws, standby.env, merchant).client_ids:
        return None, f"merchant {merchant} has its client in {standby.env.region} already"
    credentials = json.loads(primary_aws.secrets.get_secret_value(
        SecretId=secret_name(merchant, primary_env.name))["SecretString"])
    client = add_client(standby, merchant, primary["client_id"], credentials["scopes"], limits,
                        credentials["api_key"], synthetic=primary.get("synthetic") == "true")
    store(primary_aws, primary_env.name, merchant, credentials_with_standby(credentials, standby, client), standby)
    return client, (f"merchant {merchant} has client {client.client_id} in {standby.env.region}, keyed by "
                    f"{primary['client_id']}; its secret holds both regions and is replicated there")


def live_rows(standby: Standby, merchant: str) -> list[dict[str, str]]:
    """The merchant's standby items as the DR region's replica of the registry has them."""
    return [r for r in registry.rows_of(standby.aws.dynamodb, standby.env.registry_table, merchant)
            if r.get("status") != registry.REMOVED and r.get("merchant_key")]


def remove_from_standby(standby: Standby, merchant: str) -> list[str]:
    """Mark the standby's items removed, then delete its key, plan and client (the secret's replica
    goes with the primary secret)."""
    aws, env = standby.aws, standby.env
    done = []
    for row in live_rows(standby, merchant):
        registry.set_status(aws.dynamodb, env.registry_table, row, registry.REMOVED, row["status"])
        done.append(f"registry ({env.region}): client {row['client_id']} marked removed")
    return done + cut_off(aws, env, find(aws, env, merchant), f" in {env.region}")


def change_status(standby: Standby, merchant: str, action: str) -> list[str]:
    """Suspend or resume the merchant's standby client with its primary one (the DR region's replica)."""
    from scripts.merchant_resources import TRANSITIONS  # noqa: PLC0415
    to, expected, stamp, verb, _ = TRANSITIONS[action]
    done = []
    for row in live_rows(standby, merchant):
        if row["status"] == to:
            done.append(f"client {row['client_id']} ({standby.env.region}) already {to}")
            continue
        changed = registry.set_status(standby.aws.dynamodb, standby.env.registry_table, row, to, expected)
        done.append(f"client {row['client_id']} ({standby.env.region}) {verb} at {changed[stamp]}")
    return done


def unreplicate(primary_aws: Aws, environment: str, merchant: str) -> list[str]:
    """Drop the secret's replicas (Secrets Manager deletes a replicated secret only after that)."""
    name = secret_name(merchant, environment)
    try:
        described = primary_aws.secrets.describe_secret(SecretId=name)
    except primary_aws.secrets.exceptions.ResourceNotFoundException:
        return []
    regions = [r["Region"] for r in described.get("ReplicationStatus", [])]
    if regions:
        primary_aws.secrets.remove_regions_from_replication(SecretId=name, RemoveReplicaRegions=regions)
    return [f"secret replica in {region} deleted" for region in regions]
