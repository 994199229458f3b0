"""Settings: defaults per environment, overrides, and one clear message per bad value."""

import pytest

from modules.payment_limits import payment_limits_env
from modules.settings import SettingsError, build_settings
from tests.support import environment_env


def test_default_environment_is_dev_and_cheap_at_idle():
    s = build_settings({}, {})
    assert (s.environment, s.region, s.nat_gateways, s.interface_endpoint_azs) == ("dev", "us-east-1", 0, 1)
    assert (s.aurora_min_capacity, s.aurora_seconds_until_auto_pause, s.aurora_readers) == (0, 900, 0)
    assert (s.waf_enabled, s.dashboard_enabled, s.alarm_set) == (False, False, "essential")


def test_prod_keeps_its_resilience():
    s = build_settings({}, environment_env("prod"))
    assert (s.nat_gateways, s.interface_endpoint_azs, s.aurora_readers, s.aurora_min_capacity) == (3, 3, 1, 1.0)
    assert (s.waf_enabled, s.dashboard_enabled, s.alarm_set) == (True, True, "full")


def test_staging_pauses_aurora_but_keeps_waf_dashboard_and_full_alarms():
    s = build_settings({}, {"ENVIRONMENT_SUFFIX": "staging"})
    assert (s.aurora_min_capacity, s.aurora_readers, s.waf_enabled, s.alarm_set) == (0, 1, True, "full")


def test_cost_levers_are_overridable_from_the_environment():
    s = build_settings({}, {"PAYMENTS_AURORA_MIN_CAPACITY": "0.5", "PAYMENTS_AURORA_READERS": "2",
                            "PAYMENTS_WAF_ENABLED": "true", "PAYMENTS_DASHBOARD_ENABLED": "1",
                            "PAYMENTS_ALARM_SET": "full", "PAYMENTS_INTERFACE_ENDPOINT_AZS": "3",
                            "PAYMENTS_AURORA_SECONDS_UNTIL_AUTO_PAUSE": "3600"})
    assert (s.aurora_min_capacity, s.aurora_readers, s.waf_enabled, s.dashboard_enabled, s.alarm_set,
            s.interface_endpoint_azs, s.aurora_seconds_until_auto_pause) == (0.5, 2, True, True, "full", 3, 3600)


@pytest.mark.parametrize("version, supported", [
    ("15.8", True), ("15.7", True), ("15.6", False), ("16.3", True), ("16.2", False), ("14.12", True),
    ("14.11", False), ("13.15", True), ("13.14", False), ("12.22", False), ("17.4", True), ("x", False),
])
def test_auto_pause_needs_an_engine_version_that_supports_it(version, supported):
    from modules.settings import auto_pause_supported
    assert auto_pause_supported(version) is supported


def test_min_capacity_0_is_refused_on_an_engine_without_auto_pause(monkeypatch):
    import modules.settings_rules.cost as cost_rules
    monkeypatch.setattr(cost_rules, "AURORA_ENGINE_VERSION", "15.6")
    with pytest.raises(SettingsError, match="aurora_min_capacity: 0 needs an engine that supports auto-pause"):
        build_settings({}, {})
    assert build_settings({}, {"PAYMENTS_AURORA_MIN_CAPACITY": "0.5"}).aurora_min_capacity == 0.5


def test_context_environment_suffix_is_used():
    assert build_settings({"environmentSuffix": "staging"}, {}).environment == "staging"


def test_environment_variable_overrides_context():
    assert build_settings({"environmentSuffix": "staging"}, environment_env("prod")).environment == "prod"


def test_prod_turns_deletion_protection_on_and_dev_off():
    assert build_settings({}, environment_env("prod")).deletion_protection is True
    assert build_settings({}, {}).deletion_protection is False


def test_unlisted_environment_uses_dev_defaults():
    s = build_settings({}, {"ENVIRONMENT_SUFFIX": "pr42"})
    assert (s.environment, s.log_retention_days, s.deletion_protection) == ("pr42", 7, False)


def test_numeric_override_from_environment_is_typed():
    s = build_settings({}, {"PAYMENTS_NAT_GATEWAYS": "3", "PAYMENTS_AURORA_MAX_CAPACITY": "8"})
    assert (s.nat_gateways, s.aurora_max_capacity) == (3, 8.0)


def test_tags_default_to_unknown_and_carry_no_timestamp():
    tags = build_settings({}, {}).tags
    assert {tags[k] for k in ("Repository", "Author", "PRNumber", "Team")} == {"unknown"}
    assert not any("date" in k.lower() or "time" in k.lower() or k == "CreatedAt" for k in tags)


@pytest.mark.parametrize("env, setting", [
    ({"ENVIRONMENT_SUFFIX": "Prod!"}, "environment"),
    ({"ENVIRONMENT_SUFFIX": "a"}, "environment"),
    ({"PAYMENTS_ALERT_EMAIL": "ops@"}, "alert_email"),
    ({"PAYMENTS_ALERT_EMAIL": "not an email"}, "alert_email"),
    ({"PAYMENTS_AURORA_MIN_CAPACITY": "4", "PAYMENTS_AURORA_MAX_CAPACITY": "2"}, "aurora_min_capacity"),
    ({"PAYMENTS_NAT_GATEWAYS": "-1"}, "nat_gateways"),
    ({"PAYMENTS_NAT_GATEWAYS": "two"}, "nat_gateways"),
    ({"PAYMENTS_LOG_RETENTION_DAYS": "8"}, "log_retention_days"),
    ({"PAYMENTS_API_RATE_LIMIT": "-5"}, "api_rate_limit"),
    ({"PAYMENTS_AWS_REGION": "mars-1"}, "region"),
    ({"PAYMENTS_MAX_AMOUNT": "NaN"}, "max_payment_amount"),
    ({"PAYMENTS_DELETION_PROTECTION": "maybe"}, "deletion_protection"),
    ({"PAYMENTS_AURORA_MIN_CAPACITY": "0.25"}, "aurora_min_capacity"),
    ({"PAYMENTS_AURORA_MIN_CAPACITY": "1.3"}, "aurora_min_capacity"),
    ({"PAYMENTS_AURORA_SECONDS_UNTIL_AUTO_PAUSE": "299"}, "aurora_seconds_until_auto_pause"),
    ({"PAYMENTS_AURORA_SECONDS_UNTIL_AUTO_PAUSE": "86401"}, "aurora_seconds_until_auto_pause"),
    ({"PAYMENTS_AURORA_READERS": "16"}, "aurora_readers"),
    ({"PAYMENTS_AURORA_READERS": "-1"}, "aurora_readers"),
    ({"PAYMENTS_INTERFACE_ENDPOINT_AZS": "0"}, "interface_endpoint_azs"),
    ({"PAYMENTS_ALARM_SET": "some"}, "alarm_set"),
    ({"PAYMENTS_WAF_ENABLED": "perhaps"}, "waf_enabled"),
    ({"ENVIRONMENT_SUFFIX": "prod", "PAYMENTS_AURORA_MIN_CAPACITY": "0"}, "aurora_min_capacity"),
    ({"ENVIRONMENT_SUFFIX": "prod", "PAYMENTS_AURORA_READERS": "0"}, "aurora_readers"),
    ({"ENVIRONMENT_SUFFIX": "prod", "PAYMENTS_WAF_ENABLED": "false"}, "waf_enabled"),
    ({"ENVIRONMENT_SUFFIX": "prod", "PAYMENTS_FUNCTIONS_IN_VPC": "false"}, "functions_in_vpc"),
    ({"PAYMENTS_FUNCTIONS_IN_VPC": "maybe"}, "functions_in_vpc"),
])
def test_bad_value_fails_with_message_naming_the_setting(env, setting):
    with pytest.raises(SettingsError) as err:
        build_settings({}, env)
    assert err.value.setting == setting
    assert str(err.value).startswith(f"invalid setting {setting}:")


def test_bad_setting_fails_synth_with_one_clear_message(tmp_path):
    import subprocess
    import sys

    from tests.support import PROJECT_ROOT, clean_env
    proc = subprocess.run([sys.executable, "main.py"], cwd=PROJECT_ROOT, capture_output=True, text=True,
                          env=clean_env(PAYMENTS_NAT_GATEWAYS="-1", CDKTF_OUTDIR=str(tmp_path)))
    assert proc.returncode != 0
    assert "invalid setting nat_gateways: -1 must be between 0 and 3" in proc.stderr
    assert not list(tmp_path.rglob("cdk.tf.json"))


def test_payment_limits_default_to_the_currency_table():
    s = build_settings({}, {})
    assert s.payment_limits == ""
    assert payment_limits_env(s.payment_limits) == {}  # the functions use payments_core.currencies as is


def test_payment_limits_override_is_passed_on_in_canonical_form():
    s = build_settings({}, {"PAYMENTS_PAYMENT_LIMITS": " kwd:high=2500 , JPY:high=1500000:max=150000000"})
    assert payment_limits_env(s.payment_limits) == {"PAYMENT_LIMITS": "JPY:max=150000000:high=1500000,KWD:high=2500"}


@pytest.mark.parametrize("value, problem", [
    ("XYZ:max=1", "unknown or unsupported currency 'XYZ'"),
    ("XAU:max=1", "unknown or unsupported currency 'XAU'"),        # a metal, not a card currency
    ("JPY", "JPY sets nothing"),
    ("JPY:limit=5", "JPY: 'limit=5' is not max=<amount> or high=<amount>"),
    ("JPY:max=0", "JPY max=0 must be greater than 0"),
    ("JPY:max=-5", "JPY max='-5' is not a plain positive decimal"),
    ("JPY:max=1e9", "JPY max='1e9' is not a plain positive decimal"),
    ("JPY:max=NaN", "JPY max='NaN' is not a plain positive decimal"),
    ("JPY:high=10.5", "JPY high=10.5 has more decimal places than JPY's 0"),
    ("USD:max=10.001", "USD max=10.001 has more decimal places than USD's 2"),
    ("KWD:high=400000", "KWD high=400000 is above its max=300000"),  # above the table's max
    ("USD:max=100:high=200", "USD high=200 is above its max=100"),
    ("USD:max=1,USD:high=1", "USD is listed twice"),
    ("USD:max=1:max=2", "USD sets max twice"),
    ("USD:max=9999999999999999", "must be greater than 0 and at most 1000000000000000"),
])
def test_bad_payment_limits_fail_with_one_line_naming_the_problem(value, problem):
    with pytest.raises(SettingsError) as err:
        build_settings({}, {"PAYMENTS_PAYMENT_LIMITS": value})
    assert err.value.setting == "payment_limits"
    assert str(err.value).startswith("invalid setting payment_limits:") and problem in str(err.value)
    assert "\n" not in str(err.value)


def test_payment_limits_accept_the_currencys_minor_units():
    s = build_settings({}, {"PAYMENTS_PAYMENT_LIMITS": "KWD:max=9999.999:high=1.500,USD:high=0.01"})
    assert payment_limits_env(s.payment_limits)["PAYMENT_LIMITS"] == "KWD:max=9999.999:high=1.500,USD:high=0.01"


@pytest.mark.parametrize("context, env", [
    ({}, {"PAYMENTS_MAX_AMOUNT": "1000000"}),
    ({"max_payment_amount": "1000000"}, {}),
])
def test_retired_flat_max_amount_stops_synth_and_names_its_replacement(context, env):
    with pytest.raises(SettingsError) as err:
        build_settings(context, env)
    assert err.value.setting == "max_payment_amount"
    assert "PAYMENTS_PAYMENT_LIMITS" in str(err.value) and "per currency" in str(err.value)


# --------------------------------------------------------------------------- what AWS would reject


@pytest.mark.parametrize("cidr, problem", [
    ("10.0.0.0", "is not an IPv4 CIDR block"),
    ("10.0.0.0/33", "is not an IPv4 CIDR block"),
    ("10.0.0.300/16", "is not an IPv4 CIDR block"),
    ("fd00::/56", "is not an IPv4 CIDR block"),
    ("10.0.1.0/16", "has host bits set (the block is 10.0.0.0/16)"),
    ("10.0.0.0/21", "must be /16 to /20"),   # eight /24s; the subnet plan needs nine
    ("10.0.0.0/8", "must be /16 to /20"),    # larger than AWS allows for a VPC
])
def test_vpc_cidr_that_aws_or_the_subnet_plan_would_reject_fails(cidr, problem):
    with pytest.raises(SettingsError) as err:
        build_settings({}, {"PAYMENTS_VPC_CIDR": cidr})
    assert err.value.setting == "vpc_cidr" and problem in str(err.value)


@pytest.mark.parametrize("cidr", ["10.0.0.0/16", "172.16.0.0/20", "192.168.16.0/20"])
def test_vpc_cidr_that_holds_the_subnet_plan_is_accepted(cidr):
    assert build_settings({}, {"PAYMENTS_VPC_CIDR": cidr}).vpc_cidr == cidr


def test_subnet_plan_limit_matches_the_network_module():
    """The smallest accepted VPC holds every /24 modules/network.py cuts from it."""
    import ipaddress

    from modules.network import AZ_COUNT, TIERS
    from modules.settings import VPC_MAX_PREFIX
    blocks = list(ipaddress.ip_network(f"10.0.0.0/{VPC_MAX_PREFIX}").subnets(new_prefix=24))
    assert len(blocks) >= len(TIERS) * AZ_COUNT
    assert len(list(ipaddress.ip_network(f"10.0.0.0/{VPC_MAX_PREFIX + 1}").subnets(new_prefix=24))) < len(TIERS) * AZ_COUNT


@pytest.mark.parametrize("name", [
    "ab", "a" * 64, "Payments-State", "payments_state", "-payments", "payments-", "pay..ments",
    "pay.-ments", "192.168.5.4", "xn--payments", "sthree-payments", "payments-s3alias", "payments--ol-s3",
])
def test_invalid_state_bucket_name_fails(name):
    with pytest.raises(SettingsError) as err:
        build_settings({}, {"PAYMENTS_STATE_BUCKET": name})
    assert err.value.setting == "state_bucket" and "is not a valid S3 bucket name" in str(err.value)


@pytest.mark.parametrize("name", ["abc", "payments-terraform-state-123456789012-us-east-1", "a.b-c.d", "a" * 63])
def test_valid_state_bucket_name_is_accepted(name):
    assert build_settings({}, {"PAYMENTS_STATE_BUCKET": name}).state_bucket == name


@pytest.mark.parametrize("env, setting", [
    ({"PAYMENTS_ACCOUNT_ID": "12345"}, "account_id"),
    ({"PAYMENTS_ACCOUNT_ID": "12345678901a"}, "account_id"),
    ({"PAYMENTS_STATE_READER_ARNS": "arn:aws:iam::123456789012:user/alice"}, "state_reader_arns"),
    ({"PAYMENTS_STATE_READER_ARNS": "arn:aws:iam::123456789012:role/ci, not-an-arn"}, "state_reader_arns"),
    ({"PAYMENTS_GITHUB_REPOSITORY": "payments-cdktf"}, "github_repository"),
    ({"PAYMENTS_GITHUB_REPOSITORY": "acme/payments:cdktf"}, "github_repository"),
])
def test_bad_state_and_ci_settings_fail(env, setting):
    with pytest.raises(SettingsError) as err:
        build_settings({}, env)
    assert err.value.setting == setting


def test_state_reader_arns_are_split_and_trimmed():
    s = build_settings({}, {"PAYMENTS_STATE_READER_ARNS":
                            "arn:aws:iam::123456789012:role/ci-plan, arn:aws:iam::123456789012:role/ops/break-glass"})
    assert s.state_readers == ("arn:aws:iam::123456789012:role/ci-plan",
                               "arn:aws:iam::123456789012:role/ops/break-glass")


def test_unknown_payments_variable_fails_and_names_the_closest_setting():
    with pytest.raises(SettingsError) as err:
        build_settings({}, {"PAYMENTS_NAT_GATEWAY": "3"})
    assert err.value.setting == "PAYMENTS_NAT_GATEWAY"
    assert str(err.value) == ("invalid setting PAYMENTS_NAT_GATEWAY: unknown variable "
                              "(did you mean PAYMENTS_NAT_GATEWAYS?)")


def test_unknown_payments_variable_without_a_close_name_points_at_the_readme():
    with pytest.raises(SettingsError, match='unknown variable \\(see docs/maintainers/settings.md\\)'):
        build_settings({}, {"PAYMENTS_ZZZ": "1"})


def test_every_setting_and_tooling_variable_is_known():
    from modules.settings import ENV_VARS, TOOLING_VARS
    env = {var: "" for var in ENV_VARS.values()} | {var: "" for var in TOOLING_VARS}
    build_settings({}, env)  # empty values: defaults, and no unknown-variable error


def test_every_payments_variable_the_project_reads_is_known():
    """A new PAYMENTS_* variable used anywhere in the project must be a setting or listed as tooling,
    or every synth would reject it as unknown."""
    import re

    from modules.settings import known_variables
    from tests.support import PROJECT_ROOT
    sources = [p for pattern in ("*.py", "modules/*.py", "scripts/*.py", "scripts/find-provider-mirror",
                                 "Makefile", ".github/workflows/*.yml", ".github/scripts/*.sh")
               for p in PROJECT_ROOT.glob(pattern)]
    used = {m for p in sources for m in re.findall(r"\bPAYMENTS_[A-Z0-9_]*[A-Z0-9]\b", p.read_text())}
    assert used, "no PAYMENTS_ variable found: the scan is broken"
    assert used - known_variables() == set()


def test_unknown_variable_fails_synth_with_one_error_line(tmp_path):
    import subprocess
    import sys

    from tests.support import PROJECT_ROOT, clean_env
    proc = subprocess.run([sys.executable, "main.py"], cwd=PROJECT_ROOT, capture_output=True, text=True,
                          env=clean_env(PAYMENTS_VPC_CDIR="10.1.0.0/16", CDKTF_OUTDIR=str(tmp_path)))
    assert proc.returncode != 0
    assert proc.stderr.strip().splitlines() == [
        "error: invalid setting PAYMENTS_VPC_CDIR: unknown variable (did you mean PAYMENTS_VPC_CIDR?)"]
    assert "Traceback" not in proc.stderr and not list(tmp_path.rglob("cdk.tf.json"))


def test_vpc_cidr_with_host_bits_fails_synth_with_one_error_line(tmp_path):
    import subprocess
    import sys

    from tests.support import PROJECT_ROOT, clean_env
    proc = subprocess.run([sys.executable, "main.py"], cwd=PROJECT_ROOT, capture_output=True, text=True,
                          env=clean_env(PAYMENTS_VPC_CIDR="10.0.0.1/16", CDKTF_OUTDIR=str(tmp_path)))
    assert proc.returncode != 0
    assert proc.stderr.strip().splitlines() == [
        "error: invalid setting vpc_cidr: '10.0.0.1/16' has host bits set (the block is 10.0.0.0/16)"]

def test_audit_lock_is_compliance_only_in_prod_with_retention_per_environment():
    dev, staging, prod = (build_settings({}, environment_env(e)) for e in ("dev", "staging", "prod"))
    assert [s.audit_lock_mode for s in (dev, staging, prod)] == ["GOVERNANCE", "GOVERNANCE", "COMPLIANCE"]
    assert [s.audit_retention_days for s in (dev, staging, prod)] == [1, 30, 2557]
    assert [s.backup_retention_days for s in (dev, staging, prod)] == [7, 35, 365]
    assert build_settings({}, {"PAYMENTS_AUDIT_RETENTION_DAYS": "400"}).audit_retention_days == 400


@pytest.mark.parametrize("env, setting", [
    ({"PAYMENTS_AUDIT_RETENTION_DAYS": "0"}, "audit_retention_days"),
    ({"PAYMENTS_AUDIT_RETENTION_DAYS": "36501"}, "audit_retention_days"),
    ({"PAYMENTS_AUDIT_RETENTION_DAYS": "a year"}, "audit_retention_days"),
    ({"PAYMENTS_BACKUP_RETENTION_DAYS": "0"}, "backup_retention_days"),
])
def test_bad_retention_fails_with_message_naming_the_setting(env, setting):
    with pytest.raises(SettingsError) as err:
        build_settings({}, env)
    assert err.value.setting == setting


# --------------------------------------------------------------------------- account per environment

ACCOUNTS_SETTING = "dev=111111111111,staging=222222222222,prod=333333333333"


@pytest.mark.parametrize("environment, account", [("dev", "111111111111"), ("pr42", "111111111111"),
                                                  ("staging", "222222222222"), ("prod", "333333333333")])
def test_each_environment_takes_its_account_from_environment_accounts(environment, account):
    s = build_settings({}, environment_env(environment, PAYMENTS_ENVIRONMENT_ACCOUNTS=ACCOUNTS_SETTING))
    assert s.account_id == account
    assert s.environments_in_account == (s.account_environment,)  # each in its own account


def test_account_id_must_agree_with_environment_accounts():
    with pytest.raises(SettingsError) as err:
        build_settings({}, environment_env("prod", PAYMENTS_ACCOUNT_ID="111111111111",
                                           PAYMENTS_ENVIRONMENT_ACCOUNTS=ACCOUNTS_SETTING))
    assert err.value.setting == "account_id" and "333333333333" in str(err.value)


@pytest.mark.parametrize("env", [
    {"PAYMENTS_ENVIRONMENT_ACCOUNTS": "dev=111111111111,prod=111111111111"},
    {"PAYMENTS_ENVIRONMENT_ACCOUNTS": "staging=222222222222,prod=222222222222"},
    # prod's own account given as PAYMENTS_ACCOUNT_ID, dev's in the list: the same account.
    {"ENVIRONMENT_SUFFIX": "prod", "PAYMENTS_ACCOUNT_ID": "111111111111",
     "PAYMENTS_ENVIRONMENT_ACCOUNTS": "dev=111111111111"},
])
def test_prod_or_staging_sharing_an_account_is_refused_outside_a_sandbox(env):
    with pytest.raises(SettingsError) as err:
        build_settings({}, environment_env(env.pop("ENVIRONMENT_SUFFIX", "dev"), **env))
    assert err.value.setting == "environment_accounts" and "SINGLE_ACCOUNT_SANDBOX" in str(err.value)


def test_a_single_account_sandbox_must_be_said_and_hosts_every_environment():
    s = build_settings({}, environment_env("prod", PAYMENTS_SINGLE_ACCOUNT_SANDBOX="true",
                                           PAYMENTS_ENVIRONMENT_ACCOUNTS="dev=111111111111,prod=111111111111"))
    assert s.account_id == "111111111111" and s.environments_in_account == ("dev", "staging", "prod")
    with pytest.raises(SettingsError) as err:  # a sandbox is one account
        build_settings({}, {"PAYMENTS_SINGLE_ACCOUNT_SANDBOX": "true", "PAYMENTS_ENVIRONMENT_ACCOUNTS": ACCOUNTS_SETTING})
    assert err.value.setting == "single_account_sandbox"


@pytest.mark.parametrize("value, problem", [("dev=1234", "12-digit"), ("qa=111111111111", "is not one of"),
                                            ("dev:111111111111", "<environment>=<account id>"),
                                            ("dev=111111111111,dev=222222222222", "named twice")])
def test_bad_environment_accounts_fail(value, problem):
    with pytest.raises(SettingsError) as err:
        build_settings({}, {"PAYMENTS_ENVIRONMENT_ACCOUNTS": value})
    assert err.value.setting == "environment_accounts" and problem in str(err.value)


def test_accounts_default_to_unknown_in_every_profile():
    for environment in ("dev", "staging", "prod", "pr7"):
        s = build_settings({}, environment_env(environment))
        assert (s.account_id, s.environment_accounts, s.single_account_sandbox) == ("", "", False)
        assert s.environments_in_account == (s.account_environment,)
