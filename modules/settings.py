"""The one typed settings object of the platform, built and validated once per synth.

Sources, later wins: per-environment defaults (``PROFILES``) -> ``cdktf.json`` context
(``environmentSuffix``) -> environment variables (``ENVIRONMENT_SUFFIX``, ``PAYMENTS_*``).
Any bad value fails synth with one message that names the setting.
"""

from __future__ import annotations

import dataclasses
import difflib
import ipaddress
import json
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Mapping

from modules.payment_limits import limits_module

PROJECT_ROOT = Path(__file__).resolve().parent.parent

ENVIRONMENT_PATTERN = re.compile(r"^[a-z][a-z0-9]{1,11}$")
EMAIL_PATTERN = re.compile(r"^[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}$")
REGION_PATTERN = re.compile(r"^[a-z]{2}(-gov)?-[a-z]+-\d$")
STAGE_PATTERN = re.compile(r"^[A-Za-z0-9_]{1,64}$")
# A Cognito hosted-domain prefix: lowercase letters, digits, inner hyphens, at most 63 characters.
AUTH_DOMAIN_PATTERN = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$")
# Words Cognito refuses in a domain prefix.
AUTH_DOMAIN_RESERVED = ("aws", "amazon", "cognito")
# A DNS name of at least two labels (a wildcard is no use for one API), lower case as ACM issues them.
DOMAIN_PATTERN = re.compile(r"^(?=.{4,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$")
ACM_CERTIFICATE_PATTERN = re.compile(
    r"^arn:aws[a-z-]*:acm:(?P<region>[a-z]{2}(-gov)?-[a-z]+-\d):\d{12}:certificate/[0-9a-f-]{36}$")
# Values CloudWatch Logs accepts for retention_in_days.
LAMBDA_DEPLOYMENT_CONFIGS = tuple(
    f"CodeDeployDefault.Lambda{kind}" for kind in (
        "AllAtOnce", "Canary10Percent5Minutes", "Canary10Percent10Minutes", "Canary10Percent15Minutes",
        "Canary10Percent30Minutes", "Linear10PercentEvery1Minute", "Linear10PercentEvery2Minutes",
        "Linear10PercentEvery3Minutes", "Linear10PercentEvery10Minutes"))
# modules/network.py cuts the VPC into 9 /24 subnets (3 tiers x 3 AZs): a /20 holds 16, a /21 only 8.
# AWS accepts VPC blocks from /16 to /28.
VPC_MIN_PREFIX, VPC_MAX_PREFIX = 16, 20
ACCOUNT_PATTERN = re.compile(r"^\d{12}$")
GITHUB_REPOSITORY_PATTERN = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9-]{0,38})/[A-Za-z0-9._-]{1,100}$")
ROLE_ARN_PATTERN = re.compile(r"^arn:aws(-cn|-us-gov)?:iam::\d{12}:role/[A-Za-z0-9+=,.@_/-]{1,512}$")
# S3 Object Lock accepts a default retention of at most 100 years (36500 days).
MAX_OBJECT_LOCK_DAYS = 36_500
# AWS Backup lifecycle delete_after: at least one day, at most 100 years.
MAX_BACKUP_RETENTION_DAYS = 36_500
LOG_RETENTION_DAYS = (1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827,
                      2192, 2557, 2922, 3288, 3653)
# The Aurora PostgreSQL version of the customer database (modules/data.py). It lives here because
# whether the cluster may scale to zero depends on it.
AURORA_ENGINE_VERSION = "15.8"
# First version of each Aurora PostgreSQL major that supports a minimum capacity of 0 ACUs
# (Serverless v2 auto-pause), from the "Aurora Serverless v2 capacity" table of the Aurora User Guide.
AUTO_PAUSE_MIN_VERSIONS = {13: (13, 15), 14: (14, 12), 15: (15, 7), 16: (16, 3)}
# AWS's range for SecondsUntilAutoPause (5 minutes .. 1 day).
AUTO_PAUSE_SECONDS_RANGE = (300, 86_400)
# Aurora allows up to 15 replicas per cluster.
MAX_AURORA_READERS = 15
# "essential": only the alarms CodeDeploy rolls back on (function errors, API 5xx and p99 latency);
# "full": those plus throttling, DynamoDB, Aurora CPU and the composite "payments degraded" alarm.
ALARM_SETS = ("essential", "full")


class SettingsError(ValueError):
    """A setting has a value the platform cannot be built with."""

    def __init__(self, setting: str, problem: str):
        super().__init__(f"invalid setting {setting}: {problem}")
        self.setting = setting


@dataclass(frozen=True)
class Settings:
    """Everything that varies per environment. Field docs double as the README settings table."""

    environment: str = "dev"
    region: str = "us-east-1"
    alert_email: str = "ops@example.com"
    # Cost levers (README "Idle cost"); defaults are the cheap development shape.
    nat_gateways: int = 0
    # Interface endpoints (KMS, STS) in this many AZs; 1 is one ENI per endpoint, 3 survives an AZ.
    interface_endpoint_azs: int = 1
    # 0 ACU: Aurora pauses after aurora_seconds_until_auto_pause without connections (~15 s resume).
    aurora_min_capacity: float = 0.0
    aurora_max_capacity: float = 2.0
    aurora_seconds_until_auto_pause: int = 900
    aurora_readers: int = 0
    waf_enabled: bool = False
    dashboard_enabled: bool = False
    alarm_set: str = "essential"
    aurora_backup_retention_days: int = 1
    log_retention_days: int = 7
    # S3 Object Lock default retention of every audit object (governance mode outside prod,
    # compliance in prod: see ``audit_lock_mode``). Compliance retention cannot be shortened later.
    audit_retention_days: int = 1
    # AWS Backup plan for Aurora: how long each daily recovery point is kept.
    backup_retention_days: int = 7
    deletion_protection: bool = False
    api_stage_name: str = "prod"
    api_rate_limit: int = 100
    api_burst_limit: int = 200
    # Daily request quota of each merchant's usage plan (default of `make merchant-add`).
    api_quota_per_day: int = 100_000
    # Per-merchant usage-plan throttle (default of `make merchant-add`), at most the stage's limits.
    merchant_rate_limit: int = 20
    merchant_burst_limit: int = 40
    # Lifetime of a merchant's OAuth2 access token (Cognito allows 5..1440 minutes).
    merchant_token_validity_minutes: int = 60
    # Prefix of the hosted token endpoint https://<prefix>.auth.<region>.amazoncognito.com (unique
    # across AWS per region); empty derives `payments-<env>-<hash of the account id>`.
    auth_domain_prefix: str = ""
    waf_rate_limit_per_5min: int = 2_000
    # Custom domain of the API (both or neither): TLS 1.2+ and the default execute-api endpoint off.
    api_domain_name: str = ""
    api_certificate_arn: str = ""    # ACM certificate for api_domain_name, in the stack's region
    # Per-currency overrides of the amount-limit table in payments_core.currencies, e.g.
    # "JPY:max=150000000:high=1500000,KWD:high=2500" (major units); empty = the table.
    payment_limits: str = ""
    fraud_window_seconds: int = 86_400
    lambda_reserved_concurrency: int = 10
    vpc_cidr: str = "10.0.0.0/16"
    # Extra alert subscriptions, e.g. a pager's HTTPS endpoint (comma-separated https:// URLs).
    alert_https_endpoints: str = ""
    # CodeDeploy traffic shifting for releases (a CodeDeployDefault.Lambda* configuration).
    deployment_config: str = "CodeDeployDefault.LambdaCanary10Percent5Minutes"
    # Alarm thresholds and periods.
    alarm_period_seconds: int = 300
    alarm_api_p99_latency_ms: int = 200
    alarm_api_5xx_count: int = 10
    alarm_function_errors: int = 5
    alarm_function_throttles: int = 1
    alarm_dynamodb_throttles: int = 1
    alarm_aurora_cpu_percent: int = 80
    # Tags carried by the provider's default_tags.
    repository: str = "unknown"
    author: str = "unknown"
    pr_number: str = "unknown"
    team: str = "unknown"
    # Local rehearsal endpoint (moto); empty means real AWS.
    aws_endpoint: str = ""
    # Terraform state (README "State backend"): the account whose state bucket every stack uses;
    # the bucket defaults to payments-terraform-state-<account_id>-<state region>.
    account_id: str = ""
    state_bucket: str = ""
    # IAM role ARNs (comma-separated) that may read or write state; empty means no allow-list.
    state_reader_arns: str = ""
    # owner/repo whose GitHub Actions OIDC tokens the CI roles trust (payments-ci stack when set).
    github_repository: str = ""
    # --- Migration from the data centre (issue 15; README "Migration runbook"). Off by default; when
    # on, every setting without a usable default below must be given (validation names the missing one).
    migration_enabled: bool = False
    onprem_public_ip: str = ""            # the data centre VPN device's public IPv4
    onprem_bgp_asn: int = 65000           # its BGP ASN (private 64512-65534 / 4200000000-4294967294, or public)
    onprem_static_routes: bool = True     # static routes to onprem_cidrs; false = BGP
    onprem_cidrs: str = ""                # comma-separated data centre networks reached over the VPN
    onprem_db_cidr: str = ""              # the source database's network (the only one admitted)
    onprem_db_port: int = 5432            # the host is in the secret (DMS reads host/port from it)
    onprem_db_name: str = ""
    onprem_db_secret_arn: str = ""        # Secrets Manager secret: the DMS user's host/port/credentials
    dms_target_secret_arn: str = ""       # a DMS user on Aurora; empty = the cluster's managed master secret
    onprem_db_ssl_mode: str = "verify-full"
    onprem_db_certificate_arn: str = ""   # DMS certificate (the source's CA), needed for verify-full
    legacy_api_hostname: str = ""         # the on-premises API callers use today
    legacy_health_path: str = "/health"
    dms_instance_class: str = "dms.t3.medium"
    dms_allocated_storage: int = 50
    cutover_hosted_zone_id: str = ""
    cutover_record_name: str = ""         # the merchant-facing name, e.g. api.payments.example.com
    cutover_weight_legacy: int = 100      # initial weights only: scripts/cutover.py owns them after
    cutover_weight_new: int = 0
    cdc_latency_threshold_seconds: int = 60

    @property
    def is_production(self) -> bool:
        return self.environment == "prod"

    @property
    def audit_lock_mode(self) -> str:
        """Object Lock mode of the audit bucket: nobody, not even the account root, can shorten or
        remove a COMPLIANCE retention; GOVERNANCE lets a principal with s3:BypassGovernanceRetention
        do it, which is what lets a non-production environment be destroyed."""
        return "COMPLIANCE" if self.is_production else "GOVERNANCE"

    @property
    def rehearsal(self) -> bool:
        return bool(self.aws_endpoint)

    @property
    def https_alert_endpoints(self) -> tuple[str, ...]:
        return tuple(u.strip() for u in self.alert_https_endpoints.split(",") if u.strip())

    @property
    def state_readers(self) -> tuple[str, ...]:
        return tuple(a.strip() for a in self.state_reader_arns.split(",") if a.strip())

    @property
    def tags(self) -> dict[str, str]:
        return {
            "Environment": self.environment,
            "Repository": self.repository,
            "Author": self.author,
            "PRNumber": self.pr_number,
            "Team": self.team,
            "Project": "payments",
            "ManagedBy": "cdktf",
        }

    @property
    def onprem_networks(self) -> tuple[str, ...]:
        return tuple(c.strip() for c in self.onprem_cidrs.split(",") if c.strip())

    def name(self, component: str) -> str:
        """Physical name of a component in this environment: ``payment-<component>-<env>``."""
        return f"payment-{component}-{self.environment}"


# Defaults per environment; an environment not listed here (e.g. a PR preview "pr123") uses dev's.
PROFILES: Mapping[str, Mapping[str, object]] = {
    "dev": {},
    "staging": {
        "nat_gateways": 1,
        "aurora_readers": 1,
        "waf_enabled": True,
        "dashboard_enabled": True,
        "alarm_set": "full",
        "aurora_max_capacity": 4.0,
        "aurora_backup_retention_days": 7,
        "log_retention_days": 30,
        "audit_retention_days": 30,
        "backup_retention_days": 35,
    },
    "prod": {
        "nat_gateways": 3,
        "interface_endpoint_azs": 3,
        "aurora_readers": 1,
        "waf_enabled": True,
        "dashboard_enabled": True,
        "alarm_set": "full",
        "aurora_min_capacity": 1.0,
        "aurora_max_capacity": 16.0,
        "aurora_backup_retention_days": 35,
        "log_retention_days": 365,
        # Seven years: financial record keeping; far above PCI DSS 10.5.1 (one year of audit history).
        "audit_retention_days": 2557,
        "backup_retention_days": 365,
        "deletion_protection": True,
        "alarm_period_seconds": 60,
        "deployment_config": "CodeDeployDefault.LambdaLinear10PercentEvery1Minute",
        "lambda_reserved_concurrency": 100,
        "api_rate_limit": 500,
        "api_burst_limit": 1000,
        "api_quota_per_day": 1_000_000,
        "merchant_rate_limit": 100,
        "merchant_burst_limit": 200,
        "dms_instance_class": "dms.r5.large",
        "dms_allocated_storage": 200,
    },
}

# Setting name -> environment variable that overrides it.
ENV_VARS: Mapping[str, str] = {
    "region": "PAYMENTS_AWS_REGION",
    "alert_email": "PAYMENTS_ALERT_EMAIL",
    "nat_gateways": "PAYMENTS_NAT_GATEWAYS",
    "aurora_min_capacity": "PAYMENTS_AURORA_MIN_CAPACITY",
    "aurora_max_capacity": "PAYMENTS_AURORA_MAX_CAPACITY",
    "aurora_seconds_until_auto_pause": "PAYMENTS_AURORA_SECONDS_UNTIL_AUTO_PAUSE",
    "aurora_readers": "PAYMENTS_AURORA_READERS",
    "interface_endpoint_azs": "PAYMENTS_INTERFACE_ENDPOINT_AZS",
    "waf_enabled": "PAYMENTS_WAF_ENABLED",
    "dashboard_enabled": "PAYMENTS_DASHBOARD_ENABLED",
    "alarm_set": "PAYMENTS_ALARM_SET",
    "aurora_backup_retention_days": "PAYMENTS_AURORA_BACKUP_RETENTION_DAYS",
    "log_retention_days": "PAYMENTS_LOG_RETENTION_DAYS",
    "audit_retention_days": "PAYMENTS_AUDIT_RETENTION_DAYS",
    "backup_retention_days": "PAYMENTS_BACKUP_RETENTION_DAYS",
    "deletion_protection": "PAYMENTS_DELETION_PROTECTION",
    "api_stage_name": "PAYMENTS_API_STAGE",
    "api_rate_limit": "PAYMENTS_API_RATE_LIMIT",
    "api_burst_limit": "PAYMENTS_API_BURST_LIMIT",
    "api_quota_per_day": "PAYMENTS_API_QUOTA_PER_DAY",
    "merchant_rate_limit": "PAYMENTS_MERCHANT_RATE_LIMIT",
    "merchant_burst_limit": "PAYMENTS_MERCHANT_BURST_LIMIT",
    "merchant_token_validity_minutes": "PAYMENTS_MERCHANT_TOKEN_MINUTES",
    "auth_domain_prefix": "PAYMENTS_AUTH_DOMAIN_PREFIX",
    "waf_rate_limit_per_5min": "PAYMENTS_WAF_RATE_LIMIT",
    "api_domain_name": "PAYMENTS_API_DOMAIN_NAME",
    "api_certificate_arn": "PAYMENTS_API_CERTIFICATE_ARN",
    "payment_limits": "PAYMENTS_PAYMENT_LIMITS",
    "fraud_window_seconds": "PAYMENTS_FRAUD_WINDOW_SECONDS",
    "lambda_reserved_concurrency": "PAYMENTS_LAMBDA_RESERVED_CONCURRENCY",
    "vpc_cidr": "PAYMENTS_VPC_CIDR",
    "alert_https_endpoints": "PAYMENTS_ALERT_HTTPS_ENDPOINTS",
    "deployment_config": "PAYMENTS_DEPLOYMENT_CONFIG",
    "alarm_period_seconds": "PAYMENTS_ALARM_PERIOD_SECONDS",
    "alarm_api_p99_latency_ms": "PAYMENTS_ALARM_API_P99_LATENCY_MS",
    "alarm_api_5xx_count": "PAYMENTS_ALARM_API_5XX_COUNT",
    "alarm_function_errors": "PAYMENTS_ALARM_FUNCTION_ERRORS",
    "alarm_function_throttles": "PAYMENTS_ALARM_FUNCTION_THROTTLES",
    "alarm_dynamodb_throttles": "PAYMENTS_ALARM_DYNAMODB_THROTTLES",
    "alarm_aurora_cpu_percent": "PAYMENTS_ALARM_AURORA_CPU_PERCENT",
    "repository": "REPOSITORY",
    "author": "COMMIT_AUTHOR",
    "pr_number": "PR_NUMBER",
    "team": "TEAM",
    "aws_endpoint": "PAYMENTS_AWS_ENDPOINT",
    "account_id": "PAYMENTS_ACCOUNT_ID",
    "state_bucket": "PAYMENTS_STATE_BUCKET",
    "state_reader_arns": "PAYMENTS_STATE_READER_ARNS",
    "github_repository": "PAYMENTS_GITHUB_REPOSITORY",
    "migration_enabled": "PAYMENTS_MIGRATION_ENABLED",
    "onprem_public_ip": "PAYMENTS_ONPREM_PUBLIC_IP",
    "onprem_bgp_asn": "PAYMENTS_ONPREM_BGP_ASN",
    "onprem_static_routes": "PAYMENTS_ONPREM_STATIC_ROUTES",
    "onprem_cidrs": "PAYMENTS_ONPREM_CIDRS",
    "onprem_db_cidr": "PAYMENTS_ONPREM_DB_CIDR",
    "onprem_db_port": "PAYMENTS_ONPREM_DB_PORT",
    "onprem_db_name": "PAYMENTS_ONPREM_DB_NAME",
    "onprem_db_secret_arn": "PAYMENTS_ONPREM_DB_SECRET_ARN",
    "dms_target_secret_arn": "PAYMENTS_DMS_TARGET_SECRET_ARN",
    "onprem_db_ssl_mode": "PAYMENTS_ONPREM_DB_SSL_MODE",
    "onprem_db_certificate_arn": "PAYMENTS_ONPREM_DB_CERTIFICATE_ARN",
    "legacy_api_hostname": "PAYMENTS_LEGACY_API_HOSTNAME",
    "legacy_health_path": "PAYMENTS_LEGACY_HEALTH_PATH",
    "dms_instance_class": "PAYMENTS_DMS_INSTANCE_CLASS",
    "dms_allocated_storage": "PAYMENTS_DMS_ALLOCATED_STORAGE",
    "cutover_hosted_zone_id": "PAYMENTS_CUTOVER_HOSTED_ZONE_ID",
    "cutover_record_name": "PAYMENTS_CUTOVER_RECORD_NAME",
    "cutover_weight_legacy": "PAYMENTS_CUTOVER_WEIGHT_LEGACY",
    "cutover_weight_new": "PAYMENTS_CUTOVER_WEIGHT_NEW",
    "cdc_latency_threshold_seconds": "PAYMENTS_CDC_LATENCY_THRESHOLD_SECONDS",
}
ENVIRONMENT_VAR = "ENVIRONMENT_SUFFIX"
# Settings that no longer exist -> what replaced them (set anyway, they stop synth with this hint).
RETIRED: Mapping[str, tuple[str, str]] = {
    "max_payment_amount": ("PAYMENTS_MAX_AMOUNT",
                           "was one maximum for every currency; it is replaced by payment_limits "
                           "(PAYMENTS_PAYMENT_LIMITS), per currency, e.g. USD:max=1000000"),
}
# PAYMENTS_* variables the project reads that are not settings (tooling, backend wiring). Any other
# PAYMENTS_* variable is a typo or a stale name and fails synth rather than being ignored.
TOOLING_VARS = frozenset({
    "PAYMENTS_PROVIDER_MIRROR",   # scripts/terraform.py: offline provider mirror
    "PAYMENTS_PROVIDER_IMPORT",   # modules/provider_loader.py: eager import switch
    "PAYMENTS_BACKEND",           # modules/platform.py: local backend
    "PAYMENTS_STATE_REGION",      # modules/platform.py: region of the state bucket
    "PAYMENTS_STATE_ENDPOINT",    # modules/platform.py: S3 endpoint of the state backend
})
VAR_PREFIX = "PAYMENTS_"


def known_variables() -> frozenset[str]:
    # Retired variables are known: build_settings answers them with what replaced them.
    return (frozenset(v for v in ENV_VARS.values() if v.startswith(VAR_PREFIX)) | TOOLING_VARS
            | frozenset(var for var, _hint in RETIRED.values()))


def _check_unknown_variables(env: Mapping[str, str]) -> None:
    known = known_variables()
    for var in sorted(env):
        if var.startswith(VAR_PREFIX) and var not in known:
            # Compared without the shared prefix, which would make every name look close.
            close = difflib.get_close_matches(var.removeprefix(VAR_PREFIX),
                                              sorted(k.removeprefix(VAR_PREFIX) for k in known), n=1)
            hint = f"did you mean {VAR_PREFIX}{close[0]}?" if close else "see README \"Settings\""
            raise SettingsError(var, f"unknown variable ({hint})")


def bucket_name_problem(name: str) -> str | None:
    """Why S3 would refuse ``name`` as a general purpose bucket name, or None."""
    if not 3 <= len(name) <= 63:
        return "must be 3 to 63 characters"
    if not re.fullmatch(r"[a-z0-9][a-z0-9.-]*[a-z0-9]", name):
        return "must be lowercase letters, digits, dots and hyphens, starting and ending with a letter or digit"
    if ".." in name or ".-" in name or "-." in name:
        return "must not have adjacent dots or a dot next to a hyphen"
    if re.fullmatch(r"\d{1,3}(\.\d{1,3}){3}", name):
        return "must not look like an IP address"
    for prefix in ("xn--", "sthree-", "amzn-s3-demo-"):
        if name.startswith(prefix):
            return f"must not start with {prefix!r} (reserved)"
    for suffix in ("-s3alias", "--ol-s3", ".mrap", "--x-s3", "--table-s3"):
        if name.endswith(suffix):
            return f"must not end with {suffix!r} (reserved)"
    return None


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


def _coerce(name: str, raw: object, kind: type) -> object:
    if isinstance(raw, kind) and not (kind is int and isinstance(raw, bool)):
        return raw
    text = str(raw).strip()
    try:
        if kind is bool:
            if text.lower() in ("1", "true", "yes", "on"):
                return True
            if text.lower() in ("0", "false", "no", "off"):
                return False
            raise ValueError(text)
        if kind is int:
            return int(text)
        if kind is float:
            return float(text)
    except ValueError:
        raise SettingsError(name, f"{text!r} is not a {kind.__name__}") from None
    return text


def _validate(s: Settings) -> None:
    if not ENVIRONMENT_PATTERN.match(s.environment):
        raise SettingsError("environment", f"{s.environment!r} must match {ENVIRONMENT_PATTERN.pattern}")
    if not REGION_PATTERN.match(s.region):
        raise SettingsError("region", f"{s.region!r} is not an AWS region name")
    if not EMAIL_PATTERN.match(s.alert_email):
        raise SettingsError("alert_email", f"{s.alert_email!r} is not an e-mail address")
    if not 0 <= s.nat_gateways <= 3:
        raise SettingsError("nat_gateways", f"{s.nat_gateways} must be between 0 and 3 (one per AZ)")
    if not (s.aurora_min_capacity == 0 or 0.5 <= s.aurora_min_capacity <= 256) or (s.aurora_min_capacity * 2) % 1:
        raise SettingsError("aurora_min_capacity",
                            f"{s.aurora_min_capacity} must be 0 (auto-pause) or 0.5..256 ACU in 0.5 steps")
    if s.aurora_min_capacity == 0 and not auto_pause_supported(AURORA_ENGINE_VERSION):
        raise SettingsError("aurora_min_capacity",
                            f"0 needs an engine that supports auto-pause; Aurora PostgreSQL "
                            f"{AURORA_ENGINE_VERSION} does not (see AUTO_PAUSE_MIN_VERSIONS)")
    low, high = AUTO_PAUSE_SECONDS_RANGE
    if not low <= s.aurora_seconds_until_auto_pause <= high:
        raise SettingsError("aurora_seconds_until_auto_pause",
                            f"{s.aurora_seconds_until_auto_pause} must be {low}..{high} seconds")
    if not 0 <= s.aurora_readers <= MAX_AURORA_READERS:
        raise SettingsError("aurora_readers", f"{s.aurora_readers} must be 0..{MAX_AURORA_READERS}")
    if not 1 <= s.interface_endpoint_azs <= 3:
        raise SettingsError("interface_endpoint_azs", f"{s.interface_endpoint_azs} must be 1..3")
    if s.alarm_set not in ALARM_SETS:
        raise SettingsError("alarm_set", f"{s.alarm_set!r} is not one of {ALARM_SETS}")
    if s.is_production:
        # Production keeps its resilience whatever the overrides: no 15 s resume on the payment path,
        # a reader to fail over to, and the WAF in front of the API.
        if s.aurora_min_capacity == 0:
            raise SettingsError("aurora_min_capacity", "production never pauses: must be at least 0.5 ACU")
        if s.aurora_readers < 1:
            raise SettingsError("aurora_readers", "production needs at least one reader to fail over to")
        if not s.waf_enabled:
            raise SettingsError("waf_enabled", "production always has the WAF in front of the API")
    if not 1 <= s.aurora_max_capacity <= 256:
        raise SettingsError("aurora_max_capacity", f"{s.aurora_max_capacity} must be 1..256 ACU")
    if s.aurora_min_capacity > s.aurora_max_capacity:
        raise SettingsError(
            "aurora_min_capacity",
            f"{s.aurora_min_capacity} is above aurora_max_capacity {s.aurora_max_capacity}",
        )
    if not 1 <= s.aurora_backup_retention_days <= 35:
        raise SettingsError("aurora_backup_retention_days", "must be 1..35 days")
    if not 1 <= s.audit_retention_days <= MAX_OBJECT_LOCK_DAYS:
        raise SettingsError("audit_retention_days", f"{s.audit_retention_days} must be 1..{MAX_OBJECT_LOCK_DAYS} days")
    if not 1 <= s.backup_retention_days <= MAX_BACKUP_RETENTION_DAYS:
        raise SettingsError("backup_retention_days",
                            f"{s.backup_retention_days} must be 1..{MAX_BACKUP_RETENTION_DAYS} days")
    if s.log_retention_days not in LOG_RETENTION_DAYS:
        raise SettingsError("log_retention_days", f"{s.log_retention_days} is not one of {LOG_RETENTION_DAYS}")
    if not STAGE_PATTERN.match(s.api_stage_name):
        raise SettingsError("api_stage_name", f"{s.api_stage_name!r} must match {STAGE_PATTERN.pattern}")
    for name in ("api_rate_limit", "api_burst_limit", "api_quota_per_day", "waf_rate_limit_per_5min",
                 "fraud_window_seconds", "lambda_reserved_concurrency"):
        if getattr(s, name) < 0:
            raise SettingsError(name, f"{getattr(s, name)} must not be negative")
    _validate_merchant_defaults(s)
    for name in ("alarm_api_p99_latency_ms", "alarm_api_5xx_count", "alarm_function_errors",
                 "alarm_function_throttles", "alarm_dynamodb_throttles"):
        if getattr(s, name) < 0:
            raise SettingsError(name, f"{getattr(s, name)} must not be negative")
    if s.alarm_period_seconds not in (10, 30) and (s.alarm_period_seconds < 60 or s.alarm_period_seconds % 60):
        raise SettingsError("alarm_period_seconds", "must be 10, 30 or a multiple of 60")
    if not 1 <= s.alarm_aurora_cpu_percent <= 100:
        raise SettingsError("alarm_aurora_cpu_percent", "must be 1..100")
    if s.deployment_config not in LAMBDA_DEPLOYMENT_CONFIGS:
        raise SettingsError("deployment_config", f"{s.deployment_config!r} is not one of {LAMBDA_DEPLOYMENT_CONFIGS}")
    for url in s.https_alert_endpoints:
        if not re.match(r"^https://[^\s]+$", url):
            raise SettingsError("alert_https_endpoints", f"{url!r} is not an https:// URL")
    _validate_api_domain(s)
    if s.waf_rate_limit_per_5min and s.waf_rate_limit_per_5min < 10:
        raise SettingsError("waf_rate_limit_per_5min", "AWS WAF needs at least 10")
    limits = limits_module()
    try:
        limits.build_limits(s.payment_limits)
    except limits.LimitsError as error:
        raise SettingsError("payment_limits", str(error)) from None
    if problem := vpc_cidr_problem(s.vpc_cidr):
        raise SettingsError("vpc_cidr", f"{s.vpc_cidr!r} {problem}")
    if s.account_id and not ACCOUNT_PATTERN.match(s.account_id):
        raise SettingsError("account_id", f"{s.account_id!r} is not a 12-digit AWS account id")
    if s.state_bucket and (problem := bucket_name_problem(s.state_bucket)):
        raise SettingsError("state_bucket", f"{s.state_bucket!r} is not a valid S3 bucket name: {problem}")
    for arn in s.state_readers:
        if not ROLE_ARN_PATTERN.match(arn):
            raise SettingsError("state_reader_arns", f"{arn!r} is not an IAM role ARN")
    if s.github_repository and not GITHUB_REPOSITORY_PATTERN.match(s.github_repository):
        raise SettingsError("github_repository", f"{s.github_repository!r} is not owner/repo")
    if s.aws_endpoint and not re.match(r"^https?://[^\s/]+(:\d+)?/?$", s.aws_endpoint):
        raise SettingsError("aws_endpoint", f"{s.aws_endpoint!r} is not an http(s) URL")
    _validate_migration(s)


HOSTNAME_PATTERN = re.compile(r"^(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$")
SECRET_ARN_PATTERN = re.compile(r"^arn:aws[a-z-]*:secretsmanager:[a-z0-9-]+:\d{12}:secret:[A-Za-z0-9/_+=.@!-]+$")
DMS_CERTIFICATE_ARN_PATTERN = re.compile(r"^arn:aws[a-z-]*:dms:[a-z0-9-]+:\d{12}:cert:[A-Za-z0-9-]+$")
DMS_INSTANCE_CLASS_PATTERN = re.compile(r"^dms\.[a-z0-9]+\.[a-z0-9]+$")
HOSTED_ZONE_PATTERN = re.compile(r"^[A-Z0-9]{1,32}$")
DB_NAME_PATTERN = re.compile(r"^[A-Za-z_][A-Za-z0-9_$]{0,62}$")
SSL_MODES = ("verify-full", "require")  # DMS also accepts none/verify-ca: never for card data
PRIVATE_ASNS = ((64512, 65534), (4_200_000_000, 4_294_967_294))
RESERVED_ASNS = (0, 23456, 65535, 4_294_967_295)  # AS_TRANS and the reserved ends of each range


def _network(name: str, cidr: str) -> ipaddress.IPv4Network:
    try:
        return ipaddress.IPv4Network(cidr, strict=True)
    except ValueError as err:
        raise SettingsError(name, f"{cidr!r} is not an IPv4 CIDR ({err})") from None


def _validate_migration(s: Settings) -> None:
    """Shapes are checked whenever a value is set; presence only when the migration is on."""
    if s.onprem_public_ip:
        try:
            ip = ipaddress.IPv4Address(s.onprem_public_ip)
        except ValueError:
            raise SettingsError("onprem_public_ip", f"{s.onprem_public_ip!r} is not an IPv4 address") from None
        if not ip.is_global:
            raise SettingsError("onprem_public_ip", f"{ip} is not a public address (a VPN peer must be reachable)")
    asn = s.onprem_bgp_asn
    if not 1 <= asn <= 4_294_967_294 or asn in RESERVED_ASNS:
        raise SettingsError("onprem_bgp_asn", f"{asn} is not a usable ASN (1..4294967294, not 23456/65535)")
    vpc = ipaddress.IPv4Network(s.vpc_cidr, strict=False)
    networks = [_network("onprem_cidrs", c) for c in s.onprem_networks]
    for net in networks:
        if net.overlaps(vpc):
            raise SettingsError("onprem_cidrs", f"{net} overlaps the VPC {vpc}: routes would be ambiguous")
    if s.onprem_db_cidr:
        db = _network("onprem_db_cidr", s.onprem_db_cidr)
        if networks and not any(db.subnet_of(net) for net in networks):
            raise SettingsError("onprem_db_cidr", f"{db} is not inside onprem_cidrs {s.onprem_cidrs!r}")
    if not 1 <= s.onprem_db_port <= 65535:
        raise SettingsError("onprem_db_port", f"{s.onprem_db_port} is not a TCP port")
    if s.onprem_db_name and not DB_NAME_PATTERN.match(s.onprem_db_name):
        raise SettingsError("onprem_db_name", f"{s.onprem_db_name!r} is not a PostgreSQL database name")
    for name in ("onprem_db_secret_arn", "dms_target_secret_arn"):
        value = getattr(s, name)
        if value and not SECRET_ARN_PATTERN.match(value):
            raise SettingsError(name, f"{value!r} is not a Secrets Manager secret ARN")
    if s.onprem_db_ssl_mode not in SSL_MODES:
        raise SettingsError("onprem_db_ssl_mode", f"{s.onprem_db_ssl_mode!r} is not one of {SSL_MODES}")
    if s.onprem_db_certificate_arn and not DMS_CERTIFICATE_ARN_PATTERN.match(s.onprem_db_certificate_arn):
        raise SettingsError("onprem_db_certificate_arn", f"{s.onprem_db_certificate_arn!r} is not a DMS certificate ARN")
    for name in ("legacy_api_hostname", "cutover_record_name"):
        value = getattr(s, name)
        if value and not HOSTNAME_PATTERN.match(value):
            raise SettingsError(name, f"{value!r} is not a lower-case DNS name")
    if not s.legacy_health_path.startswith("/") or " " in s.legacy_health_path:
        raise SettingsError("legacy_health_path", f"{s.legacy_health_path!r} must be a URL path starting with /")
    if not DMS_INSTANCE_CLASS_PATTERN.match(s.dms_instance_class):
        raise SettingsError("dms_instance_class", f"{s.dms_instance_class!r} is not a DMS class (dms.<family>.<size>)")
    if not 5 <= s.dms_allocated_storage <= 6144:
        raise SettingsError("dms_allocated_storage", f"{s.dms_allocated_storage} must be 5..6144 GiB")
    if s.cutover_hosted_zone_id and not HOSTED_ZONE_PATTERN.match(s.cutover_hosted_zone_id):
        raise SettingsError("cutover_hosted_zone_id", f"{s.cutover_hosted_zone_id!r} is not a Route 53 hosted zone id")
    for name in ("cutover_weight_legacy", "cutover_weight_new"):
        if not 0 <= getattr(s, name) <= 255:
            raise SettingsError(name, f"{getattr(s, name)} must be 0..255 (a Route 53 weight)")
    if s.cutover_weight_legacy == s.cutover_weight_new == 0:
        raise SettingsError("cutover_weight_legacy", "both weights are 0: Route 53 would split traffic evenly")
    if not 1 <= s.cdc_latency_threshold_seconds <= 86_400:
        raise SettingsError("cdc_latency_threshold_seconds", f"{s.cdc_latency_threshold_seconds} must be 1..86400")
    if not s.migration_enabled:
        return
    for name in ("onprem_public_ip", "onprem_cidrs", "onprem_db_cidr", "onprem_db_name",
                 "onprem_db_secret_arn", "legacy_api_hostname", "cutover_hosted_zone_id", "cutover_record_name"):
        if not getattr(s, name):
            raise SettingsError(name, "is required when migration_enabled is true")
    if s.onprem_db_ssl_mode == "verify-full" and not s.onprem_db_certificate_arn:
        raise SettingsError("onprem_db_certificate_arn", "is required for onprem_db_ssl_mode verify-full "
                                                         "(the source's CA, imported into DMS)")



def _validate_merchant_defaults(s: Settings) -> None:
    # A merchant's plan above the stage-wide throttle could never be reached; one merchant able to
    # take the whole stage would starve the others.
    for name, ceiling in (("merchant_rate_limit", "api_rate_limit"), ("merchant_burst_limit", "api_burst_limit")):
        if not 1 <= getattr(s, name) <= getattr(s, ceiling):
            raise SettingsError(name, f"{getattr(s, name)} must be 1..{ceiling} ({getattr(s, ceiling)})")
    if not 5 <= s.merchant_token_validity_minutes <= 1440:
        raise SettingsError("merchant_token_validity_minutes", "must be 5..1440 minutes (Cognito's range)")
    prefix = s.auth_domain_prefix
    if prefix and not AUTH_DOMAIN_PATTERN.match(prefix):
        raise SettingsError("auth_domain_prefix", f"{prefix!r} must match {AUTH_DOMAIN_PATTERN.pattern}")
    if any(word in (prefix or s.environment) for word in AUTH_DOMAIN_RESERVED):
        raise SettingsError("auth_domain_prefix", f"{prefix or 'derived from ' + s.environment!r} "
                                                  f"may not contain {AUTH_DOMAIN_RESERVED}")


def auto_pause_supported(version: str) -> bool:
    """Whether Aurora PostgreSQL ``version`` (e.g. "15.8") may scale to 0 ACUs (auto-pause)."""
    try:
        major, minor = (int(part) for part in version.split(".")[:2])
    except ValueError:
        return False
    first = AUTO_PAUSE_MIN_VERSIONS.get(major)
    if first is None:
        return major > max(AUTO_PAUSE_MIN_VERSIONS)
    return (major, minor) >= first


def _validate_api_domain(s: Settings) -> None:
    if bool(s.api_domain_name) != bool(s.api_certificate_arn):
        missing = "api_certificate_arn" if s.api_domain_name else "api_domain_name"
        raise SettingsError(missing, "api_domain_name and api_certificate_arn are set together or not at all")
    if not s.api_domain_name:
        return
    if not DOMAIN_PATTERN.match(s.api_domain_name):
        raise SettingsError("api_domain_name", f"{s.api_domain_name!r} is not a lower-case DNS name")
    certificate = ACM_CERTIFICATE_PATTERN.match(s.api_certificate_arn)
    if not certificate:
        raise SettingsError("api_certificate_arn", f"{s.api_certificate_arn!r} is not an ACM certificate ARN")
    if certificate["region"] != s.region:
        raise SettingsError("api_certificate_arn", f"a regional endpoint needs the certificate in {s.region}, "
                                                   f"not {certificate['region']}")


def build_settings(context: Mapping[str, object] | None = None,
                   env: Mapping[str, str] | None = None) -> Settings:
    """Resolve and validate the settings for one environment."""
    context = dict(context or {})
    env = os.environ if env is None else env
    for setting, (var, hint) in RETIRED.items():
        if env.get(var, "") != "" or setting in context:
            raise SettingsError(setting, hint)
    _check_unknown_variables(env)
    environment = str(env.get(ENVIRONMENT_VAR) or context.get("environmentSuffix") or "dev").strip()
    values: dict[str, object] = {"environment": environment}
    values.update(PROFILES.get(environment, PROFILES["dev"]))
    for key, value in context.items():
        if key in Settings.__dataclass_fields__ and key != "environment":
            values[key] = value
    for setting, var in ENV_VARS.items():
        if env.get(var, "") != "":
            values[setting] = env[var]
    types = {f.name: f.type for f in dataclasses.fields(Settings)}
    kinds = {"str": str, "int": int, "float": float, "bool": bool}
    coerced = {k: _coerce(k, v, kinds[types[k]]) for k, v in values.items()}
    settings = Settings(**coerced)
    _validate(settings)
    return settings


def load_cdktf_context(path: Path = PROJECT_ROOT / "cdktf.json") -> dict[str, object]:
    """The ``context`` block of cdktf.json (also what ``cdktf synth`` passes to the app)."""
    return dict(json.loads(path.read_text()).get("context", {}))
