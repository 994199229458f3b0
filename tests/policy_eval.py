"""A small IAM policy evaluator for the shapes the synthesized identity policies use, so tests can ask
"may this role do X on Y with context Z?" of the real documents.

Implements: Allow/Deny, Action/NotAction and Resource/NotResource with ``*``/``?`` wildcards (actions
case-insensitive), explicit Deny over Allow over implicit deny, and the condition operators below,
with IAM's rules for a key missing from the request (``...IfExists`` is not used here). An operator
it does not know raises: a policy shape this evaluator cannot judge fails the test, never passes it.
"""

from __future__ import annotations

import re
from typing import Any, Iterable, Mapping

Context = Mapping[str, object]  # condition key -> str or list of str (multivalued keys)


def _values(value: object) -> list[str]:
    return [str(v) for v in value] if isinstance(value, (list, tuple)) else [str(value)]


def _like(pattern: str, value: str, case: bool = True) -> bool:
    regex = re.escape(pattern).replace(r"\*", ".*").replace(r"\?", ".")
    return re.fullmatch(regex, value, 0 if case else re.IGNORECASE) is not None


# operator -> (test of one request value against one policy value, negated?)
_SINGLE = {
    "StringEquals": (lambda v, p: v == p, False),
    "StringNotEquals": (lambda v, p: v == p, True),
    "StringLike": (lambda v, p: _like(p, v), False),
    "StringNotLike": (lambda v, p: _like(p, v), True),
    "ArnEquals": (lambda v, p: v == p, False),
    "ArnLike": (lambda v, p: _like(p, v), False),
    "ArnNotEquals": (lambda v, p: v == p, True),
    "ArnNotLike": (lambda v, p: _like(p, v), True),
    "Bool": (lambda v, p: v.lower() == p.lower(), False),
}


def _condition_holds(operator: str, key: str, wanted: object, context: Context) -> bool:
    qualifier, _, base = operator.rpartition(":")
    if base not in _SINGLE or qualifier not in ("", "ForAnyValue", "ForAllValues"):
        raise NotImplementedError(f"condition operator {operator!r}")
    test, negated = _SINGLE[base]
    policy_values = _values(wanted)
    present = key in context
    request_values = _values(context[key]) if present else []
    if qualifier == "ForAllValues":
        # True when every request value passes (vacuously true for a missing key).
        return all((not any(test(v, p) for p in policy_values)) if negated else any(test(v, p) for p in policy_values)
                   for v in request_values)
    if qualifier == "ForAnyValue":
        return any((not any(test(v, p) for p in policy_values)) if negated else any(test(v, p) for p in policy_values)
                   for v in request_values)
    if not present:
        return negated  # a negated operator matches a missing key; every other operator does not
    matched = any(test(v, p) for v in request_values for p in policy_values)
    return not matched if negated else matched


def _matches(patterns: Iterable[str], value: str, case: bool) -> bool:
    return any(_like(p, value, case) for p in patterns)


def statement_applies(st: Mapping[str, Any], action: str, resource: str, context: Context) -> bool:
    if "Action" in st and not _matches(_values(st["Action"]), action, case=False):
        return False
    if "NotAction" in st and _matches(_values(st["NotAction"]), action, case=False):
        return False
    if "Resource" in st and not _matches(_values(st["Resource"]), resource, case=True):
        return False
    if "NotResource" in st and _matches(_values(st["NotResource"]), resource, case=True):
        return False
    for operator, keys in st.get("Condition", {}).items():
        for key, wanted in keys.items():
            if not _condition_holds(operator, key, wanted, context):
                return False
    return True


def decide(policies: Iterable[Mapping[str, Any]], action: str, resource: str,
           context: Context | None = None) -> str:
    """"Deny" (explicit), "Allow", or "ImplicitDeny" for one request against identity policies."""
    context = context or {}
    allowed = False
    for policy in policies:
        statements = policy["Statement"]
        for st in [statements] if isinstance(statements, dict) else statements:
            if statement_applies(st, action, resource, context):
                if st["Effect"] == "Deny":
                    return "Deny"
                allowed = True
    return "Allow" if allowed else "ImplicitDeny"


def denied_by(policies: Iterable[Mapping[str, Any]], action: str, resource: str, context: Context) -> list[str]:
    """The Sids of every Deny statement of ``policies`` that applies to the request (empty: not
    denied); for service control policies, which only ever deny here."""
    if "aws:PrincipalArn" not in context:
        raise ValueError("a request always has aws:PrincipalArn")
    found = []
    for policy in policies:
        statements = policy["Statement"]
        for st in [statements] if isinstance(statements, dict) else statements:
            if st["Effect"] == "Deny" and statement_applies(st, action, resource, context):
                found.append(st.get("Sid", "?"))
    return found


def like(pattern: str, value: str) -> bool:
    """IAM's ``*``/``?`` wildcard match (case-sensitive, as for ARNs)."""
    return _like(pattern, value)


# AWS managed policies the CI roles attach, as the evaluator must assume them: everything allowed
# (the worst case: the Denies must hold whatever the managed policy grants).
ALLOW_EVERYTHING = {"Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}
