"""Settings: defaults per environment, overrides, and one clear message per bad value."""

import pytest

from modules.settings import SettingsError, build_settings, payment_limits_env


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


def test_payment_limits_default_to_the_currency_table():
    s = build_settings({}, {})
    assert s.payment_limits == ""
    assert payment_limits_env(s) == {}  # the functions use payments_core.currencies as is


def test_payment_limits_override_is_passed_on_in_canonical_form():
    s = build_settings({}, {"PAYMENTS_PAYMENT_LIMITS": " kwd:high=2500 , JPY:high=1500000:max=150000000"})
    assert payment_limits_env(s) == {"PAYMENT_LIMITS": "JPY:max=150000000:high=1500000,KWD:high=2500"}


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
    assert payment_limits_env(s)["PAYMENT_LIMITS"] == "KWD:max=9999.999:high=1.500,USD:high=0.01"


@pytest.mark.parametrize("context, env", [
    ({}, {"PAYMENTS_MAX_AMOUNT": "1000000"}),
    ({"max_payment_amount": "1000000"}, {}),
])
def test_retired_flat_max_amount_stops_synth_and_names_its_replacement(context, env):
    with pytest.raises(SettingsError) as err:
        build_settings(context, env)
    assert err.value.setting == "max_payment_amount"
    assert "PAYMENTS_PAYMENT_LIMITS" in str(err.value) and "per currency" in str(err.value)
