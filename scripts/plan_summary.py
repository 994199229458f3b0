"""Summarize a Terraform plan for review, and gate deletions of stateful resources.

``python -m scripts.plan_summary PLAN_JSON [--allow-destroy ADDRESS ...] [--markdown]``

PLAN_JSON is the output of ``terraform show -json plan.out`` (``-`` reads stdin). Prints a table of
creates / updates / replaces / deletes per resource type, the changed attribute *names* of every
update (values are never printed; sensitive ones are marked), except policy attributes, whose change
is shown as a digest before → after and a statement-level diff (scripts/policy_diff.py), the
idle-cost delta of the plan per bill line (scripts/cost.py: before → after, e.g.
"+$87.60/month: aws_rds_cluster_instance"), and the resources the gate blocks.

Exit status: 0 plan may proceed; 1 the plan deletes or replaces a gated resource (a type in
``STATEFUL_TYPES`` or ``MERCHANT_HOLDERS``) whose address no ``--allow-destroy`` names; 2 the input
is not a plan.

Everything but ``main`` is a pure function over the plan JSON.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import Counter
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Iterable, Mapping, Sequence, TextIO

from scripts import cost
from scripts.policy_diff import PolicyChange, is_policy_attribute, policy_change

# Resources that hold data (or the key to it): losing one loses money records or makes them unreadable.
STATEFUL_TYPES: frozenset[str] = frozenset({
    "aws_rds_cluster",
    "aws_rds_cluster_instance",
    "aws_rds_global_cluster",      # replacing it detaches both regions' clusters (issue 21)
    "aws_db_instance",
    "aws_dynamodb_table",
    "aws_dynamodb_table_replica",  # the DR region's copy of a ledger table
    "aws_s3_bucket",
    "aws_kms_key",
    "aws_kms_replica_key",         # the DR region's key to the replicas: the copies unreadable without it
    "aws_backup_vault",            # its recovery points (the DR region's copies of the database too)
    "aws_secretsmanager_secret",
    "aws_sqs_queue",               # the audit writer's dead letters
    "aws_cloudwatch_log_group",    # audit and access logs (1 year in prod)
})
# Resources that hold merchants without holding their data in Terraform: replacing one silently cuts
# every merchant off (docs/operators/plan-review.md). The merchant registry and the ledger
# tables are aws_dynamodb_table, gated above.
MERCHANT_HOLDERS: frozenset[str] = frozenset({
    "aws_cognito_user_pool",         # every merchant's app client (id and secret) lives in it
    "aws_cognito_resource_server",   # the payments/* scopes granted to every app client
    "aws_cognito_user_pool_domain",  # the token endpoint merchants call
    "aws_api_gateway_rest_api",      # usage plans (each merchant's API key) bind to the API id
    "aws_api_gateway_stage",         # ... and to the stage
    "aws_api_gateway_domain_name",   # the custom domain merchants call
})
GATED_TYPES: frozenset[str] = STATEFUL_TYPES | MERCHANT_HOLDERS
ACTIONS = ("create", "update", "replace", "delete")
DESTRUCTIVE = frozenset({"delete", "replace"})

EXIT_OK, EXIT_BLOCKED, EXIT_INVALID = 0, 1, 2


@dataclass(frozen=True)
class Change:
    """One planned change of one resource instance (names only, never values)."""

    address: str
    type: str
    action: str                          # create, update, replace, delete, forget, read, no-op
    attributes: tuple[str, ...] = ()     # changed top-level attributes (update/replace)
    sensitive: tuple[str, ...] = ()      # those of them marked sensitive
    replace_paths: tuple[str, ...] = ()  # attributes that force a replacement
    deposed: bool = False
    policies: tuple[PolicyChange, ...] = ()  # value changes of non-sensitive policy attributes

    @property
    def destructive(self) -> bool:
        return self.action in DESTRUCTIVE


class PlanError(ValueError):
    """The input is not a Terraform JSON plan."""


def action_of(actions: Sequence[str]) -> str:
    """Terraform's action list -> one word (``["delete", "create"]`` is a replacement)."""
    acts = list(actions)
    if sorted(acts) == ["create", "delete"]:
        return "replace"
    if len(acts) == 1:
        return acts[0]
    raise PlanError(f"unknown action list {acts}")


def _is_sensitive(marker: Any) -> bool:
    """A ``before_sensitive``/``after_sensitive`` entry: true, or a structure containing true."""
    if isinstance(marker, bool):
        return marker
    if isinstance(marker, Mapping):
        return any(_is_sensitive(v) for v in marker.values())
    if isinstance(marker, list):
        return any(_is_sensitive(v) for v in marker)
    return False


def changed_attributes(change: Mapping[str, Any]) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """(changed top-level attribute names, the sensitive ones among them) of one ``change`` block."""
    before = change.get("before") or {}
    after = change.get("after") or {}
    unknown = change.get("after_unknown") or {}
    sens_before = change.get("before_sensitive") or {}
    sens_after = change.get("after_sensitive") or {}
    if not isinstance(before, Mapping) or not isinstance(after, Mapping):
        return (), ()
    names = sorted(k for k in set(before) | set(after)
                   if before.get(k) != after.get(k) or _is_sensitive(unknown.get(k)))
    sensitive = [k for k in names if _is_sensitive(sens_before.get(k)) or _is_sensitive(sens_after.get(k))]
    return tuple(names), tuple(sensitive)


def policy_changes(change: Mapping[str, Any], attributes: Sequence[str],
                   sensitive: Sequence[str]) -> tuple[PolicyChange, ...]:
    """Digest and statement diff of each changed, non-sensitive ``*policy*`` attribute."""
    before = change.get("before") or {}
    after = change.get("after") or {}
    unknown = change.get("after_unknown") or {}
    if not isinstance(before, Mapping) or not isinstance(after, Mapping):
        return ()
    return tuple(policy_change(name, before.get(name), after.get(name), _is_sensitive(unknown.get(name)))
                 for name in attributes
                 if is_policy_attribute(name) and name not in sensitive
                 and all(isinstance(v, (str, type(None))) for v in (before.get(name), after.get(name))))


def _path_name(path: Any) -> str:
    return ".".join(str(p) for p in path) if isinstance(path, list) else str(path)


def parse_changes(plan: Mapping[str, Any]) -> list[Change]:
    """Every managed-resource change of the plan except no-ops and reads."""
    if not isinstance(plan, Mapping) or "format_version" not in plan:
        raise PlanError("not a Terraform JSON plan (no format_version): use `terraform show -json plan.out`")
    result = []
    for rc in plan.get("resource_changes") or []:
        if rc.get("mode", "managed") != "managed":
            continue
        change = rc.get("change") or {}
        action = action_of(change.get("actions") or ["no-op"])
        if action in ("no-op", "read"):
            continue
        attributes, sensitive = changed_attributes(change) if action in ("update", "replace") else ((), ())
        result.append(Change(
            address=rc["address"], type=rc["type"], action=action, attributes=attributes,
            sensitive=sensitive,
            replace_paths=tuple(_path_name(p) for p in change.get("replace_paths") or ()),
            deposed=bool(rc.get("deposed")),
            policies=policy_changes(change, attributes, sensitive),
        ))
    return result


def counts_by_type(changes: Iterable[Change]) -> dict[str, Counter[str]]:
    """resource type -> Counter of actions."""
    table: dict[str, Counter[str]] = {}
    for c in changes:
        table.setdefault(c.type, Counter())[c.action] += 1
    return dict(sorted(table.items()))


def totals(changes: Iterable[Change]) -> Counter[str]:
    return Counter(c.action for c in changes)


def blocked_changes(changes: Iterable[Change], allow: Iterable[str] = (),
                    stateful_types: Iterable[str] = GATED_TYPES) -> list[Change]:
    """Deletes/replacements of stateful resources or merchant holders whose address is not
    explicitly allowed.

    A deposed object (left over from an earlier create-before-destroy) is the old copy of a
    replacement already made, so its deletion is not blocked.
    """
    allowed, stateful = set(allow), set(stateful_types)
    return [c for c in changes
            if c.destructive and c.type in stateful and not c.deposed and c.address not in allowed]


def unused_allows(changes: Iterable[Change], allow: Iterable[str]) -> list[str]:
    """--allow-destroy addresses that this plan neither deletes nor replaces (likely a typo)."""
    destroyed = {c.address for c in changes if c.destructive}
    return sorted(set(allow) - destroyed)


@dataclass(frozen=True)
class CostDelta:
    """One bill line whose idle monthly cost the plan changes (scripts/cost.py prices both sides)."""

    type: str
    what: str
    before: Decimal
    after: Decimal

    @property
    def delta(self) -> Decimal:
        return self.after - self.before


def cost_deltas(plan: Mapping[str, Any], prices: cost.PriceTable) -> tuple[list[CostDelta], Decimal, Decimal,
                                                                          list[cost.Line]]:
    """(changed lines, idle total before, idle total after, unpriced lines after the plan)."""
    before = cost.price(cost.plan_resources(plan, "before"), prices)
    after = cost.price(cost.plan_resources(plan, "after"), prices)
    sums: dict[tuple[str, str], list[Decimal]] = {}
    for index, lines in enumerate((before, after)):
        for line in lines:
            if line.monthly is not None:
                sums.setdefault(line.key, [Decimal(0), Decimal(0)])[index] += line.monthly
    deltas = [CostDelta(t, w, b, a) for (t, w), (b, a) in sorted(sums.items()) if a != b]
    deltas.sort(key=lambda d: (-abs(d.delta), d.type, d.what))
    known_before = {ln.key for ln in cost.unpriced(before)}
    new_unpriced = [ln for ln in cost.unpriced(after) if ln.key not in known_before]
    return deltas, cost.total(before), cost.total(after), new_unpriced


def render_cost(plan: Mapping[str, Any], prices: cost.PriceTable, markdown: bool = False) -> list[str]:
    deltas, before, after, new_unpriced = cost_deltas(plan, prices)
    bullet = "- " if markdown else "  "
    lines = ["", "**Idle cost**" if markdown else "Idle cost:",
             f"{cost.usd(before)}/month → {cost.usd(after)}/month ({cost.usd(after - before, sign=True)}/month; "
             f"{prices.hours:f} h, zero traffic, {prices.region} list prices of {prices.as_of}, scripts/prices.json)"]
    lines += [f"{bullet}{cost.usd(d.delta, sign=True)}/month: {d.type} {d.what} "
              f"({cost.usd(d.before)} → {cost.usd(d.after)})" for d in deltas]
    if new_unpriced:
        lines.append("Unpriced (may cost money at idle, not counted): "
                     + ", ".join(f"{ln.type} ({ln.what})" for ln in new_unpriced))
    return lines


def _detail(c: Change) -> str:
    names = [f"{n} (sensitive)" if n in c.sensitive else n for n in c.attributes]
    parts = []
    if c.action == "replace" and c.replace_paths:
        parts.append("forces replacement: " + ", ".join(c.replace_paths))
    if names:
        parts.append("changed: " + ", ".join(names))
    if c.deposed:
        parts.append("deposed object")
    return "; ".join(parts)


def render(changes: Sequence[Change], allow: Iterable[str] = (),
           stateful_types: Iterable[str] = GATED_TYPES, markdown: bool = False,
           cost_lines: Sequence[str] = ()) -> str:
    """The review text: counts per type, the idle-cost delta, the changes in detail, and the gate's
    verdict."""
    allow = list(allow)
    blocked = blocked_changes(changes, allow, stateful_types)
    table = counts_by_type(changes)
    total = totals(changes)
    lines: list[str] = []
    if markdown:
        lines += ["### Terraform plan", ""]
    headline = ", ".join(f"{total[a]} to {a}" for a in ACTIONS)
    lines.append(f"Plan: {headline}." if changes else "No changes. Infrastructure matches the configuration.")
    if total.get("forget"):
        lines.append(f"{total['forget']} to forget (removed from state, not destroyed).")
    if table:
        lines.append("")
        if markdown:
            lines += ["| resource type | " + " | ".join(ACTIONS) + " |",
                      "| --- |" + " ---: |" * len(ACTIONS)]
            lines += [f"| `{t}` | " + " | ".join(str(n[a] or "") for a in ACTIONS) + " |"
                      for t, n in table.items()]
        else:
            width = max(len("resource type"), *(len(t) for t in table))
            lines.append(f"{'resource type':<{width}}  " + "  ".join(f"{a:>7}" for a in ACTIONS))
            lines += [f"{t:<{width}}  " + "  ".join(f"{(n[a] or ''):>7}" for a in ACTIONS)
                      for t, n in table.items()]
    lines += cost_lines
    detailed = [c for c in changes if c.action in ("update", "replace", "delete", "forget")]
    if detailed:
        lines += ["", "Changes:" if not markdown else "**Changes**", ""]
        symbol = {"update": "~", "replace": "-/+", "delete": "-", "forget": "."}
        for c in detailed:
            detail = _detail(c)
            text = f"{symbol[c.action]} {c.address}" + (f"  ({detail})" if detail else "")
            lines.append(f"- `{symbol[c.action]} {c.address}`" + (f" {detail}" if detail else "")
                         if markdown else f"  {text}")
            for policy in c.policies:
                lines.append(f"  - `{policy.headline()}`" if markdown else f"      {policy.headline()}")
                lines += [f"    - `{line}`" if markdown else f"        {line}" for line in policy.lines]
    lines.append("")
    if blocked:
        lines.append(("**BLOCKED**: " if markdown else "BLOCKED: ")
                     + "this plan deletes or replaces stateful resources or what holds merchants:")
        why = {c.address: f"{c.action}{', holds merchants' if c.type in MERCHANT_HOLDERS else ''}" for c in blocked}
        lines += [f"- `{c.address}` ({why[c.address]})" if markdown else f"  {c.address} ({why[c.address]})"
                  for c in blocked]
        lines.append("If that is intended, re-run with --allow-destroy ADDRESS for each of them "
                     "(see docs/operators/plan-review.md).")
    else:
        lines.append("Gate: passed (no stateful resource or merchant holder is deleted or replaced "
                     "without an allow).")
    allowed = [c for c in changes if c.destructive and c.address in set(allow) and c.type in set(stateful_types)]
    if allowed:
        lines.append("Allowed deliberately: " + ", ".join(f"{c.address} ({c.action})" for c in allowed))
    for address in unused_allows(changes, allow):
        lines.append(f"Note: --allow-destroy {address} matches nothing this plan deletes or replaces.")
    return "\n".join(lines) + "\n"


def load_plan(source: str, stdin: TextIO = sys.stdin) -> dict[str, Any]:
    text = stdin.read() if source == "-" else open(source, encoding="utf-8").read()
    try:
        return json.loads(text)
    except json.JSONDecodeError as err:
        raise PlanError(f"{source}: not JSON ({err})") from None


def main(argv: Sequence[str] | None = None, out: TextIO = sys.stdout) -> int:
    parser = argparse.ArgumentParser(prog="python -m scripts.plan_summary", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("plan_json", help="output of `terraform show -json plan.out`, or - for stdin")
    parser.add_argument("--allow-destroy", action="append", default=[], metavar="ADDRESS",
                        help="resource address whose deletion/replacement is intended (repeatable)")
    parser.add_argument("--markdown", action="store_true",
                        help="GitHub-flavoured Markdown (job summary, PR comment)")
    args = parser.parse_args(argv)
    try:
        plan = load_plan(args.plan_json)
        changes = parse_changes(plan)
    except (OSError, PlanError) as err:
        print(f"error: {err}", file=sys.stderr)
        return EXIT_INVALID
    cost_lines = render_cost(plan, cost.load_prices(), markdown=args.markdown)
    out.write(render(changes, args.allow_destroy, markdown=args.markdown, cost_lines=cost_lines))
    return EXIT_BLOCKED if blocked_changes(changes, args.allow_destroy) else EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
