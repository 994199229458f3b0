"""Rehearsal mode (PAYMENTS_AWS_ENDPOINT set): what the local AWS endpoint cannot emulate.

Owned by the rehearsal; production synth never calls into this module (PaymentStack calls
``apply_rehearsal_overrides`` only when ``settings.rehearsal``), so nothing here can reach a real
account. Every deviation of the rehearsed stack from the production one is one entry of
``EXCLUSIONS``, keyed by resource type (``aws_x``) or attribute (``aws_x.attr``), never by a
resource name, so resources added later are covered by the same rule. See docs/maintainers/rehearsal.md.

Kinds:
  ``ignore_changes``   ``aws_x.attr``: moto accepts the attribute but does not store/return it, so the
                       re-plan after apply shows a diff; the rehearsal adds ``lifecycle.ignore_changes``.
  ``not_emulated``     ``aws_x``: moto cannot create it at all; the rehearsal sets ``count = 0``
                       (nothing may reference such a resource's attributes directly).
  ``keep_on_destroy``  ``aws_x``: created and planned, but moto cannot delete it; scripts/rehearse.py
                       removes it from the state before ``terraform destroy`` (the endpoint is
                       thrown away afterwards).
  ``laid_out``         ``aws_x``: moto cannot create it, and no rehearsal applies it: the DR
                       rehearsal lays out with boto3 what it makes (scripts/rehearsal/dr_layout.py).
                       No override: the stack that has it is not applied against the endpoint.

This module is pure Python at import time (scripts/rehearse.py reads EXCLUSIONS without jsii).
"""

from __future__ import annotations

from typing import Any, NamedTuple

KINDS = ("ignore_changes", "not_emulated", "keep_on_destroy", "laid_out")


class Exclusion(NamedTuple):
    """One thing the rehearsal does not rehearse: target, why, and the exact error seen."""

    target: str  # "aws_type" or "aws_type.attribute"
    reason: str
    error: str
    kind: str = "ignore_changes"

    @property
    def resource_type(self) -> str:
        return self.target.split(".", 1)[0]

    @property
    def attribute(self) -> str | None:
        return self.target.split(".", 1)[1] if "." in self.target else None


# One list, printed in every rehearsal report. Measured against moto 5.2.5, hashicorp/aws 5.100.0,
# Terraform 1.11.4. An entry for a type the stack does not have is inert.
EXCLUSIONS: list[Exclusion] = [
    Exclusion(
        "aws_s3_bucket_policy",
        "moto enforces bucket policies on object requests but evaluates no condition operator except "
        "StringEquals (moto/iam/policy_conditions.py), so the TLS-only Deny "
        "(Bool aws:SecureTransport=false) denies every object request, the S3 backend's included",
        'S3: HeadObject, https response error StatusCode: 403 ... api error Forbidden: Forbidden '
        '(terraform init of the S3 backend after the state stack applied its policy)',
        kind="not_emulated"),
    Exclusion(
        "aws_cloudwatch_composite_alarm",
        "moto has no PutCompositeAlarm (its metric alarms are rehearsed)",
        "creating CloudWatch Composite Alarm: operation error CloudWatch: PutCompositeAlarm, exceeded "
        "maximum number of attempts, 3, https response error StatusCode: 500 ... error while "
        "deserializing xml error response",
        kind="not_emulated"),
    Exclusion(
        "aws_backup_selection",
        "moto's AWS Backup has plans and vaults (rehearsed) but no CreateBackupSelection",
        "creating Backup Selection (payment-aurora-dev): operation error Backup: CreateBackupSelection, "
        "exceeded maximum number of attempts, 3, https response error StatusCode: 500, ... deserialization "
        "failed (moto: NotImplementedError: The create_backup_selection action has not been implemented)",
        kind="not_emulated"),
    # The migration (issue 15; on in the rehearsal): what moto cannot create of it.
    *(Exclusion(
        f"aws_dms_{kind}",
        f"moto's DMS returns {field} as an ISO string where the API has a JSON number "
        "(moto/dms/models.py to_dict), which the provider's SDK refuses; the task references the "
        "instance as one(instance[*].arn) so both can be left out",
        f"creating DMS Replication {title} (payment-{name}-dev): operation error Database Migration "
        f"Service: Create{api}, https response error StatusCode: 200, ... deserialization failed, "
        "failed to decode response body, expected TStamp to be a JSON Number, got string instead",
        kind="not_emulated")
      for kind, field, title, name, api in (
          ("replication_instance", "InstanceCreateTime", "Instance", "dms", "ReplicationInstance"),
          ("replication_task", "ReplicationTaskCreationDate", "Task", "migration", "ReplicationTask"))),
    *(Exclusion(
        rtype, f"moto implements no {api}",
        f"{error}: operation error EC2: {api}, exceeded maximum number of attempts, 3, https response "
        f"error StatusCode: 500 (moto: NotImplementedError: The {action} action has not been implemented)",
        kind="not_emulated")
      for rtype, api, action, error in (
          ("aws_vpn_connection_route", "CreateVpnConnectionRoute", "create_vpn_connection_route",
           "creating EC2 VPN Connection Route (192.168.0.0/16:vpn-...)"),
          ("aws_vpn_gateway_route_propagation", "EnableVgwRoutePropagation", "enable_vgw_route_propagation",
           "enabling Route Table (rtb-...) VPN Gateway (vgw-...) route propagation"))),
    Exclusion(
        "aws_dms_replication_subnet_group.subnet_ids",
        "moto's DescribeReplicationSubnetGroups returns one fixed subnet (subnet-12345, "
        "moto/dms/models.py), not the subnets it was given",
        're-plan: ~ subnet_ids = [ - "subnet-12345", + "subnet-72d1...", + "subnet-8459...", + "subnet-9435..." ]'),
    Exclusion(
        "aws_dms_replication_subnet_group.tags_all",
        "moto does not keep the tags of a DMS replication subnet group (the provider's default tags)",
        're-plan: ~ tags_all = { + "Author" = "unknown", + "Environment" = "dev", ... }'),
    *(Exclusion(
        f"aws_route53_health_check.{attribute}",
        "moto's GetHealthCheck answers a CLOUDWATCH_METRIC check with a request interval of 30, "
        "port 80 and without InsufficientDataHealthStatus",
        f"re-plan: {change}")
      for attribute, change in (
          ("request_interval", "- request_interval = 30 -> null # forces replacement"),
          ("insufficient_data_health_status", '+ insufficient_data_health_status = "Healthy"'),
          ("port", "- port = 80 -> null"))),
    *(Exclusion(
        f"aws_vpn_connection.{attribute}",
        f"moto's CreateVpnConnection ignores {option} and returns the default",
        f"re-plan: {change}")
      for attribute, option, change in (
          ("preshared_key_storage", "PreSharedKeyStorage",
           '~ preshared_key_storage = "Standard" -> "SecretsManager"'),
          ("static_routes_only", "Options.StaticRoutesOnly",
           "~ static_routes_only = false -> true # forces replacement"))),
    # Re-plan diffs: moto accepts these attributes on create but does not return them on read.
    *(Exclusion(
        f"{rtype}.tags_all",
        "moto's AWS Backup ignores the tags given on create (BackupVaultTags / BackupPlanTags) and "
        "ListTags returns none, so the provider's default_tags show as missing",
        f're-plan: {rtype} ~ tags_all = {{ + "Author" = "unknown", + "Environment" = "dev", ... }}')
      for rtype in ("aws_backup_plan", "aws_backup_vault")),
    Exclusion(
        "aws_kms_key.rotation_period_in_days",
        "moto's GetKeyRotationStatus returns no RotationPeriodInDays",
        "re-plan: ~ rotation_period_in_days = 0 -> 365"),
    Exclusion(
        "aws_rds_cluster.scaling_configuration",
        "moto returns a Serverless v1 ScalingConfigurationInfo for a provisioned (Serverless v2) "
        "cluster; serverlessv2_scaling_configuration round-trips and is rehearsed",
        "re-plan: ~ scaling_configuration { + auto_pause = true, + max_capacity = 16, "
        "+ min_capacity = 1, ... }"),
    *(Exclusion(
        f"aws_rds_cluster_instance.{attribute}",
        "moto's DescribeDBInstances does not return Performance Insights settings",
        f"re-plan: {change}")
      for attribute, change in (
          ("performance_insights_enabled", "~ performance_insights_enabled = false -> true"),
          ("performance_insights_kms_key_id", "+ performance_insights_kms_key_id = \"arn:aws:kms:...\""),
          ("performance_insights_retention_period", "~ performance_insights_retention_period = 0 -> 7"),
      )),
    *(Exclusion(
        f"aws_vpc_security_group_{direction}_rule.description",
        "moto keeps a rule's description only on CIDR ranges, not on rules that reference a "
        "security group (referenced_security_group_id)",
        f"re-plan: + description = \"{text}\"")
      for direction, text in (("egress", "PostgreSQL to Aurora"),
                              ("ingress", "PostgreSQL from payment Lambdas"))),
    Exclusion(
        "aws_lambda_event_source_mapping.function_name",
        "moto resolves an alias-qualified function ARN to the version the alias points at and "
        "returns that version's ARN",
        're-plan: ~ function_name = "arn:...:function:payment-audit-writer-dev:1" -> '
        '"arn:...:function:payment-audit-writer-dev:live"'),
    Exclusion(
        "aws_codedeploy_deployment_group.alarm_configuration",
        "moto's GetDeploymentGroup does not return alarmConfiguration (and moto cannot update a "
        "deployment group, so the diff could not even be applied)",
        're-plan: + alarm_configuration { + alarms = ["payment-api-5xx-alarm-dev", ...], '
        '+ enabled = true }'),
    Exclusion(
        "aws_codedeploy_deployment_group.load_balancer_info",
        "moto's GetDeploymentGroup returns an empty loadBalancerInfo for a Lambda deployment group",
        're-plan: - load_balancer_info {}'),
    # Created and re-planned, but moto cannot delete them: forgotten before `terraform destroy`.
    Exclusion(
        "aws_codedeploy_deployment_group",
        "moto implements no DeleteDeploymentGroup (nor UpdateDeploymentGroup)",
        "DeleteDeploymentGroup: StatusCode 500 (moto: NotImplementedError: The "
        "delete_deployment_group action has not been implemented)",
        kind="keep_on_destroy"),
    Exclusion(
        "aws_secretsmanager_secret_rotation",
        "moto's CancelRotateSecret rejects a secret whose rotation has no Lambda ARN, as for the "
        "RDS-managed master user secret",
        "deleting Secret Manager Secret Rotation (arn:...:secret:rds!cluster-...): operation error "
        "Secrets Manager: CancelRotateSecret, https response error StatusCode: 400, "
        "InvalidRequestException: You tried to enable rotation on a secret that doesn't already have "
        "a Lambda function ARN configured",
        kind="keep_on_destroy"),
    Exclusion(
        "aws_s3_bucket_object_lock_configuration",
        "removing the default retention is a PutObjectLockConfiguration without a rule, which moto "
        "refuses on any bucket holding objects (AWS allows it); the bucket itself is then emptied "
        "with BypassGovernanceRetention by force_destroy and deleted, which is rehearsed",
        "deleting S3 Bucket Object Lock Configuration (payment-audit-logs-dev-123456789012): operation "
        "error S3: PutObjectLockConfiguration, https response error StatusCode: 400, ... api error "
        "InvalidBucket: Bucket needs to be empty",
        kind="keep_on_destroy"),
    Exclusion(
        "aws_backup_vault",
        "force_destroy lists the vault's recovery points first, and moto has no "
        "ListRecoveryPointsByBackupVault",
        "listing Backup Vault (payment-backup-dev) recovery points: operation error Backup: "
        "ListRecoveryPointsByBackupVault, https response error StatusCode: 404, ... deserialization failed",
        kind="keep_on_destroy"),
    Exclusion(
        "aws_cognito_resource_server",
        "moto implements no DeleteResourceServer (deleting the user pool removes it with the pool)",
        "deleting Cognito Resource Server (us-east-1_...|payments): operation error Cognito Identity "
        "Provider: DeleteResourceServer, exceeded maximum number of attempts, 3, https response error "
        "StatusCode: 500 (moto: NotImplementedError: The delete_resource_server action has not been "
        "implemented)",
        kind="keep_on_destroy"),
    Exclusion(
        "aws_kms_replica_key",
        "moto's ReplicateKey creates the replica, but the provider then waits for the replica's policy "
        "and tags to match what it set, which moto never reports; the DR rehearsal replicates the keys "
        "with boto3 (ReplicateKey by key id) and gives them the primary's aliases in the DR region",
        "waiting for KMS Replica Key (mrk-...) policy update: timeout while waiting for state to become "
        "'TRUE' (last state: 'FALSE', timeout: 10m0s); the same for the tag update",
        kind="laid_out"),
    Exclusion(
        "aws_dynamodb_table_replica",
        "moto's UpdateTable ignores ReplicaUpdates, so the replica never becomes ACTIVE and the provider "
        "polls DescribeTable every 10 s until its 30-minute create timeout; moto replicates no item "
        "either. The DR rehearsal creates each replica as a table of the same definition in the DR "
        "region and copies the registry's items as the global table would",
        "aws_dynamodb_table_replica.r: Still creating... [4m0s elapsed] (no error within 4 minutes; "
        "DescribeTable answered every 10 s without the replica)",
        kind="laid_out"),
    Exclusion(
        "aws_s3_bucket_replication_configuration",
        "moto does not replicate objects between buckets (no Replication Time Control, no replication "
        "metrics); the DR rehearsal creates the replica bucket (Object Lock) in the DR region empty",
        "no error to measure: moto's put_bucket_replication stores the configuration and nothing reads it "
        "(moto/s3/models.py 2233-2247: no object is ever copied); its replica bucket is encrypted with "
        "the replica key above, so the configuration is not applied either",
        kind="laid_out"),
    Exclusion(
        "aws_codedeploy_app",
        "moto implements no DeleteApplication",
        "DeleteApplication: StatusCode 500 (moto: NotImplementedError: The delete_application "
        "action has not been implemented)",
        kind="keep_on_destroy"),
]


def validate(exclusions: list[Exclusion] = EXCLUSIONS) -> None:
    """Every entry is well formed: a known kind, attribute exactly for ignore_changes."""
    for e in exclusions:
        if e.kind not in KINDS:
            raise ValueError(f"exclusion {e.target}: unknown kind {e.kind!r}")
        if not e.resource_type.startswith("aws_"):
            raise ValueError(f"exclusion {e.target}: not an aws_ resource type")
        if (e.attribute is None) == (e.kind == "ignore_changes"):
            raise ValueError(f"exclusion {e.target}: {e.kind} needs "
                             f"{'an attribute' if e.kind == 'ignore_changes' else 'a resource type'}")
        if not e.reason or not e.error:
            raise ValueError(f"exclusion {e.target}: reason and exact error are required")


def overrides_for(resource_type: str, existing_ignore: list[str] | None = None,
                  exclusions: list[Exclusion] = EXCLUSIONS) -> dict[str, Any]:
    """The overrides (path -> value) rehearsal mode puts on a resource of ``resource_type``."""
    mine = [e for e in exclusions if e.resource_type == resource_type]
    result: dict[str, Any] = {}
    if any(e.kind == "not_emulated" for e in mine):
        result["count"] = 0
    ignored = [e.attribute for e in mine if e.kind == "ignore_changes" and e.attribute]
    if ignored:
        result["lifecycle.ignore_changes"] = sorted(set(existing_ignore or []) | set(ignored))
    return result


def apply_rehearsal_overrides(stack: Any) -> None:
    """Adjust ``stack`` for the local endpoint only; see EXCLUSIONS.

    Registers a cdktf Aspect on the stack (cdktf invokes aspects per stack, at synth time), so
    resources added to the stack after this call are covered too. Idempotent.
    """
    import jsii
    from cdktf import Aspects, IAspect, TerraformResource  # jsii only when a stack is being built

    validate()
    if any(getattr(a, "is_rehearsal_overrides", False) for a in Aspects.of(stack).all):
        return

    @jsii.implements(IAspect)
    class RehearsalOverrides:
        is_rehearsal_overrides = True

        def visit(self, node: Any) -> None:
            if not isinstance(node, TerraformResource):
                return
            lifecycle = node.lifecycle
            existing = getattr(lifecycle, "ignore_changes", None) if lifecycle else None
            existing = list(existing) if isinstance(existing, list) else []
            for path, value in overrides_for(node.terraform_resource_type, existing).items():
                node.add_override(path, value)

    Aspects.of(stack).add(RehearsalOverrides())
