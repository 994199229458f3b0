"""Rules for the VPC: the block must hold the subnet plan of modules/network.py."""

from __future__ import annotations

import ipaddress
from typing import TYPE_CHECKING

from modules.settings_rules.errors import SettingsError

if TYPE_CHECKING:
    from modules.settings import Settings

# modules/network.py cuts the VPC into 9 /24 subnets (3 tiers x 3 AZs): a /20 holds 16, a /21 only 8.
# AWS accepts VPC blocks from /16 to /28.
VPC_MIN_PREFIX, VPC_MAX_PREFIX = 16, 20
# What the checks below accept, in words: the settings reference (docs/maintainers/settings.md) prints it.
RULES = {"vpc_cidr": f"an IPv4 CIDR block, no host bits set, /{VPC_MIN_PREFIX} to /{VPC_MAX_PREFIX}"}


def check_network(s: Settings) -> None:
    """The VPC CIDR."""
    if problem := vpc_cidr_problem(s.vpc_cidr):
        raise SettingsError("vpc_cidr", f"{s.vpc_cidr!r} {problem}")


def vpc_cidr_problem(cidr: str) -> str | None:
    """Why the VPC block cannot hold the subnet plan of modules/network.py, or None."""
    try:
        network = ipaddress.ip_network(cidr, strict=False)
    except ValueError:
        return "is not an IPv4 CIDR block such as 10.0.0.0/16"
    if network.version != 4 or "/" not in cidr:
        return "is not an IPv4 CIDR block such as 10.0.0.0/16"
    if str(network) != cidr:
        return f"has host bits set (the block is {network})"
    if not VPC_MIN_PREFIX <= network.prefixlen <= VPC_MAX_PREFIX:
        return (f"must be /{VPC_MIN_PREFIX} to /{VPC_MAX_PREFIX}: AWS allows /16 at most and the subnet "
                f"plan needs nine /24s")
    return None
