"""Rehearsal mode (PAYMENTS_AWS_ENDPOINT set): what the local AWS endpoint cannot emulate.

Owned by the rehearsal; production synth never calls into this module (PaymentStack calls
``apply_rehearsal_overrides`` only when ``settings.rehearsal``), so nothing here can reach a real
account. Every deviation of the rehearsed stack from the production one is one entry of
``EXCLUSIONS``, keyed by resource type (``aws_x``) or attribute (``aws_x.attr``), never by a
resource name, so resources added later are covered by the same rule. See docs/rehearsal.md.

Kinds:
  ``ignore_changes``   ``aws_x.attr``: moto accepts the attribute but does not store/return it, so the
                       re-plan after apply shows a diff; the rehearsal adds ``lifecycle.ignore_changes``.
  ``not_emulated``     ``aws_x``: moto cannot create it at all; the rehearsal sets ``count = 0``
                       (nothing may reference such a resource's attributes directly).
  ``keep_on_destroy``  ``aws_x``: created and planned, but moto cannot delete it; scripts/rehearse.py
                       removes it from the state before ``terraform destroy`` (the endpoint is
                       thrown away afterwards).

This module is pure Python at import time (scripts/rehearse.py reads EXCLUSIONS without jsii).
"""

from __future__ import annotations

from typing import Any, NamedTuple

KINDS = ("ignore_changes", "not_emulated", "keep_on_destroy")


class Exclusion(NamedTuple):
    """One thing the rehearsal does not rehearse: target, why, and the exact error seen."""

    target: str  # "aws_type" or "aws_type.attribute"
    reason: str
    error: str
    kind: str = "ignore_changes"

    @property
    def resource_type(self) -> str:
        return self.target.split(".", 1)[0]

    @property
    def attribute(self) -> str | None:
        return self.target.split(".", 1)[1] if "." in self.target else None


# One list, printed in every rehearsal report. Measured against moto 5.2.5, hashicorp/aws 5.100.0,
# Terraform 1.11.4. An entry for a type the stack does not have is inert.
EXCLUSIONS: list[Exclusion] = [
]


def validate(exclusions: list[Exclusion] = EXCLUSIONS) -> None:
    """Every entry is well formed: a known kind, attribute exactly for ignore_changes."""
    for e in exclusions:
        if e.kind not in KINDS:
            raise ValueError(f"exclusion {e.target}: unknown kind {e.kind!r}")
        if not e.resource_type.startswith("aws_"):
            raise ValueError(f"exclusion {e.target}: not an aws_ resource type")
        if (e.attribute is None) == (e.kind == "ignore_changes"):
            raise ValueError(f"exclusion {e.target}: {e.kind} needs "
                             f"{'an attribute' if e.kind == 'ignore_changes' else 'a resource type'}")
        if not e.reason or not e.error:
            raise ValueError(f"exclusion {e.target}: reason and exact error are required")


def overrides_for(resource_type: str, existing_ignore: list[str] | None = None,
                  exclusions: list[Exclusion] = EXCLUSIONS) -> dict[str, Any]:
    """The overrides (path -> value) rehearsal mode puts on a resource of ``resource_type``."""
    mine = [e for e in exclusions if e.resource_type == resource_type]
    result: dict[str, Any] = {}
    if any(e.kind == "not_emulated" for e in mine):
        result["count"] = 0
    ignored = [e.attribute for e in mine if e.kind == "ignore_changes" and e.attribute]
    if ignored:
        result["lifecycle.ignore_changes"] = sorted(set(existing_ignore or []) | set(ignored))
    return result


def apply_rehearsal_overrides(stack: Any) -> None:
    """Adjust a stack for the local endpoint only; see EXCLUSIONS.

    Walks every construct of the stack once (call it last, after all resources exist) and adds the
    overrides of ``overrides_for`` to each TerraformResource whose type has an exclusion.
    """
    from cdktf import TerraformResource  # jsii only when a stack is being built

    validate()
    for node in stack.node.find_all():
        if not isinstance(node, TerraformResource):
            continue
        lifecycle = node.lifecycle
        existing = list(getattr(lifecycle, "ignore_changes", None) or []) if lifecycle else []
        for path, value in overrides_for(node.terraform_resource_type, existing).items():
            node.add_override(path, value)
