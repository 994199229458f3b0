"""Routing between the regions (issue 21): the merchant-facing name's Route 53 failover record of one
region, with the health check that decides whether Route 53 answers with it.

Each region's stack owns its own record (the primary's ``PRIMARY``, the standby's ``SECONDARY``), so
either stack can be applied without the other region. The health check is the region's
``canary-serving`` alarm (modules/canary.py): a payment of the synthetic merchant stored through
that region's public API in the last runs, with a token from that region's user pool. Not an
unauthenticated probe, which a region answers with 403 while no merchant can pay.

Why this moves traffic only when the operator has failed over: a region serves only while it is not
fenced (payments_core.fence), and the standby is fenced until ``make failover`` opens it. While the
primary pays, its record answers. When the primary fails on its own, its health check turns
unhealthy but the standby's is unhealthy too (fenced: no payment stored), and Route 53 keeps
answering with the primary (both unhealthy: the primary record). Only after the operator fenced the
primary, waited out the replication lag and opened the standby does the standby's canary pay, its
health check turn healthy and Route 53 answer with it; failback is the same in reverse. The fence is
the switch, the health checks follow it, and no region takes writes that the other may still take.

The health check reads CloudWatch in the record's region; while CloudWatch there cannot answer
(``insufficient_data_health_status``) the region counts as unhealthy. Route 53 health checks and
DNS answers run on Route 53's data plane, so failover does not need its control plane (in
us-east-1) to be up.
"""

from __future__ import annotations

from dataclasses import dataclass

from constructs import Construct
from cdktf_cdktf_provider_aws.route53_health_check import Route53HealthCheck
from cdktf_cdktf_provider_aws.route53_record import (
    Route53Record, Route53RecordAlias, Route53RecordFailoverRoutingPolicy,
)

from modules.settings import Settings

ROLES = ("PRIMARY", "SECONDARY")


@dataclass(frozen=True)
class FailoverRecordProps:
    settings: Settings
    role: str                    # PRIMARY (the platform's region) or SECONDARY (dr_region)
    hosted_zone_id: str
    record_name: str             # the merchant-facing name (api_domain_name)
    target_domain_name: str      # the region's API custom domain: its regional endpoint
    target_zone_id: str          # and that endpoint's hosted zone
    serving_alarm_name: str      # the region's canary-serving alarm
    region: str                  # where that alarm is


class FailoverRecord(Construct):
    """Health check ``payment-<role>-serving`` on the region's canary-serving alarm, and the region's
    alias record of the merchant-facing name."""

    def __init__(self, scope: Construct, id: str, props: FailoverRecordProps):
        super().__init__(scope, id)
        if props.role not in ROLES:
            raise ValueError(f"failover role {props.role!r} is not one of {ROLES}")
        s = props.settings
        self.health_check = Route53HealthCheck(
            self, "health-check", type="CLOUDWATCH_METRIC",
            cloudwatch_alarm_name=props.serving_alarm_name, cloudwatch_alarm_region=props.region,
            insufficient_data_health_status="Unhealthy",
            tags={"Name": s.name(f"{props.role.lower()}-serving")})
        self.record = Route53Record(
            self, "record", zone_id=props.hosted_zone_id, name=props.record_name, type="A",
            set_identifier=f"{s.environment}-{props.region}",
            failover_routing_policy=Route53RecordFailoverRoutingPolicy(type=props.role),
            health_check_id=self.health_check.id,
            alias=Route53RecordAlias(name=props.target_domain_name, zone_id=props.target_zone_id,
                                     evaluate_target_health=False))
