"""Small helpers to write IAM/resource policies as plain, reviewable JSON documents."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Sequence


@dataclass(frozen=True)
class Statement:
    """One policy statement. ``principals`` maps a principal type to its identifiers."""

    sid: str
    actions: Sequence[str]
    resources: Sequence[str] = ("*",)
    effect: str = "Allow"
    principals: dict[str, Sequence[str] | str] = field(default_factory=dict)
    conditions: dict[str, dict[str, object]] = field(default_factory=dict)
    # Every resource except these (a Deny that carves out what a role may still read).
    not_resources: Sequence[str] = ()
    # Every action except these, instead of ``actions`` (a permissions boundary's ceiling).
    not_actions: Sequence[str] = ()

    def to_json(self) -> dict[str, object]:
        doc: dict[str, object] = {"Sid": self.sid, "Effect": self.effect}
        if self.principals:
            doc["Principal"] = {k: (list(v) if not isinstance(v, str) else v)
                                for k, v in self.principals.items()}
        if self.not_actions:
            doc["NotAction"] = list(self.not_actions)
        else:
            doc["Action"] = list(self.actions)
        if self.resources:  # trust policies name no resource
            doc["Resource"] = list(self.resources)
        if self.not_resources:
            doc["NotResource"] = list(self.not_resources)
        if self.conditions:
            doc["Condition"] = self.conditions
        return doc


def policy_document(*statements: Statement) -> str:
    """A policy document as a JSON string; tokens inside stay tokens for cdktf to resolve."""
    return json.dumps({"Version": "2012-10-17", "Statement": [s.to_json() for s in statements]})


# Services that put no aws:SourceAccount / aws:SourceArn in the request context when they assume a
# role. A condition on a key that is absent never matches, so such a trust policy could not be used at
# all; these services' roles are protected by iam:PassRole (only principals of this account can hand
# the role to the service) instead. tests/test_trust_policies.py keeps its own copy of this list.
SERVICES_WITHOUT_SOURCE_CONTEXT = {
    # The execution role: Lambda documents no source context on this AssumeRole (it injects
    # lambda:SourceFunctionArn into the *session*, which only identity policies can use).
    "lambda.amazonaws.com",
    # The region-wide CloudWatch logging role of API Gateway (aws_api_gateway_account): AWS documents
    # no confused-deputy keys for it, and UpdateAccount rejects a role API Gateway cannot assume.
    "apigateway.amazonaws.com",
}


def assume_role_policy(service: str, *, source_account: str | None,
                       source_arn: str | Sequence[str] | None = None, sid: str = "TrustService") -> str:
    """Trust policy letting one AWS service assume a role, on behalf of this account only.

    Every caller states ``source_account`` (the account whose resources may make the service use the
    role) and, where the service sends it, ``source_arn`` (``ArnLike`` patterns of those resources),
    so the service cannot be made to use the role for another account's resources (confused deputy).
    ``source_account=None`` is accepted only for ``SERVICES_WITHOUT_SOURCE_CONTEXT``.
    """
    conditions: dict[str, dict[str, object]] = {}
    if source_account is None:
        if service not in SERVICES_WITHOUT_SOURCE_CONTEXT or source_arn is not None:
            raise ValueError(f"trust policy for {service} needs source_account (confused-deputy guard)")
    else:
        conditions["StringEquals"] = {"aws:SourceAccount": source_account}
    if source_arn is not None:
        conditions["ArnLike"] = {"aws:SourceArn": source_arn if isinstance(source_arn, str) else list(source_arn)}
    return policy_document(Statement(
        sid=sid, actions=["sts:AssumeRole"], resources=(), principals={"Service": service},
        conditions=conditions,
    ))
