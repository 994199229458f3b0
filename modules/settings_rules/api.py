"""Rules for the API: stage, throttles and quotas, custom domain, WAF, payment limits."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from modules.payment_limits import layer_module
from modules.settings_rules.errors import SettingsError

if TYPE_CHECKING:
    from modules.settings import Settings

STAGE_PATTERN = re.compile(r"^[A-Za-z0-9_]{1,64}$")
# A DNS name of at least two labels (a wildcard is no use for one API), lower case as ACM issues them.
DOMAIN_PATTERN = re.compile(r"^(?=.{4,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$")
ACM_CERTIFICATE_PATTERN = re.compile(
    r"^arn:aws[a-z-]*:acm:(?P<region>[a-z]{2}(-gov)?-[a-z]+-\d):\d{12}:certificate/[0-9a-f-]{36}$")
NON_NEGATIVE = ("api_rate_limit", "api_burst_limit", "api_quota_per_day", "waf_rate_limit_per_5min",
                "fraud_window_seconds", "lambda_reserved_concurrency")
WAF_MIN_RATE_LIMIT = 10
# What the checks below accept, in words: the settings reference (docs/maintainers/settings.md) prints it.
RULES = {
    "api_stage_name": f"must match `{STAGE_PATTERN.pattern}`",
    **{name: "must not be negative" for name in NON_NEGATIVE},
    "waf_rate_limit_per_5min": f"0 or at least {WAF_MIN_RATE_LIMIT} (AWS WAF's minimum)",
    "api_domain_name": "a lower-case DNS name of two labels or more; set together with api_certificate_arn; "
                       "required in production (TLS 1.2+ only, the execute-api endpoint disabled)",
    "waf_sampled_requests": "off in production (sampled requests show the headers the WAF log redacts)",
    "api_certificate_arn": "an ACM certificate ARN in the stack's region; set together with api_domain_name",
    "payment_limits": "`CUR:max=<n>:high=<n>,...` overrides the limits module accepts (major units)",
}


def check_throttles(s: Settings) -> None:
    """Stage name, and no negative throttle, quota or window."""
    if not STAGE_PATTERN.match(s.api_stage_name):
        raise SettingsError("api_stage_name", f"{s.api_stage_name!r} must match {STAGE_PATTERN.pattern}")
    for name in NON_NEGATIVE:
        if getattr(s, name) < 0:
            raise SettingsError(name, f"{getattr(s, name)} {RULES[name]}")


def check_edge(s: Settings) -> None:
    """Custom domain, WAF rate limit and the payment_limits overrides."""
    _check_api_domain(s)
    if s.is_production and s.waf_sampled_requests:
        raise SettingsError("waf_sampled_requests", "production keeps sampled requests off: they show the "
                                                    "Authorization and x-api-key headers the WAF log redacts")
    if s.waf_rate_limit_per_5min and s.waf_rate_limit_per_5min < WAF_MIN_RATE_LIMIT:
        raise SettingsError("waf_rate_limit_per_5min", f"AWS WAF needs at least {WAF_MIN_RATE_LIMIT}")
    limits = layer_module("limits")
    try:
        limits.build_limits(s.payment_limits)
    except limits.LimitsError as error:
        raise SettingsError("payment_limits", str(error)) from None


def _check_api_domain(s: Settings) -> None:
    if s.is_production and not s.api_domain_name:
        # The default execute-api endpoint of a regional API accepts TLS 1.0 and 1.1, and a stage URL is
        # no name a merchant should pin: production serves on its own domain, TLS 1.2 or newer, with the
        # default endpoint disabled (modules/api.py).
        raise SettingsError("api_domain_name", "production serves only on its custom domain (TLS 1.2+, the "
                                               "execute-api endpoint disabled): set PAYMENTS_API_DOMAIN_NAME and "
                                               "PAYMENTS_API_CERTIFICATE_ARN (an ACM certificate in the region)")
    if bool(s.api_domain_name) != bool(s.api_certificate_arn):
        missing = "api_certificate_arn" if s.api_domain_name else "api_domain_name"
        raise SettingsError(missing, "api_domain_name and api_certificate_arn are set together or not at all")
    if not s.api_domain_name:
        return
    if not DOMAIN_PATTERN.match(s.api_domain_name):
        raise SettingsError("api_domain_name", f"{s.api_domain_name!r} is not a lower-case DNS name")
    check_certificate("api_certificate_arn", s.api_certificate_arn, s.region)


def check_certificate(setting: str, arn: str, region: str) -> None:
    """``arn`` is an ACM certificate in ``region`` (a regional API endpoint uses only its own region's)."""
    certificate = ACM_CERTIFICATE_PATTERN.match(arn)
    if not certificate:
        raise SettingsError(setting, f"{arn!r} is not an ACM certificate ARN")
    if certificate["region"] != region:
        raise SettingsError(setting, f"a regional endpoint needs the certificate in {region or 'its region'}, "
                                     f"not {certificate['region']}")
