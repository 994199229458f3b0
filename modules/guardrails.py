"""Guardrails: the service control policies (SCPs) of the organisation's environment accounts, and
their attachments to those accounts or to their OU (docs/operators/guardrails.md).

What an administrator of an environment account can do, an attacker with those rights can do too:
these policies take back the few actions that would erase the platform's evidence or its ability to
recover, whoever calls them, except one break-glass role. An SCP restricts every principal of a
member account (the account root included, service-linked roles excepted) and nobody in the
management account, which is why the stack is applied there.

Two policies, each under the 5,120-character limit of an SCP (every character counts, so they are
written without whitespace): ``payments-guardrails`` (the organisation, CloudTrail, the audit buckets
and the platform's keys) and ``payments-regions`` (nothing outside the platform's regions). An
account or OU takes at most five SCPs, AWS's FullAWSAccess among them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

from constructs import Construct
from cdktf_cdktf_provider_aws.organizations_policy import OrganizationsPolicy
from cdktf_cdktf_provider_aws.organizations_policy_attachment import OrganizationsPolicyAttachment

from modules.iam import Statement, policy_document
from modules.stacks.payment_stack import AUDIT_BUCKET_PREFIX
from modules.platform import STATE_KEY_ALIAS

SCP_MAX_CHARACTERS = 5120
# Environments whose audit bucket and keys are protected. Only production: staging and previews keep
# a GOVERNANCE-mode audit bucket and short key deletion windows precisely so they can be destroyed.
PROTECTED_ENVIRONMENTS = ("prod",)
# The account's CloudTrail log bucket (modules/trail.py, "payment-trail-logs-<account id>") and key.
TRAIL_LOG_BUCKET_PREFIX = "payment-trail-logs-"
TRAIL_KEY_ALIAS = "alias/payment-object-access-trail"
# Actions exempt from the region rule: global services whose one endpoint is in us-east-1 (IAM, STS,
# Organizations, CloudFront, Route 53, Support, Budgets, WAF Classic, ...) and the few global
# operations of regional services. The NotAction list of AWS's documented example "Deny access to AWS
# based on the requested AWS Region" (AWS Organizations User Guide, SCP general examples).
GLOBAL_SERVICE_ACTIONS = (
    "a4b:*", "access-analyzer:*", "account:*", "acm:*", "activate:*", "artifact:*",
    "aws-marketplace-management:*", "aws-marketplace:*", "aws-portal:*", "billing:*", "billingconductor:*",
    "budgets:*", "ce:*", "chatbot:*", "chime:*", "cloudfront:*", "cloudtrail:LookupEvents",
    "compute-optimizer:*", "config:*", "consoleapp:*", "consolidatedbilling:*", "cur:*",
    "datapipeline:GetAccountLimits", "devicefarm:*", "directconnect:*", "ec2:DescribeRegions",
    "ec2:DescribeTransitGateways", "ec2:DescribeVpnGateways", "ecr-public:*", "fms:*", "freetier:*",
    "globalaccelerator:*", "health:*", "iam:*", "importexport:*", "invoicing:*", "iq:*", "kms:*",
    "license-manager:ListReceivedLicenses", "lightsail:Get*", "mobileanalytics:*", "networkmanager:*",
    "notifications-contacts:*", "notifications:*", "organizations:*", "payments:*", "pricing:*",
    "quicksight:DescribeAccountSubscription", "resource-explorer-2:*", "route53-recovery-cluster:*",
    "route53-recovery-control-config:*", "route53-recovery-readiness:*", "route53:*", "route53domains:*",
    "s3:CreateMultiRegionAccessPoint", "s3:DeleteMultiRegionAccessPoint",
    "s3:DescribeMultiRegionAccessPointOperation", "s3:GetAccountPublicAccessBlock", "s3:GetBucketLocation",
    "s3:GetBucketPolicyStatus", "s3:GetBucketPublicAccessBlock", "s3:GetMultiRegionAccessPoint",
    "s3:GetMultiRegionAccessPointPolicy", "s3:GetMultiRegionAccessPointPolicyStatus",
    "s3:GetStorageLensConfiguration", "s3:GetStorageLensDashboard", "s3:ListAllMyBuckets",
    "s3:ListMultiRegionAccessPoints", "s3:ListStorageLensConfigurations", "s3:PutAccountPublicAccessBlock",
    "s3:PutMultiRegionAccessPointPolicy", "savingsplans:*", "shield:*", "sso:*", "sts:*", "support:*",
    "supportapp:*", "supportplans:*", "sustainability:*", "tag:GetResources", "tax:*", "trustedadvisor:*",
    "vendor-insights:ListEntitledSecurityProfiles", "waf-regional:*", "waf:*", "wafv2:*",
)


@dataclass(frozen=True)
class GuardrailsProps:
    targets: Sequence[str]          # OU ids or account ids the policies attach to
    regions: Sequence[str]          # the only regions a regional service may be called in
    break_glass_arn: str            # aws:PrincipalArn pattern exempt from every statement
    partition: str = "aws"
    protected_environments: Sequence[str] = PROTECTED_ENVIRONMENTS


def _outside_break_glass(p: GuardrailsProps, **conditions: dict[str, object]) -> dict[str, dict[str, object]]:
    return {**conditions, "ArnNotLike": {"aws:PrincipalArn": p.break_glass_arn}}


def protected_key_aliases(p: GuardrailsProps) -> list[str]:
    """The platform's keys by alias (modules/security.py: alias/payment-<name>-<env>), state and trail keys."""
    return [*(f"alias/payment-*-{env}" for env in p.protected_environments), STATE_KEY_ALIAS, TRAIL_KEY_ALIAS]


def protected_buckets(p: GuardrailsProps) -> list[str]:
    """Bucket ARN patterns: each protected environment's audit bucket and the trail's log bucket.
    A pattern ending in ``*`` also matches the bucket's objects."""
    return [*(f"arn:{p.partition}:s3:::{AUDIT_BUCKET_PREFIX}{env}-*" for env in p.protected_environments),
            f"arn:{p.partition}:s3:::{TRAIL_LOG_BUCKET_PREFIX}*"]


def protection_statements(p: GuardrailsProps) -> list[Statement]:
    """The evidence and recovery rules (one statement each, Sid = what it denies)."""
    aliases = protected_key_aliases(p)
    return [
        # An account that leaves takes itself out of every SCP, this one included.
        Statement(sid="DenyLeavingTheOrganization", effect="Deny", actions=["organizations:LeaveOrganization"],
                  conditions=_outside_break_glass(p)),
        # The account's trail is the record of who read the state and the audit objects; stopping,
        # deleting or narrowing it (an update or new event selectors) would hide the next read.
        Statement(sid="DenyStoppingOrChangingCloudTrail", effect="Deny",
                  actions=["cloudtrail:StopLogging", "cloudtrail:DeleteTrail", "cloudtrail:UpdateTrail",
                           "cloudtrail:PutEventSelectors"],
                  conditions=_outside_break_glass(p)),
        # Object Lock keeps each audit object; deleting the bucket, its policy or changing its default
        # retention would leave the next objects unprotected (and the trail's log files deletable).
        Statement(sid="DenyDeletingAuditBuckets", effect="Deny",
                  actions=["s3:DeleteBucket", "s3:DeleteBucketPolicy", "s3:PutBucketObjectLockConfiguration"],
                  resources=protected_buckets(p), conditions=_outside_break_glass(p)),
        # Deleting or disabling a key makes everything encrypted under it unreadable: the payment data,
        # the audit objects, every Terraform state, the trail's log files.
        Statement(sid="DenyDeletingPlatformKeys", effect="Deny",
                  actions=["kms:ScheduleKeyDeletion", "kms:DisableKey"],
                  conditions=_outside_break_glass(p, **{"ForAnyValue:StringLike": {"kms:ResourceAliases": aliases}})),
        # The rule above finds the keys by alias: moving or deleting the alias first would escape it.
        Statement(sid="DenyMovingPlatformKeyAliases", effect="Deny", actions=["kms:DeleteAlias", "kms:UpdateAlias"],
                  resources=[f"arn:{p.partition}:kms:*:*:{alias}" for alias in aliases],
                  conditions=_outside_break_glass(p)),
    ]


def region_statements(p: GuardrailsProps) -> list[Statement]:
    """Nothing regional outside the platform's regions: no forgotten (or hidden) resources elsewhere."""
    return [Statement(
        sid="DenyOutsidePlatformRegions", effect="Deny", actions=(), not_actions=GLOBAL_SERVICE_ACTIONS,
        conditions=_outside_break_glass(p, StringNotEquals={"aws:RequestedRegion": list(p.regions)}))]


def scp_content(statements: Sequence[Statement]) -> str:
    """The SCP document, compact; refuses one AWS would refuse for its size."""
    content = policy_document(*statements, compact=True)
    if len(content) > SCP_MAX_CHARACTERS:
        raise ValueError(f"SCP of {len(content)} characters is over the {SCP_MAX_CHARACTERS} limit: "
                         f"{[s.sid for s in statements]}")
    return content


class Guardrails(Construct):
    """The two SCPs and one attachment per (policy, target)."""

    def __init__(self, scope: Construct, id: str, props: GuardrailsProps):
        super().__init__(scope, id)
        documents = {
            "payments-guardrails": ("No leaving the organisation, no stopping CloudTrail, no deleting the audit "
                                    "buckets or the platform's keys, outside break-glass",
                                    protection_statements(props)),
            "payments-regions": (f"Only {', '.join(props.regions)} (global services exempt), outside break-glass",
                                 region_statements(props)),
        }
        self.policies: dict[str, OrganizationsPolicy] = {}
        for name, (description, statements) in documents.items():
            policy = OrganizationsPolicy(self, name, name=name, description=description,
                                         type="SERVICE_CONTROL_POLICY", content=scp_content(statements))
            self.policies[name] = policy
            # One attachment per target, keyed by the target: adding one never replaces the others.
            for target in props.targets:
                OrganizationsPolicyAttachment(self, f"{name}-{target}", policy_id=policy.id, target_id=target)
