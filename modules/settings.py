"""The one typed settings object of the platform, built and validated once per synth.

Sources, later wins: per-environment defaults (``PROFILES``) -> ``cdktf.json`` context
(``environmentSuffix``) -> environment variables (``ENVIRONMENT_SUFFIX``, ``PAYMENTS_*``).
Any bad value fails synth with one message that names the setting. The rules live by concern in
``modules/settings_rules/``.
"""

from __future__ import annotations

import dataclasses
import difflib
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Mapping

from modules.settings_profiles import ENV_VARS, PROFILES
from modules.settings_rules import validate
from modules.settings_rules.accounts import DEPLOYED_ENVIRONMENTS
from modules.settings_rules.cost import AURORA_ENGINE_VERSION, auto_pause_supported
from modules.settings_rules.errors import SettingsError
from modules.settings_rules.network import VPC_MAX_PREFIX

# The rule helpers and constants below are re-exported: modules/data.py and tests import them from here.
__all__ = ["AURORA_ENGINE_VERSION", "DEPLOYED_ENVIRONMENTS", "ENV_VARS", "ENVIRONMENT_VAR", "PROFILES", "PROJECT_ROOT", "RETIRED",
           "TOOLING_VARS", "VPC_MAX_PREFIX", "Settings", "SettingsError", "auto_pause_supported", "build_settings",
           "known_variables", "load_cdktf_context"]

PROJECT_ROOT = Path(__file__).resolve().parent.parent


def comma_list(text: str) -> tuple[str, ...]:
    """The non-empty items of a comma-separated setting, stripped."""
    return tuple(item.strip() for item in text.split(",") if item.strip())



def parse_accounts(text: str) -> dict[str, str]:
    """``dev=111111111111,prod=...`` as a dict; an item without ``=`` fails (settings_rules/accounts.py
    checks the names and ids)."""
    accounts: dict[str, str] = {}
    for item in comma_list(text):
        environment, sep, account = item.partition("=")
        if not sep:
            raise SettingsError("environment_accounts", f"{item!r} is not <environment>=<account id>")
        if environment.strip() in accounts:
            raise SettingsError("environment_accounts", f"{environment.strip()!r} is named twice")
        accounts[environment.strip()] = account.strip()
    return accounts


@dataclass(frozen=True)
class Settings:
    """Everything that varies per environment. Field docs double as the README settings table."""

    environment: str = "dev"
    region: str = "us-east-1"
    alert_email: str = "ops@example.com"
    # Cost levers (docs/maintainers/cost.md); defaults are the cheap development shape.
    nat_gateways: int = 0
    # Attach the functions to the private subnets (staging, prod). Off (dev, previews) they call AWS
    # APIs on the public endpoints and need no interface endpoints: $14.60/month less (docs/maintainers/cost.md).
    functions_in_vpc: bool = False
    # Interface endpoints (KMS, STS) in this many AZs; 1 is one ENI per endpoint, 3 survives an AZ.
    interface_endpoint_azs: int = 1
    # 0 ACU: Aurora pauses after aurora_seconds_until_auto_pause without connections (~15 s resume).
    aurora_min_capacity: float = 0.0
    aurora_max_capacity: float = 2.0
    aurora_seconds_until_auto_pause: int = 900
    aurora_readers: int = 0
    waf_enabled: bool = False
    # Sampled requests of the web ACL (console, wafv2:GetSampledRequests) show every header verbatim,
    # the redacted ones included; off in production, where the redacted WAF log is what to read.
    waf_sampled_requests: bool = True
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
    # Service level objectives (docs/operators/slos.md): per-route overrides of the defaults in
    # modules/slo_policy.py, e.g. "process:availability=99.95:latency=99:latency_ms=250".
    slo_objectives: str = ""
    slo_window_days: int = 30
    # Routes with burn-rate alarms (comma-separated; "none": none) and whether latency has them too.
    # dev: /process availability only ($2.20/month); staging and prod: every route, both SLIs.
    slo_alarm_routes: str = "process"
    slo_latency_alarms: bool = False
    # Merchants (app client ids, comma-separated, at most 20) with their own Merchant dimension in
    # the business metrics; every other merchant is counted as "other" (payments_core.metrics).
    metrics_merchants: str = ""
    # The synthetic merchant (docs/operators/canary.md): a scheduled function that gets a token as
    # this merchant and pays through every route; its alarm is what Route 53 reads for the new API.
    canary_enabled: bool = True
    canary_merchant: str = "synthetic-canary"
    canary_interval_minutes: int = 5
    # Consecutive failed runs before the payment-canary alarm (and the health check) turn red.
    canary_failed_runs: int = 2
    # Disaster recovery (docs/operators/disaster-recovery.md): the second region that holds a replica of
    # every table, under replicas of the platform's multi-Region keys. Empty: one region (dev,
    # previews). Turning it on for an environment that exists replaces its keys (see the page).
    dr_region: str = ""
    # Target recovery point for the replicated tables: the ReplicationLatency alarm's threshold.
    dr_rpo_seconds: int = 1
    # With api_domain_name: the ACM certificate for it in dr_region (the standby's custom domain), and
    # the hosted zone of the name's failover records (Route 53 answers from the region whose synthetic
    # merchant is paying: docs/operators/disaster-recovery.md "Routing").
    dr_api_certificate_arn: str = ""
    dr_hosted_zone_id: str = ""
    # Instances of the customer database's secondary cluster in dr_region; 0: headless (storage only,
    # no instance hours; make failover detaches it to promote it).
    dr_database_instances: int = 0
    # With dr_region the Aurora master password is one nobody holds (write-only, never stored): raise this
    # after a break-glass use of the master user to replace it at the next apply (modules/global_database.py).
    aurora_password_version: int = 1
    # Latency budget (docs/maintainers/performance-latency.md). Graviton: ~20 % cheaper per GB-second.
    lambda_architecture: str = "arm64"
    # Memory (MB) per function over the default 256, e.g. "process=1024" (CPU grows with memory).
    lambda_memory: str = ""
    # SnapStart on published versions (Python 3.12+; not with provisioned concurrency; Python
    # SnapStart bills the cached snapshot per GB-second and each restore).
    lambda_snap_start: bool = False
    # Provisioned concurrency on the `live` alias of each payment route (validate, fraud-check, process).
    lambda_provisioned_concurrency: int = 0
    # Tags carried by the provider's default_tags.
    repository: str = "unknown"
    author: str = "unknown"
    pr_number: str = "unknown"
    team: str = "unknown"
    # Local rehearsal endpoint (moto); empty means real AWS.
    aws_endpoint: str = ""
    # The AWS account of this environment (docs/operators/accounts.md): every provider refuses other
    # credentials (allowed_account_ids) and the state bucket defaults to
    # payments-terraform-state-<account_id>-<state region>. Empty: the entry of environment_accounts
    # for this environment (previews: dev's), else unknown (synth works, nothing is pinned).
    account_id: str = ""
    # The account of each environment, "dev=<12 digits>,staging=<12 digits>,prod=<12 digits>": dev
    # and previews share dev's, staging and prod each have their own (settings_rules/accounts.py).
    environment_accounts: str = ""
    # One account for every environment (a sandbox, never real card data): allowed only when said
    # so, because it gives up what docs/operators/accounts.md "Single-account sandbox" lists.
    single_account_sandbox: bool = False
    state_bucket: str = ""
    dr_state_bucket: str = ""   # the standby's state bucket in dr_region; default: the template with that region
    # IAM role ARNs (comma-separated) that may read or write state; empty means no allow-list.
    state_reader_arns: str = ""
    # owner/repo whose GitHub Actions OIDC tokens the CI roles trust (payments-ci stack when set).
    github_repository: str = ""
    # --- Guardrails of the organisation (docs/operators/guardrails.md): the payments-guardrails stack,
    # synthesized when guardrails_targets is set and applied in the management account by an operator.
    guardrails_targets: str = ""          # comma-separated OU ids (ou-...) or account ids the SCPs attach to
    management_account_id: str = ""       # the organisation's management account (the stack runs only there)
    break_glass_role_arn: str = "arn:aws:iam::*:role/payments-break-glass"  # exempt from every SCP
    guardrails_regions: str = ""          # comma-separated; empty = region and the state region
    # --- Migration from the data centre (issue 15; docs/operators/migration.md). Off by default; when
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
    # How long traffic stays on a rung of the cutover ladder before the next step (scripts/cutover.py).
    cutover_min_minutes_per_rung: int = 30

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
        return comma_list(self.alert_https_endpoints)

    @property
    def state_readers(self) -> tuple[str, ...]:
        return comma_list(self.state_reader_arns)

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
    def guardrail_targets(self) -> tuple[str, ...]:
        return comma_list(self.guardrails_targets)

    @property
    def guardrail_regions(self) -> tuple[str, ...]:
        return comma_list(self.guardrails_regions)

    @property
    def slo_routes(self) -> tuple[str, ...]:
        return () if self.slo_alarm_routes.strip() == "none" else comma_list(self.slo_alarm_routes)

    @property
    def function_memory(self) -> dict[str, int]:
        """``lambda_memory`` as function key -> MB (the rules in settings_rules/performance.py)."""
        pairs = (item.split("=", 1) for item in comma_list(self.lambda_memory))
        return {key.strip(): int(value) for key, value in pairs}

    @property
    def account_environment(self) -> str:
        """The deployable environment whose account this one lives in (a preview lives in dev's)."""
        return self.environment if self.environment in DEPLOYED_ENVIRONMENTS else "dev"

    @property
    def accounts(self) -> dict[str, str]:
        """environment_accounts as {environment: account id}."""
        return parse_accounts(self.environment_accounts)

    @property
    def environments_in_account(self) -> tuple[str, ...]:
        """The deployable environments that live in this environment's account: the ones its account
        stack makes CI identities for. All of them in a single-account sandbox; the ones that
        environment_accounts places in account_id; else this environment's alone."""
        if self.single_account_sandbox:
            return DEPLOYED_ENVIRONMENTS
        accounts = self.accounts
        if self.account_id and accounts:
            return tuple(e for e in DEPLOYED_ENVIRONMENTS
                         if accounts.get(e) == self.account_id or e == self.account_environment)
        return (self.account_environment,)

    @property
    def onprem_networks(self) -> tuple[str, ...]:
        return comma_list(self.onprem_cidrs)

    def name(self, component: str) -> str:
        """Physical name of a component in this environment: ``payment-<component>-<env>``."""
        return f"payment-{component}-{self.environment}"


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
            hint = f"did you mean {VAR_PREFIX}{close[0]}?" if close else "see docs/maintainers/settings.md"
            raise SettingsError(var, f"unknown variable ({hint})")



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
    # An environment's account defaults to its entry of environment_accounts (a preview: dev's);
    # given both ways, settings_rules/accounts.py refuses a mismatch.
    if not settings.account_id and settings.accounts.get(settings.account_environment):
        settings = dataclasses.replace(settings, account_id=settings.accounts[settings.account_environment])
    validate(settings)
    return settings


def load_cdktf_context(path: Path = PROJECT_ROOT / "cdktf.json") -> dict[str, object]:
    """The ``context`` block of cdktf.json (also what ``cdktf synth`` passes to the app)."""
    return dict(json.loads(path.read_text()).get("context", {}))
