"""What the disaster-recovery rehearsal lays out with boto3 instead of applying (scripts/rehearsal/dr.py).

Two things, each read from the synthesized primary stack so that it follows the code:

* **the primary region as its stack leaves it**, for what the standby and the failover commands
  touch there: the multi-Region keys and their aliases, the four tables, the user pool with the
  ``payments`` scopes and an API stage with the SSM parameters onboarding reads, the alarms
  ``make failover`` reads. The primary stack's own apply is the main rehearsal's (scripts/rehearse.py);
  applying it again here would double the suite's longest test for what that one already proves;
* **what replication makes in the DR region**: the tables' replicas, the replica keys with their
  aliases and the audit trail's replica bucket. The local endpoint replicates nothing, and the
  provider cannot create the replica keys there (``aws_kms_replica_key`` and
  ``aws_dynamodb_table_replica``: modules/rehearsal.py EXCLUSIONS has the exact errors).

Function environments of the primary (for ``make failback``'s verifying payment there) are the
synthesized ones with their references resolved to what was laid out.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Callable

from scripts.rehearsal.accounts import ACCOUNT_ID

REFERENCE = re.compile(r"\$\{(data\.)?([a-z0-9_]+)\.([A-Za-z0-9_-]+)\.([a-z_]+)\}")
SCOPES = ("validate", "fraud-check", "process")


@dataclass
class LaidOut:
    """What was laid out: key ARNs by the stack's resource name, the primary's outputs."""

    keys: dict[str, str] = field(default_factory=dict)           # aws_kms_key name -> ARN (primary)
    outputs: dict[str, str] = field(default_factory=dict)        # the primary's SSM outputs
    alarms: list[str] = field(default_factory=list)              # the primary's alarms laid out


def resources(stack: dict[str, Any], rtype: str) -> dict[str, dict[str, Any]]:
    return stack.get("resource", {}).get(rtype, {})


def table_definition(table: dict[str, Any]) -> dict[str, Any]:
    """``CreateTable`` arguments of a synthesized ``aws_dynamodb_table``."""
    keys = [{"AttributeName": table["hash_key"], "KeyType": "HASH"}]
    if table.get("range_key"):
        keys.append({"AttributeName": table["range_key"], "KeyType": "RANGE"})
    definition: dict[str, Any] = {
        "TableName": table["name"], "BillingMode": "PAY_PER_REQUEST", "KeySchema": keys,
        "AttributeDefinitions": [{"AttributeName": a["name"], "AttributeType": a["type"]} for a in table["attribute"]]}
    indexes = table.get("global_secondary_index") or []
    if indexes:
        definition["GlobalSecondaryIndexes"] = [{
            "IndexName": i["name"], "Projection": {"ProjectionType": i.get("projection_type", "ALL")},
            "KeySchema": [{"AttributeName": i["hash_key"], "KeyType": "HASH"},
                          *([{"AttributeName": i["range_key"], "KeyType": "RANGE"}] if i.get("range_key") else [])]}
            for i in indexes]
    if table.get("stream_enabled"):
        definition["StreamSpecification"] = {"StreamEnabled": True, "StreamViewType": table["stream_view_type"]}
    return definition


def lay_out_primary(boto: Callable[[str, str], Any], stack: dict[str, Any], environment: str, region: str) -> LaidOut:
    """The primary region of ``stack`` (the synthesized ``payments-<env>``), as far as the DR rehearsal needs it."""
    laid = LaidOut()
    kms = boto("kms", region)
    for name, key in resources(stack, "aws_kms_key").items():
        created = kms.create_key(Description=key.get("description", name), MultiRegion=True,
                                 KeySpec=key.get("customer_master_key_spec", "SYMMETRIC_DEFAULT"),
                                 KeyUsage=key.get("key_usage", "ENCRYPT_DECRYPT"))["KeyMetadata"]
        laid.keys[name] = created["Arn"]
    for alias in resources(stack, "aws_kms_alias").values():
        if alias.get("provider"):
            continue  # the DR region's aliases: replicate() lays them out there
        target = REFERENCE.search(alias["target_key_id"])
        kms.create_alias(AliasName=alias["name"], TargetKeyId=laid.keys[target.group(3)])
    ddb = boto("dynamodb", region)
    for table in resources(stack, "aws_dynamodb_table").values():
        ddb.create_table(**table_definition(table))
    # The customer database as a global database's primary, as the stack makes it: the cluster, then
    # the global cluster from it (source_db_cluster_identifier); the standby's secondary joins by name.
    rds = boto("rds", region)
    for global_cluster in resources(stack, "aws_rds_global_cluster").values():
        [cluster] = resources(stack, "aws_rds_cluster").values()
        arn = rds.create_db_cluster(
            DBClusterIdentifier=cluster["cluster_identifier"], Engine=cluster["engine"],
            EngineVersion=cluster["engine_version"], MasterUsername=cluster["master_username"],
            MasterUserPassword="rehearsal-only-not-a-secret",  # the endpoint's, thrown away
            StorageEncrypted=True)["DBCluster"]["DBClusterArn"]
        rds.create_global_cluster(GlobalClusterIdentifier=global_cluster["global_cluster_identifier"],
                                  SourceDBClusterIdentifier=arn)
    cognito, apigw = boto("cognito-idp", region), boto("apigateway", region)
    [pool] = resources(stack, "aws_cognito_user_pool").values()
    pool_id = cognito.create_user_pool(PoolName=pool["name"])["UserPool"]["Id"]
    cognito.create_resource_server(UserPoolId=pool_id, Identifier="payments", Name="Payments API", Scopes=[
        {"ScopeName": s, "ScopeDescription": s} for s in SCOPES])
    [api] = resources(stack, "aws_api_gateway_rest_api").values()
    api_id = apigw.create_rest_api(name=api["name"])["id"]
    root = apigw.get_resources(restApiId=api_id)["items"][0]["id"]
    apigw.put_method(restApiId=api_id, resourceId=root, httpMethod="POST", authorizationType="NONE")
    apigw.put_integration(restApiId=api_id, resourceId=root, httpMethod="POST", type="MOCK")
    [stage] = resources(stack, "aws_api_gateway_stage").values()
    apigw.create_stage(restApiId=api_id, stageName=stage["stage_name"],
                       deploymentId=apigw.create_deployment(restApiId=api_id)["id"])
    registry = next(t["name"] for t in resources(stack, "aws_dynamodb_table").values() if "merchant-registry" in t["name"])
    laid.outputs = {"user-pool-id": pool_id, "api-id": api_id, "api-stage": stage["stage_name"],
                    "merchant-registry": registry,
                    "token-endpoint": f"https://payments-{environment}.auth.{region}.amazoncognito.com/oauth2/token",
                    "api-url": f"https://{api_id}.execute-api.{region}.amazonaws.com/{stage['stage_name']}"}
    for output, value in laid.outputs.items():
        boto("ssm", region).put_parameter(Name=f"/payment/{output}-{environment}", Value=value, Type="String")
    # The alarms the failover commands read in this region (states start OK on the endpoint).
    cloudwatch = boto("cloudwatch", region)
    for alarm in resources(stack, "aws_cloudwatch_metric_alarm").values():
        if alarm["alarm_name"].startswith(("payment-canary-", "payment-api-5xx-")):
            cloudwatch.put_metric_alarm(
                AlarmName=alarm["alarm_name"], Namespace=alarm["namespace"], MetricName=alarm["metric_name"],
                Statistic=alarm.get("statistic", "Sum"), Period=alarm["period"],
                EvaluationPeriods=alarm["evaluation_periods"], Threshold=alarm["threshold"],
                ComparisonOperator=alarm["comparison_operator"])
            laid.alarms.append(alarm["alarm_name"])
    return laid


def replicate(boto: Callable[[str, str], Any], stack: dict[str, Any], laid: LaidOut, region: str,
              dr_region: str, account_id: str = ACCOUNT_ID) -> list[str]:
    """What global tables, multi-Region keys and S3 replication make in ``dr_region``."""
    done = []
    kms = boto("kms", region)
    replicas: dict[str, str] = {}
    for name, arn in laid.keys.items():
        # By key id: moto's ReplicateKey does not resolve an ARN.
        replicas[name] = kms.replicate_key(KeyId=arn.rsplit("/", 1)[1], ReplicaRegion=dr_region)["ReplicaKeyMetadata"]["Arn"]
    replica_of = {f"${{aws_kms_replica_key.{n}.key_id}}": REFERENCE.search(r["primary_key_arn"]).group(3)
                  for n, r in resources(stack, "aws_kms_replica_key").items()}
    for alias in resources(stack, "aws_kms_alias").values():
        if alias.get("provider"):
            dr_kms, target = boto("kms", dr_region), replicas[replica_of[alias["target_key_id"]]]
            try:
                dr_kms.create_alias(AliasName=alias["name"], TargetKeyId=target)
            except dr_kms.exceptions.AlreadyExistsException:  # moto's ReplicateKey copies the aliases
                dr_kms.update_alias(AliasName=alias["name"], TargetKeyId=target)
            done.append(f"replica key {alias['name']}")
    ddb = boto("dynamodb", dr_region)
    for table in resources(stack, "aws_dynamodb_table").values():
        ddb.create_table(**table_definition(table))
        done.append(f"table replica {table['name']}")
    for bucket in resources(stack, "aws_s3_bucket").values():
        if bucket.get("provider") and bucket.get("object_lock_enabled"):
            name = bucket["bucket"].replace("${data.aws_caller_identity.caller.account_id}", account_id)
            boto("s3", dr_region).create_bucket(Bucket=name, ObjectLockEnabledForBucket=True,
                                                CreateBucketConfiguration={"LocationConstraint": dr_region})
            done.append(f"audit replica bucket {name}")
    return done


def primary_function_env(stack: dict[str, Any], short: str, environment: str, laid: LaidOut,
                         account_id: str = ACCOUNT_ID) -> dict[str, str]:
    """The synthesized environment of ``payment-<short>-<env>`` with its references resolved."""
    [function] = [f for f in resources(stack, "aws_lambda_function").values()
                  if f["function_name"] == f"payment-{short}-{environment}"]

    def resolve(match: re.Match[str]) -> str:
        data, rtype, name, attribute = match.groups()
        if data:
            return {"partition": "aws", "account_id": account_id}[attribute]
        if rtype == "aws_kms_key":
            return laid.keys[name]
        body = resources(stack, rtype)[name]
        return str(body.get({"name": "name", "bucket": "bucket"}.get(attribute, attribute), match.group(0)))
    variables = function.get("environment", {}).get("variables", {})
    return {k: REFERENCE.sub(resolve, v).replace("${data.aws_caller_identity.caller.account_id}", account_id)
            for k, v in variables.items()}
