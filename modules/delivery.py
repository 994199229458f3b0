"""Delivery: zero-downtime releases of the payment functions with CodeDeploy.

Every function publishes versions and callers invoke its `live` alias (modules/compute.py). A
CodeDeploy deployment group per function shifts the alias from the current to the new version
(canary or linear, from settings) and rolls back by itself on failure or when the function's error
alarm or the API 5xx/latency alarms fire. `scripts/release.py` starts those deployments.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Mapping, Sequence

from constructs import Construct
from cdktf_cdktf_provider_aws.codedeploy_app import CodedeployApp
from cdktf_cdktf_provider_aws.codedeploy_deployment_group import (
    CodedeployDeploymentGroup, CodedeployDeploymentGroupAlarmConfiguration,
    CodedeployDeploymentGroupAutoRollbackConfiguration, CodedeployDeploymentGroupDeploymentStyle,
    CodedeployDeploymentGroupTriggerConfiguration,
)
from cdktf_cdktf_provider_aws.iam_role import IamRole
from cdktf_cdktf_provider_aws.iam_role_policy import IamRolePolicy

from modules.iam import Statement, assume_role_policy, policy_document
from modules.settings import Settings

# Pre-/post-traffic hook functions must carry this name prefix (AWS's own convention for Lambda
# deployments): the service role may invoke those and nothing else.
HOOK_FUNCTION_PREFIX = "CodeDeployHook_"
ROLLBACK_EVENTS = ["DEPLOYMENT_FAILURE", "DEPLOYMENT_STOP_ON_ALARM"]
NOTIFY_EVENTS = ["DeploymentFailure", "DeploymentRollback", "DeploymentStop", "DeploymentSuccess"]


def application_name(settings: Settings) -> str:
    return settings.name("release")


@dataclass(frozen=True)
class DeliveryProps:
    settings: Settings
    alert_topic_arn: str
    kms_key_arn: str                              # the alert topic's key
    function_names: Mapping[str, str]             # key -> function name (group name = function name)
    function_arns: Mapping[str, str]              # key -> unqualified function ARN
    function_alarm_names: Mapping[str, str]       # key -> that function's error alarm name
    api_alarm_names: Sequence[str]                # API 5xx and latency alarms
    account_id: str
    partition: str = "aws"


class ReleasePipeline(Construct):
    """CodeDeploy application (Lambda platform), service role, and one deployment group per function."""

    def __init__(self, scope: Construct, id: str, props: DeliveryProps):
        super().__init__(scope, id)
        s = props.settings
        def arn(service: str) -> str:  # "arn:<partition>:<service>:<region>:<account>"
            return f"arn:{props.partition}:{service}:{s.region}:{props.account_id}"

        role = IamRole(self, "role", name=s.name("codedeploy"), assume_role_policy=assume_role_policy(
            "codedeploy.amazonaws.com", source_account=props.account_id,
            # CodeDeploy passes the deployment group's ARN; only this application's groups.
            source_arn=f"{arn('codedeploy')}:deploymentgroup:{application_name(s)}/*"))
        self._release_policy(role, props, arn)
        # Trigger notifications are published as this role; publishing to an encrypted topic also
        # needs the topic key, through SNS only.
        IamRolePolicy(self, "notify-encrypted-topic", role=role.id, name="notify-encrypted-alert-topic",
                      policy=policy_document(Statement(
                          sid="EncryptForAlertTopic", actions=["kms:GenerateDataKey*", "kms:Decrypt"],
                          resources=[props.kms_key_arn],
                          conditions={"StringEquals": {"kms:ViaService": f"sns.{s.region}.amazonaws.com"}})))
        self.app = CodedeployApp(self, "app", name=application_name(s), compute_platform="Lambda")
        self.groups = {
            key: CodedeployDeploymentGroup(
                self, key, app_name=self.app.name, deployment_group_name=name,
                service_role_arn=role.arn, deployment_config_name=s.deployment_config,
                deployment_style=CodedeployDeploymentGroupDeploymentStyle(
                    deployment_option="WITH_TRAFFIC_CONTROL", deployment_type="BLUE_GREEN"),
                auto_rollback_configuration=CodedeployDeploymentGroupAutoRollbackConfiguration(
                    enabled=True, events=ROLLBACK_EVENTS),
                alarm_configuration=CodedeployDeploymentGroupAlarmConfiguration(
                    enabled=True, alarms=[props.function_alarm_names[key], *props.api_alarm_names]),
                trigger_configuration=[CodedeployDeploymentGroupTriggerConfiguration(
                    trigger_name="notify-alerts", trigger_events=NOTIFY_EVENTS,
                    trigger_target_arn=props.alert_topic_arn)],
            )
            for key, name in props.function_names.items()
        }

    def _release_policy(self, role: IamRole, props: DeliveryProps, arn: Callable[[str], str]) -> None:
        """What CodeDeploy does for a Lambda deployment (AWSCodeDeployRoleForLambda's actions), on this
        platform's functions, alarms and topic only, instead of that managed policy's "*"."""
        functions = [f for a in props.function_arns.values() for f in (a, f"{a}:*")]  # + alias/version ARNs
        alarms = [*props.function_alarm_names.values(), *props.api_alarm_names]
        statements = [
            # Read and move the `live` alias (and read its provisioned concurrency) of our functions.
            Statement(sid="ShiftLiveAliases", resources=functions, actions=[
                "lambda:GetAlias", "lambda:UpdateAlias", "lambda:GetProvisionedConcurrencyConfig"]),
            Statement(sid="RunTrafficHooks", actions=["lambda:InvokeFunction"],
                      resources=[f"{arn('lambda')}:function:{HOOK_FUNCTION_PREFIX}*"]),
            # Stop-on-alarm: the alarms the deployment groups watch, nothing else.
            Statement(sid="WatchRollbackAlarms", actions=["cloudwatch:DescribeAlarms"],
                      resources=[f"{arn('cloudwatch')}:alarm:{name}" for name in alarms]),
            Statement(sid="NotifyAlertTopic", actions=["sns:Publish"], resources=[props.alert_topic_arn]),
            # No s3:GetObject: scripts/release.py sends the AppSpec inline (AppSpecContent).
        ]
        IamRolePolicy(self, "release-policy", role=role.id, name="release-payment-functions",
                      policy=policy_document(*statements))
