"""Rules for the account topology: which AWS account each environment lives in.

Account per environment is the supported topology (docs/operators/accounts.md): dev and its previews
share one account, staging and prod each have their own, so no CI identity, no administrator of one
environment and no region-wide setting of one environment can reach another. One account for
everything is a sandbox and must be said so (single_account_sandbox).
"""

from __future__ import annotations

from itertools import combinations
from typing import TYPE_CHECKING

from modules.settings_rules.errors import SettingsError
from modules.settings_rules.state import ACCOUNT_PATTERN

if TYPE_CHECKING:
    from modules.settings import Settings

# The environments with their own CI identities and (outside a sandbox) their own account; any other
# name is a preview, which lives in dev's account.
DEPLOYED_ENVIRONMENTS = ("dev", "staging", "prod")
# What the checks below accept, in words: the settings reference (docs/maintainers/settings.md) prints it.
RULES = {
    "environment_accounts": "`dev=<id>,staging=<id>,prod=<id>` (12-digit ids; previews use dev's); dev, staging "
                            "and prod in three accounts unless single_account_sandbox",
    "single_account_sandbox": "true only when one account holds every environment (a sandbox: see "
                              "docs/operators/accounts.md for what it gives up)",
}


def check_accounts(s: Settings) -> None:
    """environment_accounts names known environments and 12-digit ids, agrees with account_id, and
    puts dev, staging and prod in three accounts unless single_account_sandbox is set."""
    accounts = s.accounts
    for environment, account in accounts.items():
        if environment not in DEPLOYED_ENVIRONMENTS:
            raise SettingsError("environment_accounts", f"{environment!r} is not one of "
                                f"{', '.join(DEPLOYED_ENVIRONMENTS)} (previews live in dev's account)")
        if not ACCOUNT_PATTERN.match(account):
            raise SettingsError("environment_accounts", f"{environment}={account!r} is not a 12-digit AWS account id")
    expected = accounts.get(s.account_environment)
    if s.account_id and expected and s.account_id != expected:
        raise SettingsError("account_id", f"{s.account_id} is not {s.account_environment}'s account "
                            f"{expected} (environment_accounts)")
    known = dict(accounts)
    if s.account_id:
        known[s.account_environment] = s.account_id
    if s.single_account_sandbox:
        if len(set(known.values())) > 1:
            raise SettingsError("single_account_sandbox", "set, but environment_accounts names "
                                f"{len(set(known.values()))} accounts: a sandbox is one account")
        return
    for first, second in combinations(DEPLOYED_ENVIRONMENTS, 2):
        if known.get(first) and known.get(first) == known.get(second):
            raise SettingsError("environment_accounts", f"{first} and {second} share account {known[first]}: "
                                "each of dev, staging and prod needs its own account (set "
                                "PAYMENTS_SINGLE_ACCOUNT_SANDBOX=true for a sandbox that gives up the "
                                "isolation, docs/operators/accounts.md)")
