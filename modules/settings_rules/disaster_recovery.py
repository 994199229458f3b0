"""Rules for the disaster-recovery region (modules/disaster_recovery.py)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from modules.settings_rules.api import check_certificate
from modules.settings_rules.errors import SettingsError
from modules.settings_rules.environment import REGION_PATTERN
from modules.settings_rules.migration import HOSTED_ZONE_PATTERN

if TYPE_CHECKING:
    from modules.settings import Settings

# DynamoDB's ReplicationLatency is typically well under a second between US regions; the alarm
# needs a threshold above that, and an RPO above a minute is not a warm standby any more.
RPO_SECONDS = (1, 60)
DATABASE_INSTANCES = (0, 3)
RULES = {
    "dr_region": "empty (one region), or an AWS region name other than `region`",
    "dr_rpo_seconds": "must be {}..{} seconds".format(*RPO_SECONDS),
    "dr_database_instances": "must be {}..{} (0: a headless secondary, storage only)".format(*DATABASE_INSTANCES),
    "aurora_password_version": "must be 1 or more; with dr_region, raising it replaces the master password with "
                               "one nobody holds, at the next apply (after a break-glass use of the master user)",
    "dr_state_bucket": "the standby's state bucket in dr_region; required with dr_region when state_bucket is "
                       "given (default: backend.tf.json's bucket name with dr_region)",
    "dr_api_certificate_arn": "an ACM certificate ARN in dr_region; required with dr_region and api_domain_name",
    "dr_hosted_zone_id": "the Route 53 hosted zone of api_domain_name; required with dr_region and api_domain_name "
                         "unless migration_enabled, and refused with it (the cutover owns the name until it is done)",
}


def check_disaster_recovery(s: Settings) -> None:
    """A real region other than the platform's; an RPO the alarm can hold; routing that can move."""
    if s.dr_region and not REGION_PATTERN.match(s.dr_region):
        raise SettingsError("dr_region", f"{s.dr_region!r} is not an AWS region name")
    if s.dr_region == s.region:
        raise SettingsError("dr_region", f"{s.dr_region} is the platform's region: a replica there survives nothing")
    low, high = RPO_SECONDS
    if not low <= s.dr_rpo_seconds <= high:
        raise SettingsError("dr_rpo_seconds", f"{s.dr_rpo_seconds} {RULES['dr_rpo_seconds']}")
    if not DATABASE_INSTANCES[0] <= s.dr_database_instances <= DATABASE_INSTANCES[1]:
        raise SettingsError("dr_database_instances", f"{s.dr_database_instances} {RULES['dr_database_instances']}")
    if s.aurora_password_version < 1:
        raise SettingsError("aurora_password_version", f"{s.aurora_password_version}: {RULES['aurora_password_version']}")
    check_dr_routing(s)
    if s.dr_region and s.state_bucket and not s.dr_state_bucket:
        raise SettingsError("dr_state_bucket", RULES["dr_state_bucket"])
    if s.dr_region and s.migration_enabled and not s.dms_target_secret_arn:
        # A global database has no master secret (modules/global_database.py): DMS needs its own user.
        raise SettingsError("dms_target_secret_arn", "required with dr_region and migration_enabled: the customer "
                            "database is a global database, whose master password nobody holds; give DMS its own user")


def check_dr_routing(s: Settings) -> None:
    """With a custom domain, the merchant-facing name must be able to move: a certificate for it in
    the DR region and the zone of its failover records. The migration's cutover owns the same name
    with weighted records until it is done, so the two are not on together."""
    if s.dr_api_certificate_arn:
        check_certificate("dr_api_certificate_arn", s.dr_api_certificate_arn, s.dr_region)
    if s.dr_hosted_zone_id and not HOSTED_ZONE_PATTERN.match(s.dr_hosted_zone_id):
        raise SettingsError("dr_hosted_zone_id", f"{s.dr_hosted_zone_id!r} is not a Route 53 hosted zone id")
    if s.migration_enabled and s.dr_hosted_zone_id:
        raise SettingsError("dr_hosted_zone_id", "not with migration_enabled: the cutover's weighted records own "
                            "the merchant-facing name until it is done; set it (the failover records) after")
    if not (s.dr_region and s.api_domain_name):
        return
    # During the migration the standby is built but the name is the cutover's: no zone needed yet.
    for name in ("dr_api_certificate_arn", *(() if s.migration_enabled else ("dr_hosted_zone_id",))):
        if not getattr(s, name):
            raise SettingsError(name, f"required with dr_region and api_domain_name: merchants reach "
                                f"{s.api_domain_name}, which must be able to answer from {s.dr_region}")
    if not s.canary_enabled:
        raise SettingsError("canary_enabled", "must be on with dr_region and api_domain_name: each region's "
                            "failover health check is its synthetic merchant's payment")
