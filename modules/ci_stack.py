"""CI identities (stack ``payments-ci``): the GitHub Actions OIDC provider and, per environment, a
plan role, a deploy role and a read-only reconciliation role, each assumable only from one GitHub
environment of one repository.

Synthesized when PAYMENTS_GITHUB_REPOSITORY is set; applied by an operator (not by CI), once per
account, after ``make bootstrap``. The exact trust policy is documented in README "CI identities".
"""

from __future__ import annotations

from dataclasses import dataclass

from cdktf import TerraformOutput, TerraformStack
from constructs import Construct
from cdktf_cdktf_provider_aws.data_aws_caller_identity import DataAwsCallerIdentity
from cdktf_cdktf_provider_aws.data_aws_partition import DataAwsPartition
from cdktf_cdktf_provider_aws.iam_openid_connect_provider import IamOpenidConnectProvider
from cdktf_cdktf_provider_aws.iam_role import IamRole
from cdktf_cdktf_provider_aws.iam_role_policy import IamRolePolicy
from cdktf_cdktf_provider_aws.iam_role_policy_attachment import IamRolePolicyAttachment

from modules.iam import Statement, policy_document
from modules.platform import (STATE_KEY_ALIAS, aws_provider, configure_backend,
                              state_bucket_name_in, state_region)
from modules.settings import PROFILES, Settings

STACK_NAME = "payments-ci"
STATE_KEY = "payments/ci/terraform.tfstate"
GITHUB_OIDC_HOST = "token.actions.githubusercontent.com"
AUDIENCE = "sts.amazonaws.com"
ENVIRONMENTS = tuple(PROFILES)  # dev, staging, prod
# Reads a plan refresh never needs and that would expose payment data or secrets to PR code.
DATA_READS = (
    "dynamodb:GetItem", "dynamodb:BatchGetItem", "dynamodb:Query", "dynamodb:Scan",
    "dynamodb:GetRecords", "dynamodb:ExportTableToPointInTime", "secretsmanager:GetSecretValue",
    "sqs:ReceiveMessage", "logs:GetLogEvents", "logs:FilterLogEvents", "logs:StartQuery",
)


def plan_environment(environment: str) -> str:
    """The GitHub environment a plan job of ``environment`` runs in (plan-prod: main branch only)."""
    return f"plan-{environment}"


def reconcile_environment(environment: str) -> str:
    """The GitHub environment the daily reconciliation of ``environment`` runs in (.github/workflows/reconcile.yml)."""
    return f"reconcile-{environment}"


def github_trust_policy(provider_arn: str, repository: str, github_environment: str) -> str:
    """Web-identity trust for jobs of ``repository`` running in ``github_environment`` only."""
    return policy_document(Statement(
        sid="GitHubActionsEnvironment", actions=["sts:AssumeRoleWithWebIdentity"], resources=(),
        principals={"Federated": provider_arn},
        conditions={"StringEquals": {
            f"{GITHUB_OIDC_HOST}:aud": AUDIENCE,
            f"{GITHUB_OIDC_HOST}:sub": f"repo:{repository}:environment:{github_environment}",
        }},
    ))


@dataclass(frozen=True)
class CiRolesProps:
    repository: str  # owner/repo
    environment: str  # dev, staging, prod
    provider_arn: str
    state_bucket_arn: str
    state_key_arns: str  # arn:<partition>:kms:<region>:<account>:key/* (narrowed by alias condition)
    state_region: str
    partition: str

    @property
    def other_environments(self) -> tuple[str, ...]:
        return tuple(e for e in ENVIRONMENTS if e != self.environment)


class CiRoles(Construct):
    """The plan role (read-only, own state, own lock file) and the deploy role of one environment."""

    def __init__(self, scope: Construct, id: str, props: CiRolesProps):
        super().__init__(scope, id)
        p = props
        state_prefix = f"{p.state_bucket_arn}/payments/{p.environment}"
        own_state, own_lock = f"{state_prefix}/terraform.tfstate", f"{state_prefix}/terraform.tfstate.tflock"
        use_state_key = Statement(
            sid="UseStateKeyThroughS3", actions=["kms:Decrypt", "kms:GenerateDataKey"],
            resources=[p.state_key_arns],
            conditions={"ForAnyValue:StringEquals": {"kms:ResourceAliases": STATE_KEY_ALIAS},
                        "StringEquals": {"kms:ViaService": f"s3.{p.state_region}.amazonaws.com"}},
        )

        self.plan_role = IamRole(
            self, "plan", name=f"payment-ci-plan-{p.environment}", max_session_duration=3600,
            description=f"terraform plan of payments-{p.environment} from GitHub Actions",
            assume_role_policy=github_trust_policy(p.provider_arn, p.repository,
                                                   plan_environment(p.environment)))
        # A plan refreshes every resource type of the stack: AWS's read-only policy covers them as
        # the stack grows; the inline Deny below takes the data-plane reads back out.
        IamRolePolicyAttachment(self, "plan-read-only", role=self.plan_role.name,
                                policy_arn=f"arn:{p.partition}:iam::aws:policy/ReadOnlyAccess")
        IamRolePolicy(self, "plan-state", role=self.plan_role.name, name="state", policy=policy_document(
            Statement(sid="ReadOwnState", actions=["s3:GetObject"], resources=[own_state]),
            Statement(sid="WriteOwnLockFile", actions=["s3:PutObject", "s3:DeleteObject"], resources=[own_lock]),
            use_state_key,
            # No object anywhere but its own state and lock file (other environments' states,
            # the audit trail), no table items, secrets, messages or logs.
            Statement(sid="DenyObjectReadsButOwnState", effect="Deny",
                      actions=["s3:GetObject", "s3:GetObjectVersion"], resources=(),
                      not_resources=[own_state, own_lock]),
            Statement(sid="DenyDataReads", effect="Deny", actions=list(DATA_READS)),
        ))

        self.deploy_role = IamRole(
            self, "deploy", name=f"payment-ci-deploy-{p.environment}", max_session_duration=3600,
            description=f"terraform apply and release of payments-{p.environment} from GitHub Actions",
            assume_role_policy=github_trust_policy(p.provider_arn, p.repository, p.environment))
        # Applying the stack creates IAM roles, KMS keys and the network: administrator rights are
        # what that takes. The guard is the trust policy (one protected GitHub environment, whose
        # deployment branch rule is main) and the Deny below (no other environment's state).
        IamRolePolicyAttachment(self, "deploy-admin", role=self.deploy_role.name,
                                policy_arn=f"arn:{p.partition}:iam::aws:policy/AdministratorAccess")
        IamRolePolicy(self, "deploy-state", role=self.deploy_role.name, name="state", policy=policy_document(
            Statement(sid="DenyOtherStates", effect="Deny",
                      actions=["s3:GetObject*", "s3:PutObject*", "s3:DeleteObject*"],
                      resources=[f"{p.state_bucket_arn}/payments/{other}/*"
                                 for other in (*p.other_environments, "state", "ci")]),
        ))


@dataclass(frozen=True)
class ReconcileRoleProps:
    repository: str
    environment: str
    provider_arn: str
    account_id: str
    region: str  # where the environment's stack runs
    partition: str


class ReconcileRole(Construct):
    """The daily reconciliation's role (scripts/reconcile.py): reads the environment's ledger, its
    audit trail and the SSM parameters that name them; writes nothing, no Terraform state."""

    def __init__(self, scope: Construct, id: str, props: ReconcileRoleProps):
        super().__init__(scope, id)
        p = props
        arn = lambda service, rest: f"arn:{p.partition}:{service}:{p.region}:{p.account_id}:{rest}"  # noqa: E731
        bucket = f"arn:{p.partition}:s3:::payment-audit-logs-{p.environment}-{p.account_id}"
        self.role = IamRole(
            self, "role", name=f"payment-ci-reconcile-{p.environment}", max_session_duration=3600,
            description=f"daily ledger/audit-trail reconciliation of payments-{p.environment}",
            assume_role_policy=github_trust_policy(p.provider_arn, p.repository,
                                                   reconcile_environment(p.environment)))
        IamRolePolicy(self, "policy", role=self.role.name, name="reconcile", policy=policy_document(
            Statement(sid="FindTheTrail", actions=["ssm:GetParameters"], resources=[
                arn("ssm", f"parameter/payment/{name}-{p.environment}")
                for name in ("transaction-table", "audit-bucket", "kms-key-id")]),
            Statement(sid="ReadTheLedger", actions=["dynamodb:Scan"],
                      resources=[arn("dynamodb", f"table/payment-transactions-{p.environment}")]),
            Statement(sid="ListTheTrail", actions=["s3:ListBucket"], resources=[bucket],
                      conditions={"StringLike": {"s3:prefix": ["audit/*"]}}),
            Statement(sid="ReadTheTrail", actions=["s3:GetObject"], resources=[f"{bucket}/audit/*"]),
            # The platform key (one per environment, found by its alias) through S3 and DynamoDB only.
            Statement(sid="DecryptThroughS3AndDynamodb", actions=["kms:Decrypt"],
                      resources=[arn("kms", "key/*")],
                      conditions={"ForAnyValue:StringEquals": {"kms:ResourceAliases": f"alias/payment-key-{p.environment}"},
                                  "StringEquals": {"kms:ViaService": [f"s3.{p.region}.amazonaws.com",
                                                                      f"dynamodb.{p.region}.amazonaws.com"]}}),
        ))


class CiStack(TerraformStack):
    """GitHub OIDC provider plus plan and deploy roles for every environment."""

    def __init__(self, scope: Construct, settings: Settings):
        super().__init__(scope, STACK_NAME)
        aws_provider(self, settings)
        configure_backend(self, settings, key=STATE_KEY)
        account_id = DataAwsCallerIdentity(self, "caller").account_id
        partition = DataAwsPartition(self, "partition").partition
        region = state_region()
        bucket = state_bucket_name_in(settings, account_id, region)
        provider = IamOpenidConnectProvider(
            self, "github", url=f"https://{GITHUB_OIDC_HOST}", client_id_list=[AUDIENCE])
        self.roles: dict[str, CiRoles] = {}
        for env in ENVIRONMENTS:
            self.roles[env] = CiRoles(self, env, CiRolesProps(
                repository=settings.github_repository, environment=env, provider_arn=provider.arn,
                state_bucket_arn=f"arn:{partition}:s3:::{bucket}",
                state_key_arns=f"arn:{partition}:kms:{region}:{account_id}:key/*",
                state_region=region, partition=partition))
            TerraformOutput(self, f"plan-role-{env}", value=self.roles[env].plan_role.arn)
            TerraformOutput(self, f"deploy-role-{env}", value=self.roles[env].deploy_role.arn)
            reconcile = ReconcileRole(self, f"reconcile-{env}", ReconcileRoleProps(
                repository=settings.github_repository, environment=env, provider_arn=provider.arn,
                account_id=account_id, region=settings.region, partition=partition))
            TerraformOutput(self, f"reconcile-role-{env}", value=reconcile.role.arn)
