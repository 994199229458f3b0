"""Settings: defaults per environment, overrides, and one clear message per bad value."""

import pytest

from modules.settings import SettingsError, build_settings


def test_default_environment_is_dev_and_cheap_at_idle():
    s = build_settings({}, {})
    assert (s.environment, s.region, s.nat_gateways, s.interface_endpoint_azs) == ("dev", "us-east-1", 0, 1)
    assert (s.aurora_min_capacity, s.aurora_seconds_until_auto_pause, s.aurora_readers) == (0, 900, 0)
    assert (s.waf_enabled, s.dashboard_enabled, s.alarm_set) == (False, False, "essential")


def test_prod_keeps_its_resilience():
    s = build_settings({}, {"ENVIRONMENT_SUFFIX": "prod"})
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
    import modules.settings as settings
    monkeypatch.setattr(settings, "AURORA_ENGINE_VERSION", "15.6")
    with pytest.raises(SettingsError, match="aurora_min_capacity: 0 needs an engine that supports auto-pause"):
        build_settings({}, {})
    assert build_settings({}, {"PAYMENTS_AURORA_MIN_CAPACITY": "0.5"}).aurora_min_capacity == 0.5


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
