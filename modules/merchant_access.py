"""Merchant data access: the IAM roles through which the functions reach merchant data, each allowed
only under the calling merchant's key prefix (the SaaS tenant-isolation pattern with session tags).

How it works: a function's own role may not touch merchant data; it may only ``sts:AssumeRole``
its merchant-data role with the session tag ``merchant_id=<app client id>`` (taken from the
verified authorizer claims). The trust policy names that one function role, requires the tag and
allows no other tag. The role's policy allows the DynamoDB item actions only where
``ForAllValues:StringLike dynamodb:LeadingKeys = ["${aws:PrincipalTag/merchant_id}#*"]``: the
partition key of every item the request touches must start with the session's merchant and "#".

IAM semantics this relies on (AWS DynamoDB developer guide, "Using IAM with DynamoDB transactions"
and "Using IAM policy conditions for fine-grained access control"):
- TransactWriteItems is authorized item by item, as the underlying PutItem/UpdateItem/DeleteItem
  (``dynamodb:ConditionCheckItem`` for ConditionCheck), each with that item's own leading key. So
  the idempotency and activity puts inside the payment transaction are each held to the prefix.
- ``dynamodb:LeadingKeys`` is the partition key value(s) of the request. ``ForAllValues`` is
  vacuously true for a request with no leading keys (Scan), so no action without a key (Scan,
  PartiQL) is ever granted here. StringLike, not StringEquals: the key is "<merchant>#<...>".
- A Query on a global secondary index is authorized on the index ARN, and its leading key is the
  index partition key value in the key condition. No function queries an index any more (scoring
  reads the activity item, strongly consistent), so no role grants Query at all.

Every table a merchant-data role touches is keyed "<merchant>#...", the transactions table (the
ledger, ``"<merchant>#<transaction_id>"``) included, so every DynamoDB statement of these roles
carries the LeadingKeys condition; tests/test_compute.py walks the synthesized policies and fails
on any DynamoDB statement without it. What IAM still cannot require is ``attribute_not_exists``: a
merchant session could overwrite one of its OWN transactions. That is a MODIFY stream event, which
the audit writer files as a change object and counts for the ledger-changes alarm
(lambdas/shared/python/payments_core/audit.py). ``${...}`` is Terraform interpolation syntax, so the
policy variable is written ``$${...}`` and Terraform renders the literal ``${...}`` IAM expects.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

from constructs import Construct
from cdktf_cdktf_provider_aws.iam_role import IamRole
from cdktf_cdktf_provider_aws.iam_role_policy import IamRolePolicy

from modules.iam import Statement, policy_document

MERCHANT_TAG = "merchant_id"
# Terraform renders "$${" as a literal "${": IAM then substitutes the session's merchant tag.
OWN_MERCHANT_KEYS = f"$${{aws:PrincipalTag/{MERCHANT_TAG}}}#*"
SESSION_SECONDS = 3600


def own_merchant_keys_only() -> dict[str, dict[str, object]]:
    """Condition: every partition key the request touches starts with "<session merchant>#"."""
    return {"ForAllValues:StringLike": {"dynamodb:LeadingKeys": [OWN_MERCHANT_KEYS]}}


def merchant_trust_policy(caller_role_arns: Sequence[str]) -> str:
    """Only these roles may assume, and only with exactly one non-empty ``merchant_id`` tag."""
    return policy_document(Statement(
        sid="CallerAssumesForOneMerchant", actions=["sts:AssumeRole", "sts:TagSession"], resources=(),
        principals={"AWS": list(caller_role_arns)},
        conditions={
            "StringLike": {f"aws:RequestTag/{MERCHANT_TAG}": "?*"},
            "ForAllValues:StringEquals": {"aws:TagKeys": [MERCHANT_TAG]},
        },
    ))


@dataclass(frozen=True)
class MerchantRoleProps:
    name: str                       # physical role name
    caller_role_arns: Sequence[str]
    statements: Sequence[Statement]


class MerchantDataRole(Construct):
    """One merchant-data role: trusted by its caller functions, scoped by the session's merchant tag."""

    def __init__(self, scope: Construct, id: str, props: MerchantRoleProps):
        super().__init__(scope, id)
        self.role = IamRole(self, "role", name=props.name, max_session_duration=SESSION_SECONDS,
                            assume_role_policy=merchant_trust_policy(props.caller_role_arns))
        IamRolePolicy(self, "policy", role=self.role.id, name=f"{props.name}-own-merchant-only",
                      policy=policy_document(*props.statements))
        self.arn = self.role.arn
