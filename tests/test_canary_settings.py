"""Settings of the synthetic merchant (modules/settings_rules/canary.py): on in every environment by
default, its schedule and alarm bounded, its name one `make canary-onboard` can create, and never off
while the migration's Route 53 health check reads its alarm."""

from __future__ import annotations

import pytest

from modules.settings import SettingsError, build_settings
from tests.support import environment_env
from tests.test_migration_settings import ON


@pytest.mark.parametrize("environment", ["dev", "staging", "prod", "pr7"])
def test_every_environment_with_a_public_api_runs_the_canary_by_default(environment):
    s = build_settings({}, environment_env(environment))
    assert (s.canary_enabled, s.canary_merchant, s.canary_interval_minutes, s.canary_failed_runs) == (
        True, "synthetic-canary", 5, 2)


@pytest.mark.parametrize("variable, value", [
    ("PAYMENTS_CANARY_INTERVAL_MINUTES", "0"), ("PAYMENTS_CANARY_INTERVAL_MINUTES", "61"),
    ("PAYMENTS_CANARY_FAILED_RUNS", "0"), ("PAYMENTS_CANARY_FAILED_RUNS", "6"),
    ("PAYMENTS_CANARY_MERCHANT", "Synthetic_Canary"), ("PAYMENTS_CANARY_MERCHANT", "ab"),
])
def test_out_of_range_values_are_refused_naming_the_setting(variable, value):
    with pytest.raises(SettingsError) as err:
        build_settings({}, environment_env("dev", **{variable: value}))
    assert err.value.setting == variable.removeprefix("PAYMENTS_").lower()


@pytest.mark.parametrize("variable, value", [
    ("PAYMENTS_CANARY_INTERVAL_MINUTES", "1"), ("PAYMENTS_CANARY_INTERVAL_MINUTES", "60"),
    ("PAYMENTS_CANARY_FAILED_RUNS", "1"), ("PAYMENTS_CANARY_FAILED_RUNS", "5"),
    ("PAYMENTS_CANARY_MERCHANT", "probe-1"), ("PAYMENTS_CANARY_ENABLED", "false"),
])
def test_the_bounds_themselves_are_accepted(variable, value):
    build_settings({}, environment_env("dev", **{variable: value}))


def test_the_migration_refuses_to_run_without_the_canary():
    with pytest.raises(SettingsError) as err:
        build_settings({}, {**ON, "PAYMENTS_CANARY_ENABLED": "false"})
    assert err.value.setting == "canary_enabled" and "Route 53" in str(err.value)
    assert build_settings({}, ON).canary_enabled is True
