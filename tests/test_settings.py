"""Settings: defaults per environment, overrides, and one clear message per bad value."""

import pytest

from modules.settings import SettingsError, build_settings


def test_default_environment_is_dev_with_seed_sized_network():
    s = build_settings({}, {})
    assert (s.environment, s.region, s.nat_gateways) == ("dev", "us-east-1", 1)


def test_context_environment_suffix_is_used():
    assert build_settings({"environmentSuffix": "staging"}, {}).environment == "staging"


def test_environment_variable_overrides_context():
    assert build_settings({"environmentSuffix": "staging"}, {"ENVIRONMENT_SUFFIX": "prod"}).environment == "prod"


def test_prod_turns_deletion_protection_on_and_dev_off():
    assert build_settings({}, {"ENVIRONMENT_SUFFIX": "prod"}).deletion_protection is True
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


def test_audit_lock_is_compliance_only_in_prod_with_retention_per_environment():
    dev, staging, prod = (build_settings({}, {"ENVIRONMENT_SUFFIX": e}) for e in ("dev", "staging", "prod"))
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
