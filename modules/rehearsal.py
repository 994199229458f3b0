"""Rehearsal mode (PAYMENTS_AWS_ENDPOINT set): what the local AWS endpoint cannot emulate.

Owned by the rehearsal; production synth never calls into this module.
"""

from __future__ import annotations

from cdktf import TerraformStack

# One list, printed in every rehearsal report: (resource type or attribute, reason, error seen).
EXCLUSIONS: list[tuple[str, str, str]] = []


def apply_rehearsal_overrides(stack: TerraformStack) -> None:
    """Adjust a stack for the local endpoint only; see EXCLUSIONS."""
