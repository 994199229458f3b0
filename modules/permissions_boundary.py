"""The permissions boundary on every role of an environment stack.

A CI deploy role may create or change a role only when it carries the account's boundary
(modules/ci_identities.py: ``DenyRolesWithoutTheBoundary``), so the environment stack attaches it to
each of its roles, including roles added later, through one aspect: a role without it would make the
deploy fail with AccessDenied, and a role with it can never administer identities or lift the
account's fences, whatever its own policies say.
"""

from __future__ import annotations

from typing import Any

import jsii
from cdktf import Aspects, IAspect, TerraformResource

from modules.ci_identities import BOUNDARY_NAME

ROLE_TYPE = "aws_iam_role"


def boundary_arn(partition: str, account_id: str) -> str:
    return f"arn:{partition}:iam::{account_id}:policy/{BOUNDARY_NAME}"


@jsii.implements(IAspect)
class _Boundary:
    def __init__(self, arn: str):
        self.arn = arn

    def visit(self, node: Any) -> None:
        if isinstance(node, TerraformResource) and node.terraform_resource_type == ROLE_TYPE:
            node.add_override("permissions_boundary", self.arn)


def bound_every_role(stack: Any, arn: str) -> None:
    """Give every ``aws_iam_role`` under ``stack`` the boundary ``arn`` (at synth time)."""
    Aspects.of(stack).add(_Boundary(arn))
