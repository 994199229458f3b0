"""Rules for merchant identity: default usage-plan throttle, token lifetime, Cognito domain."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from modules.settings_rules.errors import SettingsError

if TYPE_CHECKING:
    from modules.settings import Settings

# A Cognito hosted-domain prefix: lowercase letters, digits, inner hyphens, at most 63 characters.
AUTH_DOMAIN_PATTERN = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$")
# Words Cognito refuses in a domain prefix.
AUTH_DOMAIN_RESERVED = ("aws", "amazon", "cognito")
TOKEN_MINUTES = (5, 1440)  # Cognito's range for an access token's validity
# What the checks below accept, in words: the settings reference (docs/maintainers/settings.md) prints it.
RULES = {
    "merchant_rate_limit": "1..api_rate_limit",
    "merchant_burst_limit": "1..api_burst_limit",
    "merchant_token_validity_minutes": "must be {}..{} minutes (Cognito's range)".format(*TOKEN_MINUTES),
    "auth_domain_prefix": (f"empty, or must match `{AUTH_DOMAIN_PATTERN.pattern}`; never containing "
                           + "/".join(AUTH_DOMAIN_RESERVED)),
}


def check_merchant_defaults(s: Settings) -> None:
    """Defaults of `make merchant-add` and the Cognito hosted domain."""
    # A merchant's plan above the stage-wide throttle could never be reached; one merchant able to
    # take the whole stage would starve the others.
    for name, ceiling in (("merchant_rate_limit", "api_rate_limit"), ("merchant_burst_limit", "api_burst_limit")):
        if not 1 <= getattr(s, name) <= getattr(s, ceiling):
            raise SettingsError(name, f"{getattr(s, name)} must be 1..{ceiling} ({getattr(s, ceiling)})")
    if not TOKEN_MINUTES[0] <= s.merchant_token_validity_minutes <= TOKEN_MINUTES[1]:
        raise SettingsError("merchant_token_validity_minutes", RULES["merchant_token_validity_minutes"])
    prefix = s.auth_domain_prefix
    if prefix and not AUTH_DOMAIN_PATTERN.match(prefix):
        raise SettingsError("auth_domain_prefix", f"{prefix!r} must match {AUTH_DOMAIN_PATTERN.pattern}")
    if any(word in (prefix or s.environment) for word in AUTH_DOMAIN_RESERVED):
        raise SettingsError("auth_domain_prefix", f"{prefix or 'derived from ' + s.environment!r} "
                                                  f"may not contain {AUTH_DOMAIN_RESERVED}")
