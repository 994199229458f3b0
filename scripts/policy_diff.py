"""What a plan changes in a policy: a short digest before -> after and a statement-level diff.

scripts/plan_summary.py prints changed attribute *names* only (values can be secrets), except for
policy attributes (``policy``, ``assume_role_policy``, anything named ``*policy*``), whose values
are what a reviewer must see: a widened Deny carve-out or a new trusted principal is one attribute
name in a list otherwise. Never called for an attribute the plan marks sensitive.

A JSON policy document is normalized (one-element lists and strings alike, lists sorted) before it
is digested or compared, so a reordering is reported as such, not as a change. Statements are
matched by ``Sid``; statements without one are matched by their content. Pure functions.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any

UNKNOWN = "(known after apply)"
_LISTS = ("Action", "NotAction", "Resource", "NotResource")
_FIELDS = ("Effect", *_LISTS, "Principal", "NotPrincipal", "Condition")
MAX_TEXT = 160


def is_policy_attribute(name: str) -> bool:
    return "policy" in name.lower()


@dataclass(frozen=True)
class PolicyChange:
    """The value change of one policy attribute: digests and one line per changed statement."""

    attribute: str
    before: str
    after: str
    lines: tuple[str, ...] = ()

    def headline(self) -> str:
        return f"{self.attribute}: {self.before} → {self.after}"


def _document(value: Any) -> dict[str, Any] | None:
    """``value`` as a policy document (a JSON string with a Statement), else None."""
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError:
            return None
    if isinstance(value, dict) and "Statement" in value:
        return value
    return None


def _sorted_list(value: Any) -> list[Any]:
    items = value if isinstance(value, list) else [value]
    return sorted(items, key=lambda v: json.dumps(v, sort_keys=True))


def normalize_statement(statement: Any) -> dict[str, Any]:
    if not isinstance(statement, dict):
        return {"?": statement}
    result = dict(statement)
    for key in _LISTS:
        if key in result:
            result[key] = _sorted_list(result[key])
    for key in ("Principal", "NotPrincipal"):
        if isinstance(result.get(key), dict):
            result[key] = {k: _sorted_list(v) for k, v in result[key].items()}
    return result


def normalize(document: dict[str, Any]) -> dict[str, Any]:
    statements = document.get("Statement")
    statements = statements if isinstance(statements, list) else [statements]
    # Statement order has no meaning in IAM: sorted, so a reordering digests the same.
    return {**document, "Statement": sorted((normalize_statement(s) for s in statements), key=_canonical)}


def _canonical(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"))


def digest(value: Any) -> str:
    """``sha256:<12 hex>`` of the normalized document (or of the raw text when it is not one)."""
    document = _document(value)
    text = _canonical(normalize(document)) if document is not None else str(value)
    return "sha256:" + hashlib.sha256(text.encode()).hexdigest()[:12]


def _short(value: Any) -> str:
    text = value if isinstance(value, str) else _canonical(value)
    return text if len(text) <= MAX_TEXT else text[:MAX_TEXT - 1] + "…"


def _summary(statement: dict[str, Any]) -> str:
    """``Allow s3:GetObject on arn:...`` (or with NotAction/NotResource/Principal)."""
    parts = [str(statement.get("Effect", "?"))]
    for key, label in (("Principal", "for"), ("NotPrincipal", "for all but")):
        if key in statement:
            parts.append(f"{label} {_short(statement[key])}")
    for key, label in (("Action", ""), ("NotAction", "all but")):
        if key in statement:
            parts.append((label + " " if label else "") + ", ".join(map(str, statement[key])))
    for key, label in (("Resource", "on"), ("NotResource", "on all but")):
        if key in statement:
            parts.append(f"{label} " + ", ".join(map(str, statement[key])))
    if "Condition" in statement:
        parts.append(f"if {_short(statement['Condition'])}")
    return _short(" ".join(parts))


def _field_changes(before: dict[str, Any], after: dict[str, Any]) -> list[str]:
    changes = []
    for key in _FIELDS:
        old, new = before.get(key), after.get(key)
        if old == new:
            continue
        if key in _LISTS:
            olds, news = set(map(str, old or [])), set(map(str, new or []))
            delta = [f"+{v}" for v in sorted(news - olds)] + [f"-{v}" for v in sorted(olds - news)]
            changes.append(f"{key} {' '.join(delta)}")
        else:
            changes.append(f"{key} {_short(old) if old is not None else '(none)'} → "
                           f"{_short(new) if new is not None else '(none)'}")
    return changes


def statement_diff(before: dict[str, Any], after: dict[str, Any]) -> list[str]:
    """One line per added (+), removed (-) or changed (~) statement of two normalized documents."""
    def by_sid(doc: dict[str, Any]) -> tuple[dict[str, dict[str, Any]], list[dict[str, Any]]]:
        named = {s["Sid"]: s for s in doc["Statement"] if s.get("Sid")}
        return named, [s for s in doc["Statement"] if not s.get("Sid")]

    (old_named, old_rest), (new_named, new_rest) = by_sid(before), by_sid(after)
    lines = []
    for sid in sorted(set(old_named) | set(new_named)):
        old, new = old_named.get(sid), new_named.get(sid)
        if old is None:
            lines.append(f"+ {sid}: {_summary(new)}")
        elif new is None:
            lines.append(f"- {sid}: {_summary(old)}")
        elif old != new:
            lines.append(f"~ {sid}: " + "; ".join(_field_changes(old, new)))
    old_keys, new_keys = [_canonical(s) for s in old_rest], [_canonical(s) for s in new_rest]
    lines += [f"- (no Sid): {_summary(s)}" for s, k in zip(old_rest, old_keys) if k not in new_keys]
    lines += [f"+ (no Sid): {_summary(s)}" for s, k in zip(new_rest, new_keys) if k not in old_keys]
    if not lines and _canonical(before) != _canonical(after):
        lines.append("~ document: " + "; ".join(
            f"{k} {_short(before.get(k))} → {_short(after.get(k))}"
            for k in sorted(set(before) | set(after)) if k != "Statement" and before.get(k) != after.get(k)))
    return lines


def policy_change(attribute: str, before: Any, after: Any, after_unknown: bool = False) -> PolicyChange:
    """The change of one policy attribute from ``before`` to ``after`` (None: absent)."""
    old_doc, new_doc = _document(before), _document(after)
    old = digest(before) if before is not None else "(none)"
    if after_unknown:
        return PolicyChange(attribute, old, UNKNOWN)
    new = digest(after) if after is not None else "(none)"
    if old_doc is None and new_doc is None:
        # Not a document (a policy ARN or name): the value itself is what changed.
        return PolicyChange(attribute, _short(before) if before is not None else "(none)",
                            _short(after) if after is not None else "(none)")
    empty = {"Statement": []}
    lines = statement_diff(normalize(old_doc or empty), normalize(new_doc or empty))
    if old == new:
        lines = ["= same statements (order or formatting only)"]
    return PolicyChange(attribute, old, new, tuple(lines))
