"""Compute: the payment Lambda functions, each with its own least-privilege role, log group and
`live` alias; the shared business-rules layer; the DynamoDB-stream audit writer with its DLQ; and
the merchant-data roles through which fraud-check and process reach merchant data."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Mapping, Sequence

from cdktf import TerraformResourceLifecycle
from constructs import Construct
from cdktf_cdktf_provider_aws.iam_role import IamRole
from cdktf_cdktf_provider_aws.iam_role_policy import IamRolePolicy
from cdktf_cdktf_provider_aws.lambda_alias import LambdaAlias
from cdktf_cdktf_provider_aws.lambda_event_source_mapping import (
    LambdaEventSourceMapping, LambdaEventSourceMappingDestinationConfig,
    LambdaEventSourceMappingDestinationConfigOnFailure, LambdaEventSourceMappingFilterCriteria,
    LambdaEventSourceMappingFilterCriteriaFilter,
)
from cdktf_cdktf_provider_aws.lambda_function import (
    LambdaFunction, LambdaFunctionEnvironment, LambdaFunctionSnapStart,
    LambdaFunctionTracingConfig, LambdaFunctionVpcConfig,
)
from cdktf_cdktf_provider_aws.lambda_layer_version import LambdaLayerVersion
from cdktf_cdktf_provider_aws.lambda_provisioned_concurrency_config import LambdaProvisionedConcurrencyConfig
from cdktf_cdktf_provider_aws.sqs_queue import SqsQueue

from modules.data import TransactionTables
from modules.iam import Statement, assume_role_policy, policy_document
from modules.merchant_access import MerchantDataRole, MerchantRoleProps, own_merchant_keys_only
from modules.packaging import lambda_asset
from modules.logs import encrypted_log_group
from modules.payment_limits import payment_limits_env
from modules.settings import Settings

RUNTIME = "python3.12"
LIVE_ALIAS = "live"
AUDIT_PREFIX = "audit/"
DLQ_RETENTION_SECONDS = 14 * 24 * 3600
# The functions behind the API (provisioned concurrency is for them; the audit writer reads a stream).
PAYMENT_ROUTE_FUNCTIONS = ("validate", "fraud-check", "process")


@dataclass(frozen=True)
class FunctionSpec:
    """What differs between the payment functions."""

    key: str                      # short id: validate, fraud-check, process, audit-writer
    source_dir: str               # folder under lambdas/
    handler: str
    description: str
    statements: Sequence[Statement] = ()
    environment: Mapping[str, str] = field(default_factory=dict)
    timeout: int = 10
    memory_size: int = 256
    # Files shipped beside the handler from elsewhere in the repository (the canary's reference client).
    extra_files: tuple[Path, ...] = ()
    # None: the settings' lambda_reserved_concurrency (the payment functions).
    reserved_concurrency: int | None = None
    # CodeDeploy moves the `live` alias (scripts/release.py); False: Terraform points it at each new
    # version (the canary: no merchant traffic to shift, and no release would ever move it).
    released_by_codedeploy: bool = True


@dataclass(frozen=True)
class FunctionNetwork:
    """Where a function attaches to the VPC: its (private) subnets and its security group."""

    subnet_ids: Sequence[str]
    security_group_id: str


@dataclass(frozen=True)
class FunctionProps:
    settings: Settings
    spec: FunctionSpec
    kms_key_arn: str
    layer_arn: str
    # None: outside the VPC (settings.functions_in_vpc off), on the Lambda service's own network.
    network: FunctionNetwork | None
    partition: str
    account_id: str


def vpc_access_statements(props: FunctionProps) -> list[Statement]:
    """What Lambda does with the execution role to attach the function to its subnets (AWS: "Giving
    Lambda functions access to resources in an Amazon VPC"), instead of AWSLambdaVPCAccessExecutionRole,
    which allows the same on every resource and logs:* writes to every log group. None outside the VPC."""
    if props.network is None:
        return []
    ec2 = f"arn:{props.partition}:ec2:{props.settings.region}:{props.account_id}"
    # Lambda creates (and names) the ENIs itself, so they can only be matched by type.
    enis = f"{ec2}:network-interface/*"
    return [
        Statement(sid="CreateEnisInOwnSubnets", actions=["ec2:CreateNetworkInterface"],
                  resources=[enis, *(f"{ec2}:subnet/{subnet}" for subnet in props.network.subnet_ids),
                             f"{ec2}:security-group/{props.network.security_group_id}"]),
        Statement(sid="ManageOwnEnis", resources=[enis], actions=[
            "ec2:DeleteNetworkInterface", "ec2:AssignPrivateIpAddresses", "ec2:UnassignPrivateIpAddresses"]),
        # EC2 Describe* actions have no resource-level permissions: "*" is the only valid resource.
        Statement(sid="DescribeVpcNetworking",
                  actions=["ec2:DescribeNetworkInterfaces", "ec2:DescribeSubnets"]),
    ]


class PaymentFunction(Construct):
    """One function: role (its own log group, its subnets' ENIs, its own statements), log group, code,
    `live` alias."""

    def __init__(self, scope: Construct, id: str, props: FunctionProps):
        super().__init__(scope, id)
        s, spec = props.settings, props.spec
        self.name = s.name(spec.key)
        # Lambda sends no aws:SourceAccount/SourceArn for the execution role (modules/iam.py); who may
        # hand this role to Lambda is limited by iam:PassRole instead.
        self.role = IamRole(self, "role", name=self.name,
                            assume_role_policy=assume_role_policy("lambda.amazonaws.com", source_account=None))
        self.log_group = encrypted_log_group(self, "logs", f"/aws/lambda/{self.name}", s, props.kms_key_arn)
        statements = [
            # Its own log group only; Terraform creates the group, so no logs:CreateLogGroup.
            Statement(sid="WriteOwnLogs", actions=["logs:CreateLogStream", "logs:PutLogEvents"],
                      resources=[f"{self.log_group.arn}:*"]),
            *vpc_access_statements(props),
            # X-Ray has no resource-level permissions: "*" is the only valid resource.
            Statement(sid="WriteTraces", actions=["xray:PutTraceSegments", "xray:PutTelemetryRecords"]),
            # The function's environment variables are encrypted with the platform key.
            Statement(sid="DecryptEnvironment", actions=["kms:Decrypt"], resources=[props.kms_key_arn],
                      conditions={"StringEquals": {"kms:ViaService": f"lambda.{s.region}.amazonaws.com"}}),
            *spec.statements,
        ]
        policy = IamRolePolicy(self, "policy", role=self.role.id, name=f"{self.name}-least-privilege",
                               policy=policy_document(*statements))
        code = lambda_asset(self, "code", spec.source_dir, spec.extra_files)
        self.function = LambdaFunction(
            self, "function", function_name=self.name, description=spec.description,
            role=self.role.arn, runtime=RUNTIME, handler=spec.handler,
            filename=code.path, source_code_hash=code.asset_hash,
            layers=[props.layer_arn], timeout=spec.timeout,
            memory_size=s.function_memory.get(spec.key, spec.memory_size),
            architectures=[s.lambda_architecture],
            # A snapshot of the initialised function per published version (payments_core.snapstart
            # drops what must not outlive a restore).
            snap_start=LambdaFunctionSnapStart(apply_on="PublishedVersions") if s.lambda_snap_start else None,
            publish=True,
            reserved_concurrent_executions=(s.lambda_reserved_concurrency if spec.reserved_concurrency is None
                                            else spec.reserved_concurrency),
            kms_key_arn=props.kms_key_arn,
            environment=LambdaFunctionEnvironment(variables={
                "ENVIRONMENT": s.environment, "LOG_LEVEL": "INFO",
                **payment_limits_env(s.payment_limits), **spec.environment,
                # The merchants with their own dimension in the business metrics (payments_core.metrics).
                **({"METRICS_MERCHANTS": s.metrics_merchants} if s.metrics_merchants else {})}),
            vpc_config=LambdaFunctionVpcConfig(
                subnet_ids=list(props.network.subnet_ids), security_group_ids=[props.network.security_group_id],
            ) if props.network else None,
            tracing_config=LambdaFunctionTracingConfig(mode="Active"),
            # Creating a VPC function makes Lambda call ec2:CreateNetworkInterface as this role.
            depends_on=[self.log_group, policy],
        )
        self.alias = LambdaAlias(
            self, "live", name=LIVE_ALIAS, function_name=self.function.function_name,
            function_version=self.function.version,
            description="What callers invoke; CodeDeploy moves it (scripts/release.py)",
            # After the first apply CodeDeploy owns which version the alias serves and the canary
            # weights; Terraform must not shift traffic back on the next apply.
            lifecycle=TerraformResourceLifecycle(ignore_changes=["function_version", "routing_config"])
            if spec.released_by_codedeploy else None,
        )
        self.arn = self.function.arn
        self.alias_arn = self.alias.arn
        self.alias_invoke_arn = self.alias.invoke_arn


@dataclass(frozen=True)
class ComputeProps:
    settings: Settings
    kms_key_arn: str
    tables: TransactionTables | Any   # the standby's: modules/standby.py ReplicatedData, the same shape
    fingerprint_key_arn: str
    audit_bucket_arn: str
    audit_bucket_name: str
    network: FunctionNetwork | None    # None: the functions run outside the VPC
    partition: str
    account_id: str
    # The merchant registry (modules/merchant_registry.py): every API function reads it first.
    registry_table_arn: str
    registry_table_name: str
    # The standby region's (modules/stacks/standby_stack.py): /process there stores nothing until the
    # region is opened (payments_core.fence), and Terraform moves the `live` aliases on each apply
    # (no CodeDeploy there: nothing to shift while it takes no traffic).
    standby: bool = False


class PaymentFunctions(Construct):
    """validate, fraud-check, process (behind the API) and audit-writer (on the table stream)."""

    def __init__(self, scope: Construct, id: str, props: ComputeProps):
        super().__init__(scope, id)
        s, t = props.settings, props.tables
        layer_code = lambda_asset(self, "layer-code", "shared")
        self.layer = LambdaLayerVersion(
            self, "layer", layer_name=s.name("core"), filename=layer_code.path,
            source_code_hash=layer_code.asset_hash, compatible_runtimes=[RUNTIME],
            description="payments_core: validation, money, fraud rules, idempotency, logging",
        )
        self.dlq = SqsQueue(self, "audit-dlq", name=s.name("audit-dlq"),
                            kms_master_key_id=props.kms_key_arn, kms_data_key_reuse_period_seconds=300,
                            message_retention_seconds=DLQ_RETENTION_SECONDS)
        # Where the audit writer puts objects (also what the S3 gateway endpoint lets through).
        self.audit_objects_arn = f"{props.audit_bucket_arn}/{AUDIT_PREFIX}*"
        dynamodb_key = {"StringEquals": {"kms:ViaService": f"dynamodb.{s.region}.amazonaws.com"}}
        # Merchant-data role ARNs, built from their names: the roles trust the function roles, so
        # they are created after them; the functions only need the ARN string.
        merchant_role_name = {"fraud-check": s.name("merchant-read"), "process": s.name("merchant-write")}
        merchant_role_arn = {key: f"arn:{props.partition}:iam::{props.account_id}:role/{name}"
                             for key, name in merchant_role_name.items()}

        def assume_merchant_role(key: str) -> Statement:
            # The only way to merchant data: a session of its merchant role tagged with the merchant.
            return Statement(sid="AssumeMerchantDataRole", actions=["sts:AssumeRole", "sts:TagSession"],
                             resources=[merchant_role_arn[key]])

        # Every API function reads the caller's registry item (status, bound API key id) with its own
        # role before anything else; the merchant-data roles get no access to the registry.
        registry = [
            Statement(sid="ReadMerchantRegistry", actions=["dynamodb:GetItem"],
                      resources=[props.registry_table_arn]),
            Statement(sid="DecryptMerchantRegistry", actions=["kms:Decrypt"], resources=[props.kms_key_arn],
                      conditions=dynamodb_key),
        ]
        registry_env = {"MERCHANT_REGISTRY_TABLE": props.registry_table_name}
        history = dict(CUSTOMER_ACTIVITY_TABLE=t.activity.name,
                       FRAUD_WINDOW_SECONDS=str(s.fraud_window_seconds), FRAUD_QUERY_LIMIT="100")
        specs = [
            FunctionSpec("validate", "validate", "validate_handler.handler",
                         "Validates a payment request; writes nothing",
                         statements=registry, environment=registry_env),
            FunctionSpec("fraud-check", "fraud_check", "fraud_check_handler.handler",
                         "Scores a payment request against the customer's recent history",
                         statements=[assume_merchant_role("fraud-check"), *registry],
                         environment={**history, **registry_env,
                                      "MERCHANT_DATA_ROLE_ARN": merchant_role_arn["fraud-check"]}),
            FunctionSpec(
                "process", "process", "process_handler.handler",
                "Re-validates, re-scores and records a payment exactly once per Idempotency-Key",
                statements=[
                    assume_merchant_role("process"),
                    # Card fingerprints and the Idempotency-Key digest secret (not merchant data).
                    Statement(sid="FingerprintCards", actions=["kms:GenerateMac"],
                              resources=[props.fingerprint_key_arn]),
                    *registry,
                ],
                environment={**history, **registry_env, "MERCHANT_DATA_ROLE_ARN": merchant_role_arn["process"],
                             **({"REGION_FENCED_BY_DEFAULT": "true"} if props.standby else {}),
                             "TRANSACTION_TABLE": t.transactions.name,
                             "IDEMPOTENCY_TABLE": t.idempotency.name,
                             "IDEMPOTENCY_TTL_SECONDS": "86400",
                             "CARD_FINGERPRINT_KEY_ID": props.fingerprint_key_arn},
                timeout=15,
            ),
            FunctionSpec(
                "audit-writer", "audit_writer", "audit_writer_handler.handler",
                "Writes one SSE-KMS audit object per ledger change (insert, modify, remove), from the table stream",
                statements=[
                    Statement(sid="ReadTransactionStream",
                              actions=["dynamodb:DescribeStream", "dynamodb:GetRecords",
                                       "dynamodb:GetShardIterator"],
                              resources=[t.transactions.stream_arn]),
                    Statement(sid="ListTransactionStreams", actions=["dynamodb:ListStreams"],
                              resources=[f"{t.transactions.arn}/stream/*"]),
                    Statement(sid="WriteAuditObjects", actions=["s3:PutObject"],
                              resources=[self.audit_objects_arn]),
                    Statement(sid="EncryptAuditObjects", actions=["kms:GenerateDataKey", "kms:Decrypt"],
                              resources=[props.kms_key_arn],
                              conditions={"StringEquals": {"kms:ViaService": [
                                  f"s3.{s.region}.amazonaws.com", f"sqs.{s.region}.amazonaws.com",
                                  f"dynamodb.{s.region}.amazonaws.com"]}}),
                    Statement(sid="DeadLetterFailedBatches", actions=["sqs:SendMessage"],
                              resources=[self.dlq.arn]),
                ],
                environment={"AUDIT_BUCKET": props.audit_bucket_name, "AUDIT_PREFIX": AUDIT_PREFIX,
                             "AUDIT_KMS_KEY_ID": props.kms_key_arn},
                timeout=60,
            ),
        ]
        self.functions = {
            spec.key: PaymentFunction(self, spec.key, FunctionProps(
                s, replace(spec, released_by_codedeploy=not props.standby), props.kms_key_arn, self.layer.arn,
                props.network, props.partition, props.account_id))
            for spec in specs
        }
        # Warm execution environments behind the payment routes' `live` alias (prod): no cold start
        # for the first requests of a burst. On the alias, so it follows the versions CodeDeploy
        # shifts traffic between (both versions of a canary are provisioned by weight).
        self.provisioned = [
            LambdaProvisionedConcurrencyConfig(
                self, f"{key}-provisioned", function_name=self.functions[key].function.function_name,
                qualifier=self.functions[key].alias.name,
                provisioned_concurrent_executions=s.lambda_provisioned_concurrency)
            for key in PAYMENT_ROUTE_FUNCTIONS if s.lambda_provisioned_concurrency
        ]
        # What each merchant session may do: its own merchant's keys only (modules/merchant_access.py).
        own = own_merchant_keys_only()
        table_key = Statement(sid="UseTableKey", actions=["kms:Decrypt", "kms:GenerateDataKey"],
                              resources=[props.kms_key_arn], conditions=dynamodb_key)
        merchant_statements = {
            "fraud-check": [
                Statement(sid="ReadOwnCustomerActivity", actions=["dynamodb:GetItem"],
                          resources=[t.activity.arn], conditions=own),
                table_key,
            ],
            "process": [
                # TransactWriteItems is authorized as PutItem on each item it writes, each with its
                # own leading key; GetItem is the consistent read before scoring / the replay.
                Statement(sid="OwnCustomerActivity", actions=["dynamodb:GetItem", "dynamodb:PutItem"],
                          resources=[t.activity.arn], conditions=own),
                Statement(sid="OwnIdempotencyRecords", actions=["dynamodb:GetItem", "dynamodb:PutItem"],
                          resources=[t.idempotency.arn], conditions=own),
                # The ledger is keyed "<merchant>#<transaction_id>": a session writes its own
                # merchant's rows only. Put only (the code sends put-if-absent); no read of the table.
                Statement(sid="RecordOwnTransactions", actions=["dynamodb:PutItem"],
                          resources=[t.transactions.arn], conditions=own),
                table_key,
            ],
        }
        self.merchant_roles = {
            key: MerchantDataRole(self, f"{key}-merchant-data", MerchantRoleProps(
                merchant_role_name[key], [self.functions[key].role.arn], merchant_statements[key]))
            for key in ("fraud-check", "process")
        }
        self.stream_mapping = LambdaEventSourceMapping(
            self, "audit-stream", function_name=self.functions["audit-writer"].alias_arn,
            event_source_arn=t.transactions.stream_arn, starting_position="TRIM_HORIZON",
            batch_size=100, maximum_batching_window_in_seconds=1,
            bisect_batch_on_function_error=True, maximum_retry_attempts=10,
            maximum_record_age_in_seconds=86_400,
            function_response_types=["ReportBatchItemFailures"],
            filter_criteria=LambdaEventSourceMappingFilterCriteria(filter=[
                LambdaEventSourceMappingFilterCriteriaFilter(
                    # Every change of the ledger: a MODIFY or REMOVE of a payment never happens in
                    # normal operation, so it is evidence, filed and alarmed (payments_core/audit.py).
                    pattern='{"eventName":["INSERT","MODIFY","REMOVE"]}')]),
            destination_config=LambdaEventSourceMappingDestinationConfig(
                on_failure=LambdaEventSourceMappingDestinationConfigOnFailure(destination_arn=self.dlq.arn)),
        )
