"""Validation of ``modules.settings.Settings``, one module per concern; ``validate`` runs them all.

The order is the order of the checks before the split: with several bad values, the same one is named.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from modules.settings_rules.accounts import check_accounts
from modules.settings_rules.api import check_edge, check_throttles
from modules.settings_rules.cost import check_capacity
from modules.settings_rules.environment import check_environment
from modules.settings_rules.identity import check_merchant_defaults
from modules.settings_rules.migration import check_migration
from modules.settings_rules.network import check_network
from modules.settings_rules.operations import check_operations
from modules.settings_rules.retention import check_retention
from modules.settings_rules.state import check_state

if TYPE_CHECKING:
    from modules.settings import Settings

CHECKS = (check_environment, check_capacity, check_retention, check_throttles, check_merchant_defaults,
          check_operations, check_edge, check_network, check_accounts, check_state, check_migration)


def validate(s: Settings) -> None:
    """Raise ``SettingsError`` for the first setting the platform cannot be built with."""
    for check in CHECKS:
        check(s)
