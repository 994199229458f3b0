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

    def to_json(self) -> dict[str, object]:
        doc: dict[str, object] = {"Sid": self.sid, "Effect": self.effect}
        if self.principals:
            doc["Principal"] = {k: (list(v) if not isinstance(v, str) else v)
                                for k, v in self.principals.items()}
        doc["Action"] = list(self.actions)
        if self.resources:  # trust policies name no resource
            doc["Resource"] = list(self.resources)
        if self.conditions:
            doc["Condition"] = self.conditions
        return doc


def policy_document(*statements: Statement) -> str:
    """A policy document as a JSON string; tokens inside stay tokens for cdktf to resolve."""
    return json.dumps({"Version": "2012-10-17", "Statement": [s.to_json() for s in statements]})


def assume_role_policy(service: str) -> str:
    """Trust policy letting one AWS service assume a role."""
    return policy_document(Statement(
        sid="TrustService", actions=["sts:AssumeRole"], resources=(), principals={"Service": service},
    ))
