"""Validation of ``modules.settings.Settings``, one module per concern; ``validate`` runs them all.

The order is the order of the checks before the split: with several bad values, the same one is named.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Mapping

from modules.settings_rules import (accounts, api, canary, cost, disaster_recovery, environment, guardrails,
                                    identity, migration, network, operations, performance, retention, slo,
                                    state)
from modules.settings_rules.accounts import check_accounts
from modules.settings_rules.api import check_edge, check_throttles
from modules.settings_rules.canary import check_canary
from modules.settings_rules.disaster_recovery import check_disaster_recovery
from modules.settings_rules.cost import check_capacity
from modules.settings_rules.environment import check_environment
from modules.settings_rules.guardrails import check_guardrails
from modules.settings_rules.identity import check_merchant_defaults
from modules.settings_rules.migration import check_migration
from modules.settings_rules.network import check_network
from modules.settings_rules.operations import check_operations
from modules.settings_rules.performance import check_performance
from modules.settings_rules.retention import check_retention
from modules.settings_rules.slo import check_slo
from modules.settings_rules.state import check_state

if TYPE_CHECKING:
    from modules.settings import Settings

CHECKS = (check_environment, check_capacity, check_retention, check_throttles, check_merchant_defaults,
          check_operations, check_edge, check_network, check_accounts, check_state, check_migration,
          check_guardrails, check_slo, check_performance, check_canary, check_disaster_recovery)

# Settings no check above constrains beyond their type: what a value means instead of a rule.
UNCHECKED = {
    "dashboard_enabled": "any (a dashboard costs $3/month beyond the account's three free ones)",
    "deletion_protection": "any",
    "onprem_static_routes": "any (false = BGP)",
    "repository": "any text (a tag)", "author": "any text (a tag)", "pr_number": "any text (a tag)",
    "team": "any text (a tag)",
}
# Setting -> the rule in words, next to the check that enforces it (each module's RULES); the settings
# reference page (scripts/docs.py) prints it, and a test requires one for every setting.
RULES: Mapping[str, str] = {
    **UNCHECKED,
    **{name: rule for module in (environment, cost, retention, api, identity, operations, network, state, migration,
                                          guardrails, slo, performance, accounts, canary, disaster_recovery)
       for name, rule in module.RULES.items()},
}


def validate(s: Settings) -> None:
    """Raise ``SettingsError`` for the first setting the platform cannot be built with."""
    for check in CHECKS:
        check(s)
