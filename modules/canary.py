"""The synthetic merchant: a scheduled function that pays through the public API as a real, onboarded
merchant every few minutes, and the ``canary`` alarm on its verdict.

API Gateway's 5xx alarm stays green when merchants cannot get in at all (TLS, the token endpoint,
the authorizer, a usage plan, the registry refusing everyone): those requests never reach a
function, or end as 4xx. The canary is outside all of that: it takes the merchants' path, with the
merchants' reference client (docs/api/client/payments_client.py, shipped in its zip), so its alarm
is the signal Route 53 sends the new API's traffic on (modules/migration/cutover_dns.py) and that
``make cutover`` requires to be OK.

Not a CloudWatch Synthetics canary: Synthetics runs Node.js or Python scripts in a managed
browser runtime, bills $0.0012 per run (~$10/month at every 5 minutes, per environment) and its
runtimes need upgrading every year; a plain function costs cents, runs the same Python 3.12 as the
payment functions and the local endpoint can run its handler (the rehearsal does).

It must see the API as a merchant on the internet does: in staging and prod it runs in the
private subnets like the payment functions and leaves through the NAT gateways to the API's public
name (never a VPC endpoint of API Gateway); without NAT it runs on Lambda's own network. Its role reads one secret (the canary merchant's, ``payment/merchants/<env>/<name>``) and
nothing else; the merchant itself is onboarded by ``make canary-onboard`` (its credentials are not
Terraform resources, so they are not in state).
"""

from __future__ import annotations

from dataclasses import dataclass

from constructs import Construct
from cdktf_cdktf_provider_aws.cloudwatch_event_rule import CloudwatchEventRule
from cdktf_cdktf_provider_aws.cloudwatch_event_target import CloudwatchEventTarget
from cdktf_cdktf_provider_aws.lambda_permission import LambdaPermission

from modules.compute import FunctionNetwork, FunctionProps, FunctionSpec, PaymentFunction
from modules.iam import Statement
from modules.observability import DR_RUNBOOK_PATH, Graph, Metric, metric_alarm
from modules.settings import PROJECT_ROOT, Settings

REFERENCE_CLIENT = PROJECT_ROOT / "docs" / "api" / "client" / "payments_client.py"
ALARM_KEY = "canary"
SERVING_ALARM_KEY = "canary-serving"
# lambdas/canary/canary_handler.py STEPS ("canary": the function itself failed).
CANARY_STEPS = ("token", "validate", "fraud-check", "process", "replay", "canary")
# Each step may take the client's timeout twice (one retry); five steps and the secret read fit.
TIMEOUT_SECONDS = 60


def canary_secret_name(settings: Settings) -> str:
    """scripts/merchant_resources.py secret_name(): where ``make canary-onboard`` writes its credentials."""
    return f"payment/merchants/{settings.environment}/{settings.canary_merchant}"


def schedule_expression(minutes: int) -> str:
    """EventBridge's rate(): singular unit for 1."""
    return f"rate({minutes} minute{'' if minutes == 1 else 's'})"


@dataclass(frozen=True)
class CanaryProps:
    settings: Settings
    kms_key_arn: str
    layer_arn: str
    alert_topic_arn: str
    api_url: str            # the stack's API base URL: its custom domain when it has one
    token_endpoint: str     # the user pool's OAuth2 token endpoint
    # The private subnets when they reach the internet through NAT (staging, prod), as the payment
    # functions; None: on Lambda's own network (dev, previews, a VPC without NAT).
    network: FunctionNetwork | None
    partition: str
    account_id: str
    # During a migration the custom domain is the weighted merchant-facing name: the canary connects
    # to the new API's regional endpoint instead (TLS still for the custom domain). "": DNS decides.
    api_connect_to: str = ""
    # The environment has a DR region: also the ``canary-serving`` alarm (a payment stored, not only
    # answered), which the region's Route 53 failover health check reads (modules/failover_routing.py).
    serving_alarm: bool = False


class SyntheticMerchant(Construct):
    """Function ``payment-canary-<env>`` on a schedule, alarm ``payment-canary-alarm-<env>``."""

    def __init__(self, scope: Construct, id: str, props: CanaryProps):
        super().__init__(scope, id)
        s = props.settings
        secret_arn = (f"arn:{props.partition}:secretsmanager:{s.region}:{props.account_id}:secret:"
                      f"{canary_secret_name(s)}-??????")  # Secrets Manager adds six random characters
        spec = FunctionSpec(
            "canary", "canary", "canary_handler.handler",
            "The synthetic merchant: token, validate, fraud-check, process and replay through the public API",
            statements=[
                Statement(sid="ReadCanaryMerchantSecret", actions=["secretsmanager:GetSecretValue"],
                          resources=[secret_arn]),
                # Merchant secrets are encrypted with the platform key (scripts/merchant_resources.py).
                Statement(sid="DecryptCanaryMerchantSecret", actions=["kms:Decrypt"], resources=[props.kms_key_arn],
                          conditions={"StringEquals": {
                              "kms:ViaService": f"secretsmanager.{s.region}.amazonaws.com"}}),
            ],
            environment={"CANARY_CREDENTIALS_NAME": canary_secret_name(s), "API_URL": props.api_url,
                         "OAUTH_ENDPOINT": props.token_endpoint,
                         **({"API_CONNECT_TO": props.api_connect_to} if props.api_connect_to else {})},
            timeout=TIMEOUT_SECONDS, extra_files=(REFERENCE_CLIENT,),
            reserved_concurrency=1,  # one run at a time: a slow run must not pile up behind the schedule
            released_by_codedeploy=False,  # each deploy's code runs from the next schedule on
        )
        self.function = PaymentFunction(self, "function", FunctionProps(
            s, spec, props.kms_key_arn, props.layer_arn, props.network, props.partition, props.account_id))
        self.schedule = CloudwatchEventRule(
            self, "schedule", name=s.name("canary"), schedule_expression=schedule_expression(s.canary_interval_minutes),
            description=f"Runs the synthetic merchant every {s.canary_interval_minutes} min (modules/canary.py)")
        CloudwatchEventTarget(self, "target", rule=self.schedule.name, target_id="canary",
                              arn=self.function.alias_arn)
        LambdaPermission(self, "invoke", statement_id="ScheduledCanaryRun", action="lambda:InvokeFunction",
                         principal="events.amazonaws.com", function_name=self.function.function.function_name,
                         qualifier=self.function.alias.name, source_arn=self.schedule.arn)
        namespace = f"Payments/{s.environment}"
        success = Metric(namespace, "CanarySuccess", {"Route": "all"}, "Minimum")
        runs = s.canary_failed_runs
        self.alarm = metric_alarm(
            self, ALARM_KEY, s, props.alert_topic_arn,
            f"The synthetic merchant failed {runs} run{'s' if runs > 1 else ''} in a row (or did not run): "
            "merchants may not be able to pay through the public API",
            success, threshold=1, periods=runs, period=s.canary_interval_minutes * 60,
            comparison="LessThanThreshold", missing="breaching")
        self.serving_alarm = None
        if props.serving_alarm:
            # Not a page of its own when the region is fenced by order: the failover's health check.
            self.serving_alarm = metric_alarm(
                self, SERVING_ALARM_KEY, s, props.alert_topic_arn,
                f"The synthetic merchant's payment was not stored {runs} run{'s' if runs > 1 else ''} in a row "
                f"in {s.region} (fenced, or failing): Route 53 answers from the other region while it serves",
                Metric(namespace, "CanaryServing", {"Route": "all"}, "Minimum"), threshold=1, periods=runs,
                period=s.canary_interval_minutes * 60, comparison="LessThanThreshold", missing="breaching",
                page=DR_RUNBOOK_PATH)
        # One dashboard row (three graphs): the verdict, where it fails, how long a run takes.
        self.graphs = (
            Graph("Synthetic merchant: run passed (1) / failed (0)", [success], period=s.canary_interval_minutes * 60),
            Graph("Synthetic merchant: failed step", [
                Metric(namespace, "CanaryFailures", {"Route": step}, "Sum", step) for step in CANARY_STEPS],
                period=s.canary_interval_minutes * 60),
            Graph("Synthetic merchant: run (ms)", [Metric(namespace, "CanaryDuration", {"Route": "all"}, "Maximum")],
                  period=s.canary_interval_minutes * 60),
        )
