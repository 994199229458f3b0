"""The daily reconciliation's CI identity (``payment-ci-reconcile-<env>``, in the account stack beside
the plan and deploy roles): assumable only from the GitHub environment ``reconcile-<env>``; reads the
environment's ledger, its audit trail and the SSM parameters that name them (scripts/reconcile.py,
.github/workflows/reconcile.yml); writes nothing and reads no Terraform state. Its name starts with
the CI prefix, so no deploy role may change it (modules/ci_identities.py)."""

from __future__ import annotations

from dataclasses import dataclass

from constructs import Construct
from cdktf_cdktf_provider_aws.iam_role import IamRole
from cdktf_cdktf_provider_aws.iam_role_policy import IamRolePolicy

from modules.ci_identities import CI_ROLE_PREFIX, github_trust_policy
from modules.iam import Statement, policy_document


def reconcile_environment(environment: str) -> str:
    """The GitHub environment the daily reconciliation of ``environment`` runs in."""
    return f"reconcile-{environment}"


@dataclass(frozen=True)
class ReconcileRoleProps:
    repository: str
    environment: str
    provider_arn: str
    account_id: str
    region: str  # where the environment's stack runs
    partition: str


class ReconcileRole(Construct):
    """Read-only access to one environment's ledger and audit trail, for ``make reconcile`` in CI."""

    def __init__(self, scope: Construct, id: str, props: ReconcileRoleProps):
        super().__init__(scope, id)
        p = props
        arn = lambda service, rest: f"arn:{p.partition}:{service}:{p.region}:{p.account_id}:{rest}"  # noqa: E731
        bucket = f"arn:{p.partition}:s3:::payment-audit-logs-{p.environment}-{p.account_id}"
        self.role = IamRole(
            self, "role", name=f"{CI_ROLE_PREFIX}reconcile-{p.environment}", max_session_duration=3600,
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
