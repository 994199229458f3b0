"""The account stack (``payments-account``): what exists once per AWS account and region, beside
``payments-state``, so that no environment stack owns a region-wide singleton.

- API Gateway's CloudWatch logging role and the ``aws_api_gateway_account`` setting naming it
  (modules/api_logging.py): destroying an environment leaves every other API logging;
- the object-access trail of the state bucket and every audit bucket (modules/trail.py);
- with PAYMENTS_GITHUB_REPOSITORY, the CI identities of the environments that live in the account
  (modules/ci_identities.py): the OIDC provider, the deploy boundary, plan and deploy roles.

Applied by an operator with the account's administrator credentials after ``make bootstrap`` and
before any environment (docs/operators/accounts.md); never by CI, whose roles it defines.
"""

from __future__ import annotations

from cdktf import TerraformOutput, TerraformStack
from constructs import Construct
from cdktf_cdktf_provider_aws.data_aws_caller_identity import DataAwsCallerIdentity
from cdktf_cdktf_provider_aws.data_aws_partition import DataAwsPartition

from modules.api_logging import ApiGatewayLogging, ApiGatewayLoggingProps
from modules.api_logging import role_name as logging_role_name
from modules.ci_identities import CiIdentities, CiIdentitiesProps
from modules.ci_reconcile import ReconcileRole, ReconcileRoleProps
from modules.platform import (aws_provider, configure_backend, dr_provider, state_bucket_name_in,
                              state_bucket_patterns, state_region)
from modules.rehearsal import apply_rehearsal_overrides
from modules.settings import Settings
from modules.stacks.payment_stack import AUDIT_BUCKET_PREFIX
from modules.trail import DataEventTrail, DataEventTrailProps

STACK_NAME = "payments-account"
STATE_KEY = "payments/account/terraform.tfstate"
TRAIL_NAME = "payment-object-access-trail"


class AccountStack(TerraformStack):
    """The account's API Gateway logging setting, object trail and CI identities."""

    def __init__(self, scope: Construct, settings: Settings):
        super().__init__(scope, STACK_NAME)
        s = settings
        aws_provider(self, s)
        configure_backend(self, s, key=STATE_KEY)
        account_id = DataAwsCallerIdentity(self, "caller").account_id
        partition = DataAwsPartition(self, "partition").partition
        region = state_region()
        state_bucket_arn = f"arn:{partition}:s3:::{state_bucket_name_in(s, account_id, region)}"
        # With dr_region, the standby's state bucket there (modules/stacks/state_stack.py).
        dr_state_bucket_arn = (f"arn:{partition}:s3:::{state_bucket_name_in(s, account_id, s.dr_region, dr=True)}"
                               if s.dr_region else None)

        self.api_logging = ApiGatewayLogging(self, "api-logging", ApiGatewayLoggingProps(s.region, partition))
        # The standby's API in dr_region logs through that region's setting (modules/stacks/standby_stack.py).
        self.dr_api_logging: ApiGatewayLogging | None = None
        if s.dr_region:
            self.dr_api_logging = ApiGatewayLogging(self, "dr-api-logging", ApiGatewayLoggingProps(
                s.dr_region, partition, provider=dr_provider(self, s)))
        # Who read or wrote which state or audit object (the state holds every secret Terraform
        # knows): one trail for the account, see modules/trail.py.
        self.trail = DataEventTrail(self, "trail", DataEventTrailProps(
            name=TRAIL_NAME, log_bucket_name=f"payment-trail-logs-{account_id}",
            object_arn_prefixes=[f"{state_bucket_arn}/", *([f"{dr_state_bucket_arn}/"] if dr_state_bucket_arn else []),
                                 f"arn:{partition}:s3:::{AUDIT_BUCKET_PREFIX}"],
            account_id=account_id, region=s.region, partition=partition))
        TerraformOutput(self, "api-logging-role-arn", value=self.api_logging.role.arn,
                        description="API Gateway's CloudWatch logging role (the region-wide account setting)")
        TerraformOutput(self, "trail-arn", value=self.trail.arn,
                        description="trail of the object reads and writes of the state and audit buckets")

        self.ci: CiIdentities | None = None
        if s.github_repository:
            iam = f"arn:{partition}:iam::{account_id}"
            self.ci = CiIdentities(self, "ci", CiIdentitiesProps(
                repository=s.github_repository, environments=s.environments_in_account,
                state_bucket_arn=state_bucket_arn,
                protected_trail_arn=f"arn:{partition}:cloudtrail:{s.region}:{account_id}:trail/{TRAIL_NAME}",
                protected_trail_bucket_arn=self.trail.log_bucket.arn,
                protected_role_arns=(f"{iam}:role/{logging_role_name(s.region)}", f"{iam}:role/{TRAIL_NAME}-logs",
                                     *([f"{iam}:role/{logging_role_name(s.dr_region)}"] if s.dr_region else [])),
                account_id=account_id, partition=partition, state_region=region,
                dr_state_bucket_arn=dr_state_bucket_arn, dr_region=s.dr_region,
                state_buckets_any_region=tuple(f"arn:{partition}:s3:::{b}"
                                               for b in state_bucket_patterns(s, account_id))))
            for env, roles in self.ci.roles.items():
                TerraformOutput(self, f"plan-role-{env}", value=roles.plan_role.arn,
                                description="CI plan role: AWS_PLAN_ROLE_ARN of GitHub environment plan-<env>")
                TerraformOutput(self, f"deploy-role-{env}", value=roles.deploy_role.arn,
                                description="CI deploy role: AWS_DEPLOY_ROLE_ARN of GitHub environment <env>")
                reconcile = ReconcileRole(self, f"reconcile-{env}", ReconcileRoleProps(
                    repository=s.github_repository, environment=env, provider_arn=self.ci.provider.arn,
                    account_id=account_id, region=s.region, partition=partition))
                TerraformOutput(self, f"reconcile-role-{env}", value=reconcile.role.arn,
                                description="daily reconciliation role: AWS_RECONCILE_ROLE_ARN of reconcile-<env>")
        if s.rehearsal:
            apply_rehearsal_overrides(self)
