"""The one typed settings object of the platform, built and validated once per synth.

Sources, later wins: per-environment defaults (``PROFILES``) -> ``cdktf.json`` context
(``environmentSuffix``) -> environment variables (``ENVIRONMENT_SUFFIX``, ``PAYMENTS_*``).
Any bad value fails synth with one message that names the setting.
"""

from __future__ import annotations

import dataclasses
import ipaddress
import json
import os
import re
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Mapping

PROJECT_ROOT = Path(__file__).resolve().parent.parent

ENVIRONMENT_PATTERN = re.compile(r"^[a-z][a-z0-9]{1,11}$")
EMAIL_PATTERN = re.compile(r"^[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}$")
REGION_PATTERN = re.compile(r"^[a-z]{2}(-gov)?-[a-z]+-\d$")
STAGE_PATTERN = re.compile(r"^[A-Za-z0-9_]{1,64}$")
# Values CloudWatch Logs accepts for retention_in_days.
LAMBDA_DEPLOYMENT_CONFIGS = tuple(
    f"CodeDeployDefault.Lambda{kind}" for kind in (
        "AllAtOnce", "Canary10Percent5Minutes", "Canary10Percent10Minutes", "Canary10Percent15Minutes",
        "Canary10Percent30Minutes", "Linear10PercentEvery1Minute", "Linear10PercentEvery2Minutes",
        "Linear10PercentEvery3Minutes", "Linear10PercentEvery10Minutes"))
LOG_RETENTION_DAYS = (1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827,
                      2192, 2557, 2922, 3288, 3653)


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
    nat_gateways: int = 1
    aurora_min_capacity: float = 0.5
    aurora_max_capacity: float = 2.0
    aurora_backup_retention_days: int = 1
    log_retention_days: int = 7
    deletion_protection: bool = False
    api_stage_name: str = "prod"
    api_rate_limit: int = 100
    api_burst_limit: int = 200
    api_quota_per_day: int = 100_000
    waf_rate_limit_per_5min: int = 2_000
    max_payment_amount: str = "1000000"
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
    def rehearsal(self) -> bool:
        return bool(self.aws_endpoint)

    @property
    def https_alert_endpoints(self) -> tuple[str, ...]:
        return tuple(u.strip() for u in self.alert_https_endpoints.split(",") if u.strip())

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
        "aurora_max_capacity": 4.0,
        "aurora_backup_retention_days": 7,
        "log_retention_days": 30,
    },
    "prod": {
        "nat_gateways": 3,
        "aurora_min_capacity": 1.0,
        "aurora_max_capacity": 16.0,
        "aurora_backup_retention_days": 35,
        "log_retention_days": 365,
        "deletion_protection": True,
        "alarm_period_seconds": 60,
        "deployment_config": "CodeDeployDefault.LambdaLinear10PercentEvery1Minute",
        "lambda_reserved_concurrency": 100,
        "api_rate_limit": 500,
        "api_burst_limit": 1000,
        "api_quota_per_day": 1_000_000,
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
    "aurora_backup_retention_days": "PAYMENTS_AURORA_BACKUP_RETENTION_DAYS",
    "log_retention_days": "PAYMENTS_LOG_RETENTION_DAYS",
    "deletion_protection": "PAYMENTS_DELETION_PROTECTION",
    "api_stage_name": "PAYMENTS_API_STAGE",
    "api_rate_limit": "PAYMENTS_API_RATE_LIMIT",
    "api_burst_limit": "PAYMENTS_API_BURST_LIMIT",
    "api_quota_per_day": "PAYMENTS_API_QUOTA_PER_DAY",
    "waf_rate_limit_per_5min": "PAYMENTS_WAF_RATE_LIMIT",
    "max_payment_amount": "PAYMENTS_MAX_AMOUNT",
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
    if not 0.5 <= s.aurora_min_capacity <= 256:
        raise SettingsError("aurora_min_capacity", f"{s.aurora_min_capacity} must be 0.5..256 ACU")
    if not 1 <= s.aurora_max_capacity <= 256:
        raise SettingsError("aurora_max_capacity", f"{s.aurora_max_capacity} must be 1..256 ACU")
    if s.aurora_min_capacity > s.aurora_max_capacity:
        raise SettingsError(
            "aurora_min_capacity",
            f"{s.aurora_min_capacity} is above aurora_max_capacity {s.aurora_max_capacity}",
        )
    if not 1 <= s.aurora_backup_retention_days <= 35:
        raise SettingsError("aurora_backup_retention_days", "must be 1..35 days")
    if s.log_retention_days not in LOG_RETENTION_DAYS:
        raise SettingsError("log_retention_days", f"{s.log_retention_days} is not one of {LOG_RETENTION_DAYS}")
    if not STAGE_PATTERN.match(s.api_stage_name):
        raise SettingsError("api_stage_name", f"{s.api_stage_name!r} must match {STAGE_PATTERN.pattern}")
    for name in ("api_rate_limit", "api_burst_limit", "api_quota_per_day", "waf_rate_limit_per_5min",
                 "fraud_window_seconds", "lambda_reserved_concurrency"):
        if getattr(s, name) < 0:
            raise SettingsError(name, f"{getattr(s, name)} must not be negative")
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
    if s.waf_rate_limit_per_5min and s.waf_rate_limit_per_5min < 10:
        raise SettingsError("waf_rate_limit_per_5min", "AWS WAF needs at least 10")
    try:
        amount = Decimal(s.max_payment_amount)
    except InvalidOperation:
        raise SettingsError("max_payment_amount", f"{s.max_payment_amount!r} is not a decimal") from None
    if not amount.is_finite() or amount <= 0:
        raise SettingsError("max_payment_amount", "must be a positive finite amount")
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



def build_settings(context: Mapping[str, object] | None = None,
                   env: Mapping[str, str] | None = None) -> Settings:
    """Resolve and validate the settings for one environment."""
    context = dict(context or {})
    env = os.environ if env is None else env
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
