"""CI identities of one account (in the ``payments-account`` stack): the GitHub Actions OIDC provider,
the permissions boundary every role a deploy creates must carry and, per environment that lives in
the account, a plan role and a deploy role, each assumable only from one GitHub environment of one
repository (docs/operators/accounts.md "CI setup").

- Plan role: ``ReadOnlyAccess`` minus every read that returns a secret or customer data
  (modules/ci_denied_reads.py), its own state and lock file.
- Deploy role: ``AdministratorAccess`` (applying the stack creates roles, keys and the network)
  fenced by explicit Denies it cannot lift: every role or user change only with the boundary, never
  a change to itself, the other CI roles, the account stack's roles, the OIDC provider, the boundary,
  the trail, the state bucket's policy or the state key's policy; no role of another account.
"""

from __future__ import annotations

from dataclasses import dataclass

from constructs import Construct
from cdktf_cdktf_provider_aws.iam_openid_connect_provider import IamOpenidConnectProvider
from cdktf_cdktf_provider_aws.iam_policy import IamPolicy
from cdktf_cdktf_provider_aws.iam_role import IamRole
from cdktf_cdktf_provider_aws.iam_role_policy import IamRolePolicy
from cdktf_cdktf_provider_aws.iam_role_policy_attachment import IamRolePolicyAttachment

from modules.ci_denied_reads import denied_read_statements
from modules.iam import Statement, policy_document
from modules.platform import STATE_KEY_ALIAS
from modules.settings_rules.accounts import DEPLOYED_ENVIRONMENTS

GITHUB_OIDC_HOST = "token.actions.githubusercontent.com"
AUDIENCE = "sts.amazonaws.com"
ENVIRONMENTS = DEPLOYED_ENVIRONMENTS
CI_ROLE_PREFIX = "payment-ci-"
BOUNDARY_NAME = "payment-deploy-boundary"
# State keys of the account-level stacks: no environment's deploy may read or write them.
ACCOUNT_STATES = ("state", "account")
# Identity administration a role created by a deploy never gets (the boundary's ceiling).
IDENTITY_ADMIN = ("iam:*", "organizations:*", "account:*", "sso:*", "identitystore:*")
# Role and user changes a deploy makes only for roles carrying the boundary.
BOUNDED_ROLE_CHANGES = ("iam:CreateRole", "iam:PutRolePolicy", "iam:AttachRolePolicy",
                        "iam:PutRolePermissionsBoundary")
# Identities a deploy never creates: the platform has no IAM users, and a user has no boundary here.
NO_USERS = ("iam:CreateUser", "iam:CreateAccessKey", "iam:CreateLoginProfile", "iam:PutUserPolicy",
            "iam:AttachUserPolicy", "iam:DeleteRolePermissionsBoundary", "iam:DeleteUserPermissionsBoundary")
POLICY_CHANGES = ("iam:CreatePolicyVersion", "iam:DeletePolicy", "iam:DeletePolicyVersion",
                  "iam:SetDefaultPolicyVersion", "iam:TagPolicy", "iam:UntagPolicy")
TRAIL_CHANGES = ("cloudtrail:StopLogging", "cloudtrail:DeleteTrail", "cloudtrail:UpdateTrail",
                 "cloudtrail:PutEventSelectors", "cloudtrail:PutInsightSelectors",
                 "cloudtrail:RemoveTags", "cloudtrail:AddTags")
BUCKET_POLICY_CHANGES = ("s3:PutBucketPolicy", "s3:DeleteBucketPolicy", "s3:DeleteBucket",
                         "s3:PutBucketVersioning", "s3:PutEncryptionConfiguration",
                         "s3:PutLifecycleConfiguration", "s3:PutBucketObjectLockConfiguration",
                         "s3:PutBucketPublicAccessBlock", "s3:PutBucketAcl", "s3:PutBucketOwnershipControls")
KEY_POLICY_CHANGES = ("kms:PutKeyPolicy", "kms:ScheduleKeyDeletion", "kms:DisableKey",
                      "kms:DisableKeyRotation", "kms:CreateGrant", "kms:UpdateAlias", "kms:DeleteAlias")


def plan_environment(environment: str) -> str:
    """The GitHub environment a plan job of ``environment`` runs in (plan-prod: main branch only)."""
    return f"plan-{environment}"


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
class Protected:
    """What no deploy role may change: the account-level resources around it."""

    account_id: str
    partition: str
    provider_arn: str              # the GitHub OIDC provider
    boundary_arn: str
    role_arns: tuple[str, ...]     # the account stack's roles (CI roles by prefix, logging, trail)
    trail_arn: str
    trail_bucket_arn: str
    state_bucket_arn: str
    state_region: str
    # With dr_region: the standby's state bucket there (modules/stacks/state_stack.py) and its region.
    dr_state_bucket_arn: str | None = None
    dr_region: str = ""
    # Every state bucket of the account in any region (the name template with region "*"), whichever
    # environment's settings the account stack is applied with (a single-account sandbox): what the
    # deploy roles' DenyOtherStates covers. Empty: the buckets above.
    state_buckets_any_region: tuple[str, ...] = ()

    @property
    def state_buckets(self) -> list[str]:
        return [self.state_bucket_arn, *([self.dr_state_bucket_arn] if self.dr_state_bucket_arn else [])]

    @property
    def state_regions(self) -> list[str]:
        return [self.state_region, *([self.dr_region] if self.dr_state_bucket_arn else [])]

    @property
    def state_key_arns(self) -> list[str]:
        """Every state region's keys (narrowed to the state key by the alias condition)."""
        return [f"arn:{self.partition}:kms:{r}:{self.account_id}:key/*" for r in self.state_regions]

    @property
    def key_is_the_state_key(self) -> dict[str, dict[str, object]]:
        return {"ForAnyValue:StringEquals": {"kms:ResourceAliases": STATE_KEY_ALIAS}}


def protection_statements(p: Protected) -> list[Statement]:
    """Denies shared by the deploy roles and the boundary: the account's fences stay up whatever a
    deploy role or a role it created is allowed."""
    return [
        # Anything but reading them: no policy change, no trust change, no deletion, no AssumeRole.
        Statement(sid="DenyChangingAccountIdentities", effect="Deny",
                  actions=["iam:*", "sts:AssumeRole", "sts:TagSession"], resources=[*p.role_arns, p.provider_arn]),
        Statement(sid="DenyChangingTheBoundary", effect="Deny", actions=list(POLICY_CHANGES),
                  resources=[p.boundary_arn]),
        Statement(sid="DenyChangingTheTrail", effect="Deny", actions=list(TRAIL_CHANGES), resources=[p.trail_arn]),
        Statement(sid="DenyChangingProtectedBuckets", effect="Deny", actions=list(BUCKET_POLICY_CHANGES),
                  resources=[*p.state_buckets, p.trail_bucket_arn]),
        Statement(sid="DenyChangingTheStateKey", effect="Deny", actions=list(KEY_POLICY_CHANGES),
                  resources=p.state_key_arns, conditions=p.key_is_the_state_key),
    ]


@dataclass(frozen=True)
class CiRolesProps:
    repository: str  # owner/repo
    environment: str  # dev, staging, prod
    state_bucket_arn: str
    protected: Protected

    @property
    def other_environments(self) -> tuple[str, ...]:
        return tuple(e for e in ENVIRONMENTS if e != self.environment)


class CiRoles(Construct):
    """The plan role (read-only without secrets or data, own state, own lock file) and the deploy
    role (administrator inside the fences) of one environment."""

    def __init__(self, scope: Construct, id: str, props: CiRolesProps):
        super().__init__(scope, id)
        p, guard = props, props.protected
        # Its environment's states: payments-<env> in the state bucket and, with a DR region, the
        # standby payments-<env>-<dr_region> in that region's state bucket (modules/stacks/standby_stack.py).
        prefixes = [f"{p.state_bucket_arn}/payments/{p.environment}"]
        if guard.dr_state_bucket_arn:
            prefixes.append(f"{guard.dr_state_bucket_arn}/payments/{p.environment}-{guard.dr_region}")
        own_states = [f"{prefix}/terraform.tfstate" for prefix in prefixes]
        own_locks = [f"{state}.tflock" for state in own_states]
        use_state_key = Statement(
            sid="UseStateKeyThroughS3", actions=["kms:Decrypt", "kms:GenerateDataKey"],
            resources=guard.state_key_arns,
            conditions={**guard.key_is_the_state_key,
                        "StringEquals": {"kms:ViaService": [f"s3.{r}.amazonaws.com" for r in guard.state_regions]}},
        )

        self.plan_role = IamRole(
            self, "plan", name=f"{CI_ROLE_PREFIX}plan-{p.environment}", max_session_duration=3600,
            description=f"terraform plan of payments-{p.environment} from GitHub Actions",
            assume_role_policy=github_trust_policy(guard.provider_arn, p.repository,
                                                   plan_environment(p.environment)))
        # A plan refreshes every resource type of the stack: AWS's read-only policy covers them as
        # the stack grows; the inline Denies take every secret and data read back out.
        IamRolePolicyAttachment(self, "plan-read-only", role=self.plan_role.name,
                                policy_arn=f"arn:{guard.partition}:iam::aws:policy/ReadOnlyAccess")
        IamRolePolicy(self, "plan-state", role=self.plan_role.name, name="state", policy=policy_document(
            Statement(sid="ReadOwnState", actions=["s3:GetObject"], resources=own_states),
            Statement(sid="WriteOwnLockFile", actions=["s3:PutObject", "s3:DeleteObject"], resources=own_locks),
            # A plan opens the stack's ephemeral resources: the global database's master password is
            # an ephemeral random password (modules/global_database.py). It generates a value, reads none.
            Statement(sid="GenerateEphemeralPasswords", actions=["secretsmanager:GetRandomPassword"], resources=["*"]),
            use_state_key,
            *denied_read_statements(guard.partition, [*own_states, *own_locks], guard.state_regions),
        ))

        self.deploy_role = IamRole(
            self, "deploy", name=f"{CI_ROLE_PREFIX}deploy-{p.environment}", max_session_duration=3600,
            description=f"terraform apply and release of payments-{p.environment} from GitHub Actions",
            assume_role_policy=github_trust_policy(guard.provider_arn, p.repository, p.environment))
        # Applying the stack creates IAM roles, KMS keys and the network: administrator rights are
        # what that takes. The fences: the trust policy (one protected GitHub environment, whose
        # deployment branch rule is main), this account only (account per environment), and the
        # Denies below, which name the role itself, so it cannot delete them.
        IamRolePolicyAttachment(self, "deploy-admin", role=self.deploy_role.name,
                                policy_arn=f"arn:{guard.partition}:iam::aws:policy/AdministratorAccess")
        IamRolePolicy(self, "deploy-fences", role=self.deploy_role.name, name="fences", policy=policy_document(
            Statement(sid="DenyRolesWithoutTheBoundary", effect="Deny", actions=list(BOUNDED_ROLE_CHANGES),
                      conditions={"StringNotEquals": {"iam:PermissionsBoundary": guard.boundary_arn}}),
            Statement(sid="DenyUnboundedIdentities", effect="Deny", actions=list(NO_USERS)),
            *protection_statements(guard),
            Statement(sid="DenyRolesOfOtherAccounts", effect="Deny", actions=["sts:AssumeRole", "sts:TagSession"],
                      resources=(), not_resources=[f"arn:{guard.partition}:iam::{guard.account_id}:role/*"]),
            # In a single-account sandbox the other environments' states share the buckets (a standby's
            # key is payments/<env>-<dr_region>/: the second pattern).
            Statement(sid="DenyOtherStates", effect="Deny",
                      actions=["s3:GetObject*", "s3:PutObject*", "s3:DeleteObject*"],
                      resources=[f"{bucket}/payments/{other}{suffix}/*"
                                 for bucket in (guard.state_buckets_any_region or guard.state_buckets)
                                 for other in (*p.other_environments, *ACCOUNT_STATES) for suffix in ("", "-*")]),
        ))


@dataclass(frozen=True)
class CiIdentitiesProps:
    repository: str
    environments: tuple[str, ...]   # the environments that live in this account
    state_bucket_arn: str
    protected_trail_arn: str
    protected_trail_bucket_arn: str
    protected_role_arns: tuple[str, ...]   # the account stack's other roles
    account_id: str
    partition: str
    state_region: str
    dr_state_bucket_arn: str | None = None   # with dr_region: the standby's state bucket there
    dr_region: str = ""
    state_buckets_any_region: tuple[str, ...] = ()   # see Protected


class CiIdentities(Construct):
    """The OIDC provider, the deploy boundary and ``CiRoles`` per environment of the account."""

    def __init__(self, scope: Construct, id: str, props: CiIdentitiesProps):
        super().__init__(scope, id)
        p = props
        iam = f"arn:{p.partition}:iam::{p.account_id}"
        self.provider = IamOpenidConnectProvider(
            self, "github", url=f"https://{GITHUB_OIDC_HOST}", client_id_list=[AUDIENCE])
        boundary_arn = f"{iam}:policy/{BOUNDARY_NAME}"  # known before it exists: the fences name it
        self.protected = Protected(
            account_id=p.account_id, partition=p.partition, provider_arn=self.provider.arn,
            boundary_arn=boundary_arn,
            role_arns=(f"{iam}:role/{CI_ROLE_PREFIX}*", *p.protected_role_arns),
            trail_arn=p.protected_trail_arn, trail_bucket_arn=p.protected_trail_bucket_arn,
            state_bucket_arn=p.state_bucket_arn,
            state_region=p.state_region, dr_state_bucket_arn=p.dr_state_bucket_arn, dr_region=p.dr_region,
            state_buckets_any_region=p.state_buckets_any_region)
        # The ceiling of every role a deploy creates (the environment stack attaches it to each of
        # its roles, modules/permissions_boundary.py): any service action, no identity
        # administration, and the account's fences.
        self.boundary = IamPolicy(
            self, "boundary", name=BOUNDARY_NAME,
            description="Permissions boundary of every role a CI deploy creates",
            policy=policy_document(
                Statement(sid="AllowAllButIdentityAdministration", actions=(), not_actions=list(IDENTITY_ADMIN)),
                *protection_statements(self.protected)))
        self.roles = {env: CiRoles(self, env, CiRolesProps(
            repository=p.repository, environment=env, state_bucket_arn=p.state_bucket_arn,
            protected=self.protected)) for env in p.environments}
