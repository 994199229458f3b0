"""Moving callers: two weighted CNAMEs for the merchant-facing name, one to the legacy on-premises
API and one to the new API, each with a Route 53 health check.

The weights are set from settings when the records are created and then belong to
``scripts/cutover.py`` (``make cutover`` / ``make rollback``), as the Lambda alias belongs to
CodeDeploy: Terraform ignores later changes to them, so an apply in the middle of a cutover never
moves traffic back. docs/operators/migration.md says how to reconcile the settings afterwards.
"""

from __future__ import annotations

from dataclasses import dataclass

from cdktf import TerraformResourceLifecycle
from constructs import Construct
from cdktf_cdktf_provider_aws.route53_health_check import Route53HealthCheck
from cdktf_cdktf_provider_aws.route53_record import Route53Record, Route53RecordWeightedRoutingPolicy

from modules.settings import Settings

# Set identifiers: scripts/cutover.py finds the two records by these.
LEGACY, NEW = "legacy", "aws"
RECORD_TTL = 60  # seconds a resolver may keep the old answer after a weight change


@dataclass(frozen=True)
class CutoverDnsProps:
    settings: Settings
    # The new API's hostname: the API custom domain's regional domain name when there is one, else
    # the execute-api hostname. Callers need the custom domain for TLS on the merchant-facing name.
    new_api_hostname: str
    # The alarm that says merchants cannot pay through the new API (the synthetic merchant's,
    # modules/canary.py): Route 53 stops sending traffic there.
    new_api_alarm_name: str


class CutoverDns(Construct):
    """Weighted records ``legacy`` and ``aws`` for ``cutover_record_name`` with their health checks."""

    def __init__(self, scope: Construct, id: str, props: CutoverDnsProps):
        super().__init__(scope, id)
        s = props.settings
        self.legacy_health = Route53HealthCheck(
            self, "legacy-health", type="HTTPS", fqdn=s.legacy_api_hostname, port=443,
            resource_path=s.legacy_health_path, request_interval=30, failure_threshold=3,
            enable_sni=True, tags={"Name": s.name("legacy-api")},
        )
        # The new API needs a token and an API key on every route, so an HTTP probe would only ever
        # see 401/403. Its health is the synthetic merchant's alarm: a real token, a real payment
        # through TLS, the authorizer, the usage plan and the registry, every few minutes. No data
        # yet (a new alarm) is not evidence of health: unhealthy until the canary has passed.
        self.new_health = Route53HealthCheck(
            self, "new-health", type="CLOUDWATCH_METRIC", cloudwatch_alarm_name=props.new_api_alarm_name,
            cloudwatch_alarm_region=s.region, insufficient_data_health_status="Unhealthy",
            tags={"Name": s.name("new-api")},
        )
        ignore_weight = TerraformResourceLifecycle(ignore_changes=["weighted_routing_policy"])
        self.records = {
            key: Route53Record(
                self, f"{key}-record", zone_id=s.cutover_hosted_zone_id, name=s.cutover_record_name,
                type="CNAME", ttl=RECORD_TTL, records=[target], set_identifier=key,
                weighted_routing_policy=Route53RecordWeightedRoutingPolicy(weight=weight),
                health_check_id=health.id, lifecycle=ignore_weight,
            )
            for key, target, weight, health in (
                (LEGACY, s.legacy_api_hostname, s.cutover_weight_legacy, self.legacy_health),
                (NEW, props.new_api_hostname, s.cutover_weight_new, self.new_health),
            )
        }
