"""Migration settings: off by default with nothing required; when on, every value is checked and a
bad or missing one fails with one line naming it."""

from __future__ import annotations

import pytest

from modules.settings import SettingsError, build_settings
from tests.support import DMS_TARGET_SECRET, environment_env
from tests.test_cutover import MIGRATION_ENV

ON = {**MIGRATION_ENV, "PAYMENTS_CUTOVER_HOSTED_ZONE_ID": "Z0123456789ABCDEFGHIJ"}
CERTIFICATE = "arn:aws:acm:us-east-1:123456789012:certificate/01234567-89ab-cdef-0123-456789abcdef"


def test_migration_is_off_by_default_in_every_environment():
    for environment in ("dev", "staging", "prod", "pr7"):
        s = build_settings({}, environment_env(environment))
        assert s.migration_enabled is False and s.onprem_networks == ()


def test_complete_migration_settings_are_typed():
    s = build_settings({}, {**ON, "PAYMENTS_ONPREM_BGP_ASN": "4200000001", "PAYMENTS_CUTOVER_WEIGHT_NEW": "10",
                            "PAYMENTS_ONPREM_CIDRS": "192.168.0.0/16, 172.20.0.0/16"})
    assert s.migration_enabled is True
    assert (s.onprem_bgp_asn, s.cutover_weight_new, s.onprem_db_port) == (4_200_000_001, 10, 5432)
    assert s.onprem_networks == ("192.168.0.0/16", "172.20.0.0/16")


def test_prod_sizes_the_replication_instance_up():
    # Migrating, prod's name is the cutover's: no failover records (zone) until the cutover is done, and
    # DMS writes as its own user (prod's database is a global database: no master secret).
    s = build_settings({}, {**ON, **environment_env("prod"), "PAYMENTS_DR_HOSTED_ZONE_ID": "",
                            "PAYMENTS_DMS_TARGET_SECRET_ARN": DMS_TARGET_SECRET})
    assert (s.dms_instance_class, s.dms_allocated_storage) == ("dms.r5.large", 200)


@pytest.mark.parametrize("missing", ["PAYMENTS_ONPREM_PUBLIC_IP", "PAYMENTS_ONPREM_CIDRS", "PAYMENTS_ONPREM_DB_CIDR",
                                     "PAYMENTS_ONPREM_DB_NAME",
                                     "PAYMENTS_ONPREM_DB_SECRET_ARN", "PAYMENTS_LEGACY_API_HOSTNAME",
                                     "PAYMENTS_CUTOVER_HOSTED_ZONE_ID", "PAYMENTS_CUTOVER_RECORD_NAME"])
def test_each_required_value_is_named_when_missing(missing):
    env = {k: v for k, v in ON.items() if k != missing}
    with pytest.raises(SettingsError, match="is required when migration_enabled is true") as err:
        build_settings({}, env)
    assert err.value.setting == missing.removeprefix("PAYMENTS_").lower()


@pytest.mark.parametrize("override, setting, message", [
    ({"PAYMENTS_ONPREM_PUBLIC_IP": "10.1.2.3"}, "onprem_public_ip", "not a public address"),
    ({"PAYMENTS_ONPREM_PUBLIC_IP": "203.0.113.7"}, "onprem_public_ip", "not a public address"),
    ({"PAYMENTS_ONPREM_PUBLIC_IP": "1.2.3"}, "onprem_public_ip", "not an IPv4 address"),
    ({"PAYMENTS_ONPREM_BGP_ASN": "65535"}, "onprem_bgp_asn", "not a usable ASN"),
    ({"PAYMENTS_ONPREM_BGP_ASN": "0"}, "onprem_bgp_asn", "not a usable ASN"),
    ({"PAYMENTS_ONPREM_BGP_ASN": "23456"}, "onprem_bgp_asn", "not a usable ASN"),
    ({"PAYMENTS_ONPREM_CIDRS": "10.0.128.0/17"}, "onprem_cidrs", "overlaps the VPC 10.0.0.0/16"),
    ({"PAYMENTS_ONPREM_CIDRS": "192.168.0.1/16"}, "onprem_cidrs", "not an IPv4 CIDR"),
    ({"PAYMENTS_ONPREM_DB_CIDR": "172.16.0.0/24"}, "onprem_db_cidr", "not inside onprem_cidrs"),
    ({"PAYMENTS_ONPREM_DB_PORT": "70000"}, "onprem_db_port", "not a TCP port"),
    ({"PAYMENTS_DMS_TARGET_SECRET_ARN": "arn:aws:iam::123456789012:user/x"}, "dms_target_secret_arn", "not a Secrets Manager secret ARN"),
    ({"PAYMENTS_ONPREM_DB_NAME": "pay-ments"}, "onprem_db_name", "not a PostgreSQL database name"),
    ({"PAYMENTS_ONPREM_DB_SECRET_ARN": "payments/dms"}, "onprem_db_secret_arn", "not a Secrets Manager secret ARN"),
    ({"PAYMENTS_ONPREM_DB_SSL_MODE": "none"}, "onprem_db_ssl_mode", "not one of"),
    ({"PAYMENTS_ONPREM_DB_SSL_MODE": "verify-full"}, "onprem_db_certificate_arn", "required for onprem_db_ssl_mode verify-full"),
    ({"PAYMENTS_DMS_INSTANCE_CLASS": "t3.medium"}, "dms_instance_class", "not a DMS class"),
    ({"PAYMENTS_DMS_ALLOCATED_STORAGE": "2"}, "dms_allocated_storage", "5..6144"),
    ({"PAYMENTS_CUTOVER_HOSTED_ZONE_ID": "zone-1"}, "cutover_hosted_zone_id", "not a Route 53 hosted zone id"),
    ({"PAYMENTS_CUTOVER_RECORD_NAME": "API.example"}, "cutover_record_name", "not a lower-case DNS name"),
    ({"PAYMENTS_CUTOVER_WEIGHT_NEW": "256"}, "cutover_weight_new", "0..255"),
    ({"PAYMENTS_CUTOVER_WEIGHT_LEGACY": "0"}, "cutover_weight_legacy", "both weights are 0"),
    ({"PAYMENTS_CDC_LATENCY_THRESHOLD_SECONDS": "0"}, "cdc_latency_threshold_seconds", "1..86400"),
    ({"PAYMENTS_MIGRATION_ENABLED": "perhaps"}, "migration_enabled", "is not a bool"),
])
def test_bad_migration_value_fails_with_one_line_naming_it(override, setting, message):
    with pytest.raises(SettingsError) as err:
        build_settings({}, {**ON, **override})
    assert err.value.setting == setting
    text = str(err.value)
    assert text.startswith(f"invalid setting {setting}:") and message in text and "\n" not in text


def test_shapes_are_checked_even_with_the_migration_off():
    with pytest.raises(SettingsError) as err:
        build_settings({}, {"PAYMENTS_ONPREM_PUBLIC_IP": "192.168.1.1"})
    assert err.value.setting == "onprem_public_ip"


def test_a_verify_full_source_with_its_ca_certificate_is_accepted():
    s = build_settings({}, {**ON, "PAYMENTS_ONPREM_DB_SSL_MODE": "verify-full",
                            "PAYMENTS_ONPREM_DB_CERTIFICATE_ARN": "arn:aws:dms:us-east-1:123456789012:cert:ABCDEF123"})
    assert s.onprem_db_ssl_mode == "verify-full"


def test_migration_refuses_a_cutover_record_that_is_not_the_apis_custom_domain():
    with pytest.raises(SettingsError) as err:
        build_settings({}, {**ON, "PAYMENTS_API_DOMAIN_NAME": "pay.example.com",
                            "PAYMENTS_API_CERTIFICATE_ARN": CERTIFICATE})
    assert err.value.setting == "cutover_record_name"
    same = build_settings({}, {**ON, "PAYMENTS_API_DOMAIN_NAME": ON["PAYMENTS_CUTOVER_RECORD_NAME"],
                               "PAYMENTS_API_CERTIFICATE_ARN": CERTIFICATE})
    assert same.api_domain_name == same.cutover_record_name


def test_migration_refuses_private_subnets_without_a_route_to_secrets_manager_and_logs_for_dms():
    with pytest.raises(SettingsError) as err:
        build_settings({}, {**ON, "PAYMENTS_NAT_GATEWAYS": "0"})
    assert err.value.setting == "nat_gateways" and "Secrets" in str(err.value)


@pytest.mark.parametrize("minutes", ["4", "10081"])
def test_cutover_minimum_time_per_rung_is_bounded(minutes):
    with pytest.raises(SettingsError) as err:
        build_settings({}, {**ON, "PAYMENTS_CUTOVER_MIN_MINUTES_PER_RUNG": minutes})
    assert err.value.setting == "cutover_min_minutes_per_rung"
