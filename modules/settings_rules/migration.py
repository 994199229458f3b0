"""Rules for the migration from the data centre (issue 15; docs/operators/migration.md)."""

from __future__ import annotations

import ipaddress
import re
from typing import TYPE_CHECKING

from modules.settings_rules.errors import SettingsError

if TYPE_CHECKING:
    from modules.settings import Settings

HOSTNAME_PATTERN = re.compile(r"^(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$")
SECRET_ARN_PATTERN = re.compile(r"^arn:aws[a-z-]*:secretsmanager:[a-z0-9-]+:\d{12}:secret:[A-Za-z0-9/_+=.@!-]+$")
DMS_CERTIFICATE_ARN_PATTERN = re.compile(r"^arn:aws[a-z-]*:dms:[a-z0-9-]+:\d{12}:cert:[A-Za-z0-9-]+$")
DMS_INSTANCE_CLASS_PATTERN = re.compile(r"^dms\.[a-z0-9]+\.[a-z0-9]+$")
HOSTED_ZONE_PATTERN = re.compile(r"^[A-Z0-9]{1,32}$")
DB_NAME_PATTERN = re.compile(r"^[A-Za-z_][A-Za-z0-9_$]{0,62}$")
SSL_MODES = ("verify-full", "require")  # DMS also accepts none/verify-ca: never for card data
RESERVED_ASNS = (0, 23456, 65535, 4_294_967_295)  # AS_TRANS and the reserved ends of each range
# Settings the migration cannot be built without (their shapes are checked whenever they are set).
REQUIRED = ("onprem_public_ip", "onprem_cidrs", "onprem_db_cidr", "onprem_db_name",
            "onprem_db_secret_arn", "legacy_api_hostname", "cutover_hosted_zone_id", "cutover_record_name")
DMS_STORAGE_GIB = (5, 6144)
CDC_LATENCY_SECONDS = (1, 86_400)
# What the checks below accept, in words: the settings reference (docs/maintainers/settings.md) prints it.
RULES = {
    "migration_enabled": "when true, every setting marked *required when migration_enabled* must be set",
    "onprem_public_ip": "a public (globally routable) IPv4 address",
    "onprem_bgp_asn": "1..4294967294, not 23456/65535",
    "onprem_cidrs": "comma-separated IPv4 CIDRs, none overlapping vpc_cidr",
    "onprem_db_cidr": "an IPv4 CIDR inside onprem_cidrs",
    "onprem_db_port": "a TCP port (1..65535)",
    "onprem_db_name": f"a PostgreSQL database name (`{DB_NAME_PATTERN.pattern}`)",
    "onprem_db_secret_arn": "a Secrets Manager secret ARN",
    "dms_target_secret_arn": "empty (the cluster's managed master secret) or a Secrets Manager secret ARN; required with dr_region and migration_enabled",
    "onprem_db_ssl_mode": " or ".join(f"`{mode}`" for mode in SSL_MODES),
    "onprem_db_certificate_arn": "a DMS certificate ARN; required for onprem_db_ssl_mode verify-full",
    "legacy_api_hostname": "a lower-case DNS name",
    "legacy_health_path": "a URL path starting with /",
    "dms_instance_class": "a DMS class (dms.<family>.<size>)",
    "dms_allocated_storage": "must be {}..{} GiB".format(*DMS_STORAGE_GIB),
    "cutover_hosted_zone_id": "a Route 53 hosted zone id",
    "cutover_record_name": "a lower-case DNS name; the API's custom domain when one is set",
    "cutover_weight_legacy": "must be 0..255 (a Route 53 weight); not both weights 0",
    "cutover_weight_new": "must be 0..255 (a Route 53 weight); not both weights 0",
    "cdc_latency_threshold_seconds": "must be {}..{}".format(*CDC_LATENCY_SECONDS),
    "cutover_min_minutes_per_rung": "must be 5..10080 (long enough for the alarms to see the new share of traffic)",
}
for _name in REQUIRED:
    RULES[_name] += "; required when migration_enabled"


def _network(name: str, cidr: str) -> ipaddress.IPv4Network:
    try:
        return ipaddress.IPv4Network(cidr, strict=True)
    except ValueError as err:
        raise SettingsError(name, f"{cidr!r} is not an IPv4 CIDR ({err})") from None


def check_migration(s: Settings) -> None:
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
    if not DMS_STORAGE_GIB[0] <= s.dms_allocated_storage <= DMS_STORAGE_GIB[1]:
        raise SettingsError("dms_allocated_storage", f"{s.dms_allocated_storage} {RULES['dms_allocated_storage']}")
    if s.cutover_hosted_zone_id and not HOSTED_ZONE_PATTERN.match(s.cutover_hosted_zone_id):
        raise SettingsError("cutover_hosted_zone_id", f"{s.cutover_hosted_zone_id!r} is not a Route 53 hosted zone id")
    for name in ("cutover_weight_legacy", "cutover_weight_new"):
        if not 0 <= getattr(s, name) <= 255:
            raise SettingsError(name, f"{getattr(s, name)} must be 0..255 (a Route 53 weight)")
    if s.cutover_weight_legacy == s.cutover_weight_new == 0:
        raise SettingsError("cutover_weight_legacy", "both weights are 0: Route 53 would split traffic evenly")
    if not CDC_LATENCY_SECONDS[0] <= s.cdc_latency_threshold_seconds <= CDC_LATENCY_SECONDS[1]:
        raise SettingsError("cdc_latency_threshold_seconds",
                            f"{s.cdc_latency_threshold_seconds} {RULES['cdc_latency_threshold_seconds']}")
    if not 5 <= s.cutover_min_minutes_per_rung <= 10_080:
        raise SettingsError("cutover_min_minutes_per_rung", f"{s.cutover_min_minutes_per_rung} must be 5..10080 "
                            "(long enough for the alarms to see the new share of traffic)")
    if not s.migration_enabled:
        return
    for name in REQUIRED:
        if not getattr(s, name):
            raise SettingsError(name, "is required when migration_enabled is true")
    if s.api_domain_name and s.cutover_record_name != s.api_domain_name:
        # Merchants keep calling the cutover name; the new API answers (TLS certificate, base path
        # mapping) only for its custom domain, so the weighted record would send them to a host
        # that refuses the name they asked for.
        raise SettingsError("cutover_record_name", f"{s.cutover_record_name!r} is not the API's custom domain "
                            f"{s.api_domain_name!r}: the new API would not answer for the name merchants call")
    if s.nat_gateways < 1:
        # The DMS replication instance sits in the private subnets and fetches its endpoints'
        # credentials from Secrets Manager and writes its task logs to CloudWatch Logs: it needs a
        # route to both, and the stack creates no interface endpoints for them.
        raise SettingsError("nat_gateways", "the migration needs a route from the private subnets to Secrets "
                            "Manager and CloudWatch Logs for DMS: at least one NAT gateway")
    if s.onprem_db_ssl_mode == "verify-full" and not s.onprem_db_certificate_arn:
        raise SettingsError("onprem_db_certificate_arn", "is required for onprem_db_ssl_mode verify-full "
                                                         "(the source's CA, imported into DMS)")
