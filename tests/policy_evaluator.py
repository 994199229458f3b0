"""A small evaluator of the Deny statements of service control policies, for the tests.

It answers one question: which statement of these policies denies this request (action, resource,
request context), if any. It knows exactly the policy grammar the guardrails use (Action/NotAction,
Resource, the condition operators below, the ForAnyValue qualifier) and refuses anything else, so a
statement it cannot read fails the test instead of being taken as "no deny".
Semantics as IAM documents them: wildcards ``*`` and ``?`` (actions case-insensitively), a condition
key absent from the request matches only a negated operator, and every operator and key of a
statement's Condition must hold.
"""

from __future__ import annotations

import fnmatch
import re
from typing import Any, Mapping, Sequence

Context = Mapping[str, "str | Sequence[str]"]
POSITIVE = {"StringEquals": False, "StringLike": True, "ArnEquals": False, "ArnLike": True}
NEGATED = {"StringNotEquals": "StringEquals", "StringNotLike": "StringLike", "ArnNotEquals": "ArnEquals",
           "ArnNotLike": "ArnLike"}


def _like(pattern: str, value: str, case_sensitive: bool = True) -> bool:
    regex = fnmatch.translate(pattern).replace("[", r"\[")  # IAM has no character classes
    return re.fullmatch(regex, value, 0 if case_sensitive else re.IGNORECASE) is not None


def _listed(value: Any) -> list[str]:
    return [value] if isinstance(value, str) else list(value)


def _matches(operator: str, expected: list[str], value: str) -> bool:
    wildcard = POSITIVE[operator]
    return any(_like(e, value) if wildcard else e == value for e in expected)


def _condition_holds(qualified: str, tests: Mapping[str, Any], context: Context) -> bool:
    qualifier, _, operator = qualified.rpartition(":")
    if qualifier not in ("", "ForAnyValue") or operator not in {**POSITIVE, **NEGATED}:
        raise ValueError(f"the evaluator does not know the condition operator {qualified}")
    for key, expected in tests.items():
        present = key in context
        values = _listed(context[key]) if present else []
        positive = NEGATED.get(operator, operator)
        if qualifier == "ForAnyValue":
            if operator in NEGATED:
                raise ValueError(f"the evaluator does not know {qualified}")
            holds = any(_matches(positive, _listed(expected), v) for v in values)
        elif not present:
            holds = operator in NEGATED
        else:
            [value] = values  # a single-valued key
            holds = _matches(positive, _listed(expected), value) != (operator in NEGATED)
        if not holds:
            return False
    return True


def _statement_denies(statement: Mapping[str, Any], action: str, resource: str, context: Context) -> bool:
    unknown = set(statement) - {"Sid", "Effect", "Action", "NotAction", "Resource", "Condition"}
    if unknown or statement["Effect"] != "Deny":
        raise ValueError(f"the evaluator reads Deny statements of Action/NotAction/Resource/Condition, not {statement}")
    if "Action" in statement:
        acts = any(_like(a, action, case_sensitive=False) for a in _listed(statement["Action"]))
    else:
        acts = not any(_like(a, action, case_sensitive=False) for a in _listed(statement["NotAction"]))
    on_resource = any(_like(r, resource) for r in _listed(statement.get("Resource", "*")))
    return acts and on_resource and all(_condition_holds(op, tests, context)
                                        for op, tests in statement.get("Condition", {}).items())


def denied_by(policies: Sequence[Mapping[str, Any]], action: str, resource: str, context: Context) -> list[str]:
    """The Sids of every statement of ``policies`` that denies the request (empty: not denied)."""
    if "aws:PrincipalArn" not in context:
        raise ValueError("a request always has aws:PrincipalArn")
    return [s.get("Sid", "?") for p in policies for s in p["Statement"]
            if _statement_denies(s, action, resource, context)]
